from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _stores import store as store  # every Store's contract: SQLite and PostgreSQL
from hypothesis import settings

from runtime import Runtime

# Property tests that do not set max_examples themselves take it from the profile:
# TRIOFLOW_HYPOTHESIS_PROFILE=dev|ci|thorough (default: ci when CI is set, else dev).
settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile("ci", max_examples=50, deadline=None, print_blob=True)
settings.register_profile("thorough", max_examples=2_000, deadline=None, print_blob=True)
settings.load_profile(
    os.environ.get("TRIOFLOW_HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


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


@pytest.fixture
def inline_commits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runtimes opened in this test commit their journal in the event loop's thread
    (``Runtime.open(commit_inline=True)``). Virtual time needs it: a commit in a worker
    thread looks to an autojumping ``MockClock`` like every task is idle, and the clock
    would jump past timeouts while the I/O is still going on. Every test that asks for
    ``autojump_clock`` or ``mock_clock`` gets it; a module that runs its own ``trio.run``
    on a ``MockClock`` asks for it by name."""
    open_runtime = Runtime.open

    def open_inline(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("commit_inline", True)
        return open_runtime(*args, **kwargs)

    monkeypatch.setattr(Runtime, "open", open_inline)


@pytest.fixture(autouse=True)
def _virtual_time_commits_inline(request: pytest.FixtureRequest) -> Iterator[None]:
    if {"autojump_clock", "mock_clock"} & set(request.fixturenames):
        request.getfixturevalue("inline_commits")
    yield
