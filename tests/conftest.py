from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A fresh SQLite file for one test."""
    return str(tmp_path / "trioflow.db")


@pytest.fixture(params=["fast", "stock"])
def http_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test on both HTTP paths: the fast one (``api/_fast_path.py``) and the stock
    one (Hypercorn's connection class, Quart for every route). ``TRIOFLOW_FAST_PATH`` is
    what ``create_app``, ``serve`` and a ``trioflow serve`` process started by the test read."""
    path = str(request.param)
    monkeypatch.setenv("TRIOFLOW_FAST_PATH", "1" if path == "fast" else "0")
    return path
