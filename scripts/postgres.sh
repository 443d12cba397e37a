#!/usr/bin/env bash
# Make a local PostgreSQL 15 ready for the gateway's tests and load tool, idempotently:
# install it if missing, start the Debian cluster on 127.0.0.1:5432, and create the role
# `wafermon` (password `wafermon`, may create databases) and the database `wafermon`.
# Prints the database URL on its last line.
set -euo pipefail

VER=15
CLUSTER=main
APT="apt-get -o DPkg::Lock::Timeout=600"

if ! command -v pg_ctlcluster >/dev/null || [ ! -x /usr/lib/postgresql/$VER/bin/postgres ]; then
    echo "postgres.sh: installing PostgreSQL $VER" >&2
    $APT update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $APT install -y -qq --no-install-recommends postgresql >/dev/null
fi
pg_lsclusters -h | grep -q "^$VER $CLUSTER" || pg_createcluster $VER $CLUSTER >/dev/null
pg_lsclusters -h | grep "^$VER $CLUSTER" | grep -q online || pg_ctlcluster $VER $CLUSTER start

for _ in $(seq 1 60); do
    pg_isready -q -h 127.0.0.1 -p 5432 && break
    sleep 0.5
done
pg_isready -q -h 127.0.0.1 -p 5432 || { echo "postgres.sh: PostgreSQL did not start" >&2; exit 1; }

psql_admin() { runuser -u postgres -- psql -qtA -v ON_ERROR_STOP=1 -c "$1"; }
psql_admin "DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='wafermon') THEN
    CREATE ROLE wafermon LOGIN CREATEDB PASSWORD 'wafermon'; END IF; END\$\$" >/dev/null
if [ -z "$(psql_admin "SELECT 1 FROM pg_database WHERE datname='wafermon'")" ]; then
    psql_admin "CREATE DATABASE wafermon OWNER wafermon" >/dev/null
fi
echo "postgres://wafermon:wafermon@127.0.0.1:5432/wafermon"
