from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

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
