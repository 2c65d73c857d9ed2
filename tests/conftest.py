from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A fresh SQLite file for one test."""
    return str(tmp_path / "trioflow.db")
