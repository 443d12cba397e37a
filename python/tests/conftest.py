from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import config_in  # noqa: E402

import wafermon  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Each test starts without a global client, without WAFERMON_* variables, in its
    own working directory (the default backend writes under ./wafermon-data)."""
    for name in list(os.environ):
        if name.startswith("WAFERMON_") or name == "_WAFERMON_PYTHON_INIT":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    wafermon.shutdown(timeout=5)
    wafermon._global._shut_down = False
    yield
    wafermon.shutdown(timeout=5)
    wafermon._global._shut_down = False
    os.environ.pop("_WAFERMON_PYTHON_INIT", None)


@pytest.fixture
def config(tmp_path: Path) -> Dict[str, Any]:
    return config_in(tmp_path)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"
