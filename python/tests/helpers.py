"""Shared by the tests and by the functions their child processes run."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List

CORE_DIR = Path(__file__).resolve().parents[2] / "core"


def config_in(root: "os.PathLike[str] | str", **extra: Any) -> Dict[str, Any]:
    """JSONL files under root/data, the spool under root/spool (as the Rust tests do),
    merged one level deep with ``extra``."""
    root = Path(root)
    config: Dict[str, Any] = {
        "app": {"name": "test-app", "version": "1.0", "site_id": "fab-t", "instance_id": "i-1"},
        "direct_backends": [{"type": "filesystem", "path": str(root / "data")}],
        "spool": {"path": str(root / "spool")},
        "batch": {"flush_interval": 0.05},
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


def read_events(root: "os.PathLike[str] | str") -> List[Dict[str, Any]]:
    """Every event in every *.jsonl file under ``root``, in the order of (instance, seq)."""
    events = []
    for path in sorted(Path(root).rglob("*.jsonl")):
        with open(path, encoding="utf-8") as f:
            events.extend(json.loads(line) for line in f if line.strip())
    events.sort(key=lambda e: (e["app"].get("instance", ""), e["seq"]))
    return events


def same_json(a: Any, b: Any) -> bool:
    """JSON equality where numbers compare by value (50 == 50.0) and bools are not numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    return bool(a == b)
