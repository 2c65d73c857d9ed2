"""``tune_gc`` changes process-wide settings: it is checked in a child process."""

from __future__ import annotations

import subprocess
import sys

import pytest

import runtime

PROBE = """
import gc
import runtime

before = len(gc.get_objects())
runtime.tune_gc()
print(gc.get_threshold(), gc.get_freeze_count() >= before, len(gc.get_objects()) < before)
runtime.tune_gc(1_000)
print(gc.get_threshold())
"""


def test_tune_gc_raises_the_threshold_and_freezes_what_exists() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    ).stdout.splitlines()
    assert out == ["(50000, 50, 100) True True", "(1000, 50, 100)"]


def test_tune_gc_refuses_a_threshold_below_one() -> None:
    with pytest.raises(ValueError, match="threshold must be >= 1, got 0"):
        runtime.tune_gc(0)
