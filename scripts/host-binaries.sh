# Sourced by the language suites (perl/test.sh, r/test.sh) whose tests run the real hosts:
# exports WAFERMON_SIDECAR_BIN and WAFERMON_GATEWAY_BIN, each as given, else the tree's
# debug build (built here with cargo when missing). Needs ROOT, the repository's root.
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
if [ -z "${WAFERMON_SIDECAR_BIN:-}" ] || [ -z "${WAFERMON_GATEWAY_BIN:-}" ]; then
    if [ ! -x "$TARGET_DIR/debug/wafermon-sidecar" ] || [ ! -x "$TARGET_DIR/debug/wafermon-gateway" ]; then
        echo "building wafermon-sidecar and wafermon-gateway with cargo"
        (cd "$ROOT" && cargo build -p wafermon-sidecar -p wafermon-gateway)
    fi
    export WAFERMON_SIDECAR_BIN="${WAFERMON_SIDECAR_BIN:-$TARGET_DIR/debug/wafermon-sidecar}"
    export WAFERMON_GATEWAY_BIN="${WAFERMON_GATEWAY_BIN:-$TARGET_DIR/debug/wafermon-gateway}"
fi
