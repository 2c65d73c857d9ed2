"""What the crash tests share: the side-effect file their workers write, and a child process
that is SIGKILLed once it has got far enough, and the workers' way of getting there: wait until
their instances reach a status, say so on stdout, and idle until the kill.

Activities in a worker record each run as one line ``<instance id> <name> <pid>`` in the effects
file; the pid tells the killed child's runs from the runs after recovery in the test's process.
Both the test and its worker (run as a script from this folder) import this module.
"""

from __future__ import annotations

import collections
import functools
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

import attrs
import trio
import trio.testing

from runtime import Runtime

REPO = Path(__file__).resolve().parent.parent
Key = tuple[str, str]  # (instance id, activity or step name)


def record_effect(path: str, instance_id: str, name: str) -> None:
    """Append the line of one activity run to the effects file at `path`."""
    # One unbuffered O_APPEND write per line: once os.write returns the line is in the kernel,
    # so it survives a SIGKILL of this process (fsync would only add power-loss safety).
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{instance_id} {name} {os.getpid()}\n".encode())
    finally:
        os.close(fd)


async def run_effect(path: str, instance_id: str, name: str, seconds: tuple[float, float]) -> None:
    """An activity's work: record its run (`record_effect`), then take a random time within
    `seconds` for the rest of it, where a kill can land."""
    record_effect(path, instance_id, name)
    await trio.sleep(random.uniform(*seconds))


def read_effects(path: Path) -> dict[Key, list[int]]:
    """Each activity's runs, as the pids that ran it, in the order they ran."""
    runs: dict[Key, list[int]] = collections.defaultdict(list)
    if path.exists():
        for line in path.read_text().splitlines():
            instance_id, name, pid = line.split()
            runs[instance_id, name].append(int(pid))
    return runs


@attrs.frozen(kw_only=True)
class Killed:
    """A child that `run_until_killed` killed: its pid, the wall time of the kill and all it
    wrote on stdout."""

    pid: int
    killed_at: float
    output: bytes


async def run_until_killed(
    script: str,
    args: Sequence[str],
    stderr_path: Path,
    *,
    ready: bytes,
    timeout: float,
    until: Callable[[], bool] = lambda: True,
    clock: trio.testing.MockClock | None = None,
) -> Killed:
    """Run the Python `script` with `args` in a child process that imports from this repository,
    and SIGKILL it once it has printed `ready` and `until()` holds; fail after `timeout` seconds.

    The child's stderr goes to `stderr_path`, and is the message of a failure. A test on a mock
    `clock` has it run at real speed while the child runs (the timeout is real seconds) and
    stand still again once the child is dead.
    """
    if clock is None:
        return await _run_until_killed(script, args, stderr_path, ready, timeout, until)
    clock.rate = 1.0
    try:
        return await _run_until_killed(script, args, stderr_path, ready, timeout, until)
    finally:
        clock.rate = 0.0


async def _run_until_killed(
    script: str,
    args: Sequence[str],
    stderr_path: Path,
    ready: bytes,
    timeout: float,
    until: Callable[[], bool],
) -> Killed:
    paths = [str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    with stderr_path.open("wb") as stderr:
        async with trio.open_nursery() as nursery:
            process: trio.Process = await nursery.start(
                functools.partial(
                    trio.run_process,
                    [sys.executable, script, *args],
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    env=env,
                    check=False,
                )
            )
            assert process.stdout is not None
            with trio.fail_after(timeout):
                output = b""
                while ready not in output:
                    chunk = await process.stdout.receive_some()
                    assert chunk, await trio.Path(stderr_path).read_text()
                    output += chunk
                # Polling: the progress is another process's, no Trio event tells us.
                while not until():  # noqa: ASYNC110
                    await trio.sleep(0.005)
            os.kill(process.pid, signal.SIGKILL)
            killed_at = time.time()
            await process.wait()
            output += await process.stdout.receive_some()
    assert process.returncode == -signal.SIGKILL, await trio.Path(stderr_path).read_text()
    return Killed(pid=process.pid, killed_at=killed_at, output=output)


async def until_all(rt: Runtime, instance_ids: Sequence[str], status: str) -> None:
    """Return once every one of ``instance_ids`` has ``status`` in its summary row."""
    # Polling the summary rows: a status is a state of the store, which is what we promise.
    while True:
        statuses = [(await rt.get(i)).status for i in instance_ids]
        if all(s == status for s in statuses):
            return
        await trio.sleep(0.01)


async def ready_for_the_kill(line: str) -> NoReturn:
    """Tell the test (``run_until_killed``'s ``ready``) that it may kill this worker now."""
    print(line, flush=True)
    await trio.sleep_forever()
