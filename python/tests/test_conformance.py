"""The shared conformance vectors (core/conformance, format in its README), run through the
Python API: the same files as the Rust and C suites. This file only runs each step through
the Python API; checking errors and the written events is the core's
(``wafermon::skin::conformance``, exposed in ``_native``), as for every skin."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest
from helpers import CORE_DIR, config_in, read_events, same_json

import wafermon
from wafermon import _native

CONFORMANCE = CORE_DIR / "conformance"

try:
    import jsonschema
except ImportError:  # the schema check is extra here; the Rust suite always does it
    jsonschema = None


def _load(name: str) -> Any:
    with open(CONFORMANCE / name, encoding="utf-8") as f:
        return json.load(f)


def _schema_errors(schema_name: str, value: Any) -> List[str]:
    if jsonschema is None:
        return []
    with open(CORE_DIR / "schema" / schema_name, encoding="utf-8") as f:
        schema = json.load(f)
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [e.message for e in validator.iter_errors(value)]


def _check_error(err: BaseException, expected: Dict[str, Any]) -> None:
    """The core's check (kind and the path in the message), plus Python's own rule that
    invalid values are ValueErrors."""
    assert isinstance(err, wafermon.WafermonError), repr(err)
    wafermon._native.conformance_check_error(err.kind, str(err), json.dumps(expected))
    if err.kind in ("invalid_config", "invalid_event"):
        assert isinstance(err, ValueError)


def _run_step(
    client: wafermon.Client,
    jobs: Dict[str, wafermon.Job],
    job_ids: List[Tuple[str, str]],
    step: Dict[str, Any],
) -> None:
    op = step["op"]
    if op in ("job_start", "subjob_start"):
        options = {k: step.get(k) for k in ("kind", "key", "id", "attrs")}
        if op == "job_start":
            job = client.job(step["name"], parent=False, **options)
        else:
            job = jobs[step["parent"]].subjob(step["name"], **options)
        job.start()
        job_ids.append((step["as"], job.id))
        jobs[step["as"]] = job
    elif op == "progress":
        jobs[step["job"]].progress(step["percent"], step.get("message"))
    elif op == "metric":
        jobs[step["job"]].metric(step["name"], step["value"])
    elif op == "log":
        jobs[step["job"]].log(step["level"], step["message"])
    elif op == "finish":
        jobs.pop(step["job"]).finish()
    elif op == "fail":
        jobs.pop(step["job"]).fail(step["message"])
    elif op == "cancel":
        jobs.pop(step["job"]).cancel(step["message"])
    elif op == "drop":
        jobs.pop(step["job"]).release()
    elif op == "emit":
        event = step["event"]
        if isinstance(event, str):
            client.emit_json(event)
        else:
            client.emit(event)
    else:
        raise AssertionError(f"unknown op {op}")


SCENARIOS = sorted((CONFORMANCE / "scenarios").glob("*.json"))


def test_there_are_vectors() -> None:
    assert SCENARIOS
    assert len(_load("config_cases.json")) > 10
    assert _load("event_cases.json")


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario(path: Path, tmp_path: Path) -> None:
    scenario = _load(f"scenarios/{path.name}")
    name = scenario["name"]
    config = _native.conformance_config(str(tmp_path), json.dumps(scenario["config"]))
    client = wafermon.Client(json.loads(config))
    jobs: Dict[str, wafermon.Job] = {}
    job_ids: List[Tuple[str, str]] = []
    for i, step in enumerate(scenario["steps"]):
        error: Optional[BaseException] = None
        try:
            _run_step(client, jobs, job_ids, step)
        except wafermon.WafermonError as e:
            error = e
        if "error" in step:
            assert error is not None, f"{name}: step {i} should have failed"
            _check_error(error, step["error"])
        else:
            assert error is None, f"{name}: step {i} failed: {error}"
    stats = client.close(10)
    assert stats["queued"] == 0 and all(b["queued"] == 0 for b in stats["backends"]), stats
    for event in read_events(tmp_path / "data"):
        assert not _schema_errors("event.v1.schema.json", event), event
    _native.conformance_check_events(
        str(tmp_path / "data"), json.dumps(scenario["expect"]), job_ids
    )


def test_the_error_table_covers_exactly_the_core_kinds() -> None:
    """One list (core/conformance/error_kinds.json) for every skin's table."""
    listed = [k["name"] for k in _load("error_kinds.json")["kinds"]]
    assert listed == _native.error_kind_names()
    assert sorted(wafermon._errors.ERROR_TABLE) == sorted(listed)
    for name, cls in wafermon._errors.ERROR_TABLE.items():
        assert issubclass(cls, wafermon.WafermonError), name


