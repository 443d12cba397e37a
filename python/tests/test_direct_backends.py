"""A Python app writing straight to a fab's monitoring system (mode B), through the same
core as every other language: here Elasticsearch/OpenSearch's `_bulk`, against the real
OpenSearch-compatible server the Rust tests use (scripts/servers/osmem.sh), and Apache
Kafka 4.4 (scripts/servers/kafka.sh), read back with Kafka's own console consumer."""

from __future__ import annotations

import json
import subprocess
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Dict, List

import pytest
from helpers import config_in

import wafermon

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts" / "servers"


def server(name: str, *args: str) -> str:
    """Run scripts/servers/NAME.sh ARGS (default: start) and return its last line."""
    # A server that cannot start fails the test: it is never skipped.
    done = subprocess.run(
        ["bash", str(SCRIPTS / f"{name}.sh"), *(args or ("start",))],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def osmem() -> str:
    return server("osmem")


@pytest.fixture(scope="module")
def kafka() -> str:
    return server("kafka")


def search(url: str, index: str) -> List[Dict[str, Any]]:
    body = json.dumps({"size": 1000, "query": {"match_all": {}}}).encode()
    request = urllib.request.Request(
        f"{url}/{index}/_search",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        hits = json.load(answer)["hits"]["hits"]
    return [hit["_source"] | {"_id": hit["_id"]} for hit in hits]


def test_a_job_and_its_subjobs_land_in_elasticsearch_once_each(tmp_path: Path, osmem: str) -> None:
    index = f"pytest-{uuid.uuid4().hex[:12]}-%Y.%m.%d"
    config = config_in(tmp_path, direct_backends=[{"type": "elk", "url": osmem, "index": index}])
    client = wafermon.Client(config)
    with client.job("lot", key="LOT-7") as lot:
        for wafer in range(3):
            with client.job("wafer", key=f"W-{wafer}", parent=lot):
                pass
    assert client.flush(60), client.stats()
    stats = client.close(10)
    backend = stats["backends"][0]
    assert backend["type"] == "elasticsearch"
    assert backend["failed"] == 0 and backend["queued"] == 0, stats
    stored = search(osmem, index.replace("%Y.%m.%d", "*"))
    assert len(stored) == backend["sent"], stored
    # The document id is the event id: the idempotency key the backend relies on.
    assert all(doc["_id"] == doc["id"] for doc in stored)
    started = sorted(d["entity"]["name"] for d in stored if d["kind"] == "started")
    assert started == ["lot", "wafer", "wafer", "wafer"]
    finished = [d for d in stored if d["kind"] == "finished"]
    assert len(finished) == 4 and all(d["status"] == "succeeded" for d in finished)
    assert all("duration_s" in d["metrics"] for d in finished)


def test_a_lot_written_straight_to_kafka_is_read_back_keyed_by_the_lot(
    tmp_path: Path, kafka: str
) -> None:
    topic = f"pytest-{uuid.uuid4().hex[:12]}"
    config = config_in(
        tmp_path, direct_backends=[{"type": "kafka", "brokers": kafka, "topic": topic}]
    )
    client = wafermon.Client(config)
    with client.job("lot", kind="lot", key="LOT-9") as lot:
        for wafer in range(2):
            with client.job("wafer", key=f"W-{wafer}", parent=lot) as w:
                w.progress(50, "coat")
    assert client.flush(60), client.stats()
    stats = client.close(10)
    backend = stats["backends"][0]
    assert backend["type"] == "kafka"
    assert (backend["sent"], backend["failed"]) == (8, 0), stats
    port = kafka.rsplit(":", 1)[1]
    values = subprocess.run(
        ["bash", str(SCRIPTS / "kafka.sh"), "consume", port, topic, str(backend["sent"])],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout.splitlines()
    events = [json.loads(v) for v in values if v.startswith("{")]
    assert len(events) == 8
    assert len({e["id"] for e in events}) == 8
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs), "one lot, one partition, in order"
    started = sorted(e["entity"]["name"] for e in events if e["kind"] == "started")
    assert started == ["lot", "wafer", "wafer"]


@pytest.mark.parametrize(
    "backend, path",
    [
        ({"type": "elk", "url": "ftp://x"}, "direct_backends[0].url"),
        ({"type": "s3"}, "direct_backends[0].bucket"),
        (
            {"type": "loki", "url": "http://127.0.0.1:3100", "labels": {"bad-name": "x"}},
            "direct_backends[0].labels.bad-name",
        ),
        (
            {"type": "zabbix", "server": "127.0.0.1", "host": "h", "items": {"k": "cpu"}},
            "direct_backends[0].items.k",
        ),
        ({"type": "cloudwatch", "access_key_id": "AKID"}, "direct_backends[0].secret_access_key"),
        ({"type": "kafka", "brokers": "kafka.fab", "topic": "t"}, "direct_backends[0].brokers"),
    ],
)
def test_backend_config_errors_name_the_field(
    tmp_path: Path, backend: Dict[str, Any], path: str
) -> None:
    with pytest.raises(wafermon.InvalidConfigError) as info:
        wafermon.Client(config_in(tmp_path, direct_backends=[backend]))
    assert f"at {path}:" in str(info.value)
