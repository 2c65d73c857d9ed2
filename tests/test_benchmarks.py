"""Every benchmark script still runs and prints its one JSON line (tiny sizes: no measurement)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from _stores import POSTGRES_URL, skip_without_postgres

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"

RUNS = [
    (
        ["throughput.py", "--n", "40", "--concurrency", "8"],
        {"instances_per_s", "steps_per_s", "p50_ms", "p99_ms", "peak_rss_mb"},
    ),
    (
        ["throughput.py", "--n", "20", "--sync", "full", "--gc", "default"],
        {"instances_per_s"},
    ),
    (
        ["latency.py", "--rate", "40", "--seconds", "0.5"],
        {"p50_ms", "p99_ms", "completed", "overloaded", "max_start_lag_ms"},
    ),
    (
        ["parked.py", "--m", "40", "--max-resident", "10", "--batch", "8"],
        {"rss_per_instance_bytes", "resumes_per_s", "resident_parked", "resident_after"},
    ),
    (
        ["timers.py", "--n", "20", "--after", "0.2", "--over", "0.2"],
        {"late_p50_ms", "late_p99_ms", "late_max_ms", "late_min_ms", "fires_per_s"},
    ),
    (
        ["retention.py", "--n", "60", "--retention", "0.2", "--every", "0.2", "--concurrency", "8"],
        {"instances_per_s", "max_file_mb", "samples", "min_sample_rate"},
    ),
    (
        ["rehydrate.py", "--steps", "30", "--every", "10", "--repeat", "1"],
        {"long_replay_seconds", "chained_replay_seconds", "chained_replayed_records"},
    ),
    (
        ["rehydrate_bpmn.py", "--steps", "30", "--every", "10", "--repeat", "1"],
        {"whole_rehydrate_seconds", "snapshots_rehydrate_seconds", "snapshots_replayed_records"},
    ),
    (
        ["recovery.py", "--k", "20", "--max-resident", "10"],
        {"open_seconds", "activities_rerun_at_open", "complete_seconds"},
    ),
]


@pytest.mark.parametrize(("argv", "fields"), RUNS, ids=[" ".join(a) for a, _ in RUNS])
def test_benchmark_prints_one_json_line(tmp_path: Path, argv: list[str], fields: set[str]) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / argv[0]), *argv[1:], "--db", str(tmp_path / "b.db")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    result = json.loads(line)
    assert result["benchmark"] == argv[0].removesuffix(".py")
    assert fields <= set(result), fields - set(result)
    if "--gc" in argv:
        assert result["gc"] == argv[argv.index("--gc") + 1]
    else:
        assert result["gc"] == "tuned"


def test_a_benchmark_refuses_an_existing_database(tmp_path: Path) -> None:
    existing = tmp_path / "b.db"
    existing.write_text("")
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "throughput.py"), "--db", str(existing)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "exists already" in done.stderr


def test_the_probe_counts_a_refused_connection_as_an_error(tmp_path: Path) -> None:
    with socket.socket() as unused:  # bound, never listening: every connection is refused
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}"
        done = subprocess.run(
            [sys.executable, str(BENCHMARKS / "probe.py"), "--url", url, "--seconds", "0.2"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["benchmark"] == "probe" and result["sent"] == 4
    assert result["errors"] == 4 and "accepted_p99_ms" not in result


@pytest.mark.parametrize(
    ("argv", "fields"),
    [
        (["throughput.py", "--n", "40", "--concurrency", "8"], {"instances_per_s", "p99_ms"}),
        (["takeover.py", "--k", "20"], {"takeover_s", "waiting_after"}),
        (["routing.py", "--n", "10", "--every", "0"], {"p50_ms", "p99_ms", "forwarded"}),
        (
            ["throughput.py", "--n", "41", "--concurrency", "8", "--processes", "2"],
            {"instances_per_s", "p99_ms", "per_process"},
        ),
        (["routing.py", "--n", "3", "--lose-notifications"], {"p99_ms", "notified"}),
    ],
    ids=["throughput", "takeover", "routing", "throughput-processes", "routing-polled"],
)
def test_a_benchmark_runs_on_postgres(tmp_path: Path, argv: list[str], fields: set[str]) -> None:
    skip_without_postgres()
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / argv[0]), *argv[1:], "--db", POSTGRES_URL],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    result = json.loads(line)
    assert result["benchmark"] == argv[0].removesuffix(".py")
    assert fields <= set(result), fields - set(result)
    if "--processes" in argv:  # every instance ran, each in one process's share
        assert result["processes"] == 2
        assert sorted(each["n"] for each in result["per_process"]) == [20, 21]
        assert len({each["pid"] for each in result["per_process"]}) == 2


def test_several_processes_need_postgres(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "throughput.py"), "--processes", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "--processes > 1 needs a PostgreSQL database" in done.stderr