def test_a_failed_check_says_what_differs(tmp_path: Path) -> None:
    """The core's checker reports a difference as an AssertionError naming it."""
    with pytest.raises(AssertionError, match="should name progress"):
        _native.conformance_check_error(
            "invalid_event", "invalid event at seq: x", json.dumps({"path": "progress"})
        )
    with pytest.raises(AssertionError, match="0 events written, 1 expected"):
        _native.conformance_check_events(str(tmp_path), json.dumps([{}]), [])


CONFIG_CASES = _load("config_cases.json")


@pytest.mark.parametrize("case", CONFIG_CASES, ids=[c["name"] for c in CONFIG_CASES])
def test_config_case(case: Dict[str, Any]) -> None:
    text = json.dumps(case["config"])
    if case.get("ok"):
        wafermon._native.check_config(text)
        assert not _schema_errors("config.v1.schema.json", case["config"])
    else:
        with pytest.raises(ValueError) as info:
            wafermon._native.check_config(text)
        assert isinstance(info.value, wafermon.InvalidConfigError)
        _check_error(info.value, case["error"])


EVENT_CASES = _load("event_cases.json")


@pytest.fixture(scope="module")
def event_client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("event-cases")
    client = wafermon.Client(config_in(root))
    yield client, root
    client.close(10)


@pytest.mark.parametrize("case", EVENT_CASES, ids=[c["name"] for c in EVENT_CASES])
def test_event_case(case: Dict[str, Any], event_client: Any) -> None:
    """Each case goes in as JSON text and, where it is a JSON object, as a dict too (the
    dict has its own fast reader in the extension, which must agree with the core's)."""
    client, root = event_client
    event = case["event"]
    ways = [lambda: client.emit_json(event if isinstance(event, str) else json.dumps(event))]
    if isinstance(event, dict):
        ways.append(lambda: client.emit(event))
    for emit in ways:
        if case.get("ok"):
            emit()
        else:
            with pytest.raises(ValueError) as info:
                emit()
            assert isinstance(info.value, wafermon.InvalidEventError)
            _check_error(info.value, case["error"])
    if case.get("ok"):
        client.flush(10)
        last = read_events(root / "data")[-1]
        assert not _schema_errors("event.v1.schema.json", last), last
        if "attrs" in case:
            # Exactly: Python's json keeps integers whole, so 2^53 + 1 stays 2^53 + 1.
            assert last["attrs"] == case["attrs"], last
            assert all(type(last["attrs"][k]) is type(v) for k, v in case["attrs"].items())


LEGACY_CASES = _load("legacy_cases.json")


def test_legacy_cases_convert_to_schema_v1_or_name_the_legacy_field() -> None:
    """The conversion wafermon.compat relies on (the core's, as the sidecar uses it)."""
    assert len(LEGACY_CASES) >= 12
    ids: Dict[str, str] = {}
    for case in LEGACY_CASES:
        name = case["name"]
        legacy, defaults = json.dumps(case["legacy"]), json.dumps(case["defaults"])
        if "expect" not in case:
            with pytest.raises(wafermon.InvalidEventError) as info:
                wafermon._native.convert_legacy(legacy, defaults)
            _check_error(info.value, case["error"])
            continue
        got = json.loads(wafermon._native.convert_legacy(legacy, defaults))
        assert not _schema_errors("event.v1.schema.json", got), (name, got)
        assert same_json(got, case["expect"]), f"{name}\n got: {got}\nwant: {case['expect']}"
        if "same_id_as" in case:
            assert got["id"] == ids[case["same_id_as"]], name
        ids[name] = got["id"]
