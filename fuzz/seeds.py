#!/usr/bin/env python3
"""Writes the seed corpora (fuzz/corpus/<target>/) from the conformance vectors and a few
hand-made answers: valid and invalid inputs of each parser, so the fuzzer starts from every
shape the project already knows. Standard library only (MessagePack is encoded here).
Run again after changing a vector; afl's own finds are kept beside these (`run.sh --keep`)."""

import json
import os
import struct
import sys
import zlib

ROOT = os.path.dirname(os.path.abspath(__file__))
CONF = os.path.join(ROOT, "..", "core", "conformance")


def mp(v):
    """MessagePack of a JSON-like value (bytes as bin)."""
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 0x80:
            return bytes([v])
        if -32 <= v < 0:
            return struct.pack("b", v)
        if 0 <= v < 2**64:
            return b"\xcf" + struct.pack(">Q", v)
        return b"\xd3" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        if len(b) < 32:
            return bytes([0xA0 | len(b)]) + b
        return b"\xdb" + struct.pack(">I", len(b)) + b
    if isinstance(v, bytes):
        return b"\xc4" + bytes([len(v)]) + v
    if isinstance(v, list):
        head = bytes([0x90 | len(v)]) if len(v) < 16 else b"\xdd" + struct.pack(">I", len(v))
        return head + b"".join(mp(x) for x in v)
    if isinstance(v, dict):
        head = bytes([0x80 | len(v)]) if len(v) < 16 else b"\xdf" + struct.pack(">I", len(v))
        return head + b"".join(mp(k) + mp(x) for k, x in v.items())
    raise TypeError(type(v))


def load(name):
    with open(os.path.join(CONF, name)) as f:
        return json.load(f)


def js(v):
    return json.dumps(v, separators=(",", ":")).encode()




def record(i, text="x"):
    """A record as the queue and the spool hold it (core/src/pipeline/record.rs)."""
    fields = [
        bytes(range(i, i + 16)),
        i,
        1_700_000_000_000_000 + i,
        "fab1" if i % 2 else None,
        "etch" if i % 2 else None,
        "1.0" if i % 3 == 0 else None,
        None,
        "job",
        "J%d" % i,
        "etch" if i % 2 else None,
        "LOT1" if i % 3 == 0 else None,
        None,
        i % 4,
        i % 3,
        42.5 if i % 2 else None,
        None if i % 2 else 1,
        text if i % 2 else None,
        {"wafers": 25.0} if i % 2 else {},
        {"tool": "ETCH-01", "slot": -3, "temp": 21.5, "ok": True} if i % 2 else {},
    ]
    return b"\xdc" + struct.pack(">H", len(fields)) + b"".join(mp(f) for f in fields)


def framed(payloads, bad_crc=(), torn=False):
    out = b""
    for n, p in enumerate(payloads):
        crc = zlib.crc32(p) ^ (1 if n in bad_crc else 0)
        out += struct.pack("<II", len(p), crc) + p
    if torn:
        out += struct.pack("<II", 1000, 0) + b"abc"
    return out


def zbxd(data, large=False):
    if large:
        return b"ZBXD\x05" + struct.pack("<QQ", len(data), 0) + data
    return b"ZBXD\x01" + struct.pack("<II", len(data), 0) + data


def main():
    seeds = {t: [] for t in [
        "event_input", "legacy", "config", "spool_segment", "record",
        "sidecar_body", "gateway_body", "zabbix_answer", "loki_answer"]}

    events = [c["event"] for c in load("event_cases.json")]
    seeds["event_input"] += [js(e) for e in events]
    legacy = [c["legacy"] for c in load("legacy_cases.json")]
    seeds["legacy"] += [js(e) for e in legacy]
    seeds["config"] += [js(c["config"]) for c in load("config_cases.json")]

    records = [record(i) for i in range(1, 5)]
    seeds["record"] += records + [record(5, "é\"\\\n\u2028" * 3)]
    seeds["spool_segment"] += [
        framed(records), framed(records, bad_crc={1}), framed(records[:2], torn=True),
        framed([b"\x01\x02"]), b""]

    complete = [e for e in events if isinstance(e, dict) and "id" in e and "time" in e][:4]
    good = events[:6]
    for body in [good, {"events": good}, good[0], legacy[:3], {"events": legacy[:2]},
                 [1, "x", None, {}]]:
        seeds["sidecar_body"] += [js(body), mp(body)]
    for r in load("legacy_requests.json"):
        if isinstance(r.get("body"), (list, dict)):
            seeds["sidecar_body"].append(js(r["body"]))
    for body in [{"events": complete or good, "source": "s", "site_id": "fab1"},
                 {"events": good}, complete or good, {"events": [1, {}]}]:
        seeds["gateway_body"] += [js(body), mp(body)]

    ok = js({"response": "success",
             "info": "processed: 1; failed: 0; total: 1; seconds spent: 0.000055"})
    seeds["zabbix_answer"] += [
        zbxd(ok), zbxd(ok, large=True),
        zbxd(js({"response": "failed", "info": "bad"})),
        js({"jsonrpc": "2.0", "result": [
            {"itemid": "1", "key_": "wafermon.status", "value_type": "1"},
            {"itemid": "2", "key_": "wafermon.progress", "value_type": "0"},
            {"itemid": "3", "key_": "wafermon.kind", "value_type": "1"}], "id": 1})
        + b"\0" + js({"jsonrpc": "2.0", "result": [
            {"itemid": "1", "clock": "1700000000", "ns": "5000", "value": "running"},
            {"itemid": "2", "clock": "1700000000", "ns": "5000", "value": "50"},
            {"itemid": "3", "clock": "1700000001", "ns": "0", "value": "finished"}], "id": 1}),
        js({"jsonrpc": "2.0", "error": {"message": "Not authorised", "data": "x"}, "id": 1}),
    ]

    line = json.dumps(complete[0] if complete else events[0])
    seeds["loki_answer"] += [
        js({"status": "success", "data": {"resultType": "streams", "result": [
            {"stream": {"app": "etch"}, "values": [["1700000000000000000", line],
                                                    ["1700000000000000001", "not json"]]}]}}),
        js({"status": "success", "data": {"resultType": "matrix", "result": []}}),
        b"entry with timestamp 2024-05-06 15:58:50 +0000 UTC ignored, reason: 'entry too far "
        b"behind', total ignored: 2 out of 2 for stream: {a=\"b\"}",
    ]

    for target, items in seeds.items():
        folder = os.path.join(ROOT, "corpus", target)
        os.makedirs(folder, exist_ok=True)
        for n, data in enumerate(items):
            with open(os.path.join(folder, "seed-%03d" % n), "wb") as f:
                f.write(data)
        print(target, len(items), file=sys.stderr)


if __name__ == "__main__":
    main()
