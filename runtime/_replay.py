"""Replay: a recorded journal's inputs fed back through a fresh core, which must decide the
outputs recorded after each; a difference is a ``NonDeterminismError`` naming the step."""

from __future__ import annotations

from collections.abc import Iterable

from . import _records as r
from ._core import WorkflowCore
from ._errors import NonDeterminismError


def describe(record: r.Record) -> str:
    """Human wording of a record for nondeterminism reports."""
    if isinstance(record, r.ActivityScheduled):
        args = [repr(a) for a in record.args] + [f"{k}={v!r}" for k, v in record.kwargs.items()]
        return f"activity {record.name}({', '.join(args)})"
    if isinstance(record, r.TimerStarted):
        return f"a {record.purpose} timer"
    if isinstance(record, r.WaitStarted):
        return f"a wait for event {record.type!r}"
    if isinstance(record, r.IncidentRaised):
        return f"an incident at {record.element_id!r} ({record.message})"
    if isinstance(record, r.WorkflowCompleted):
        return "workflow completion"
    if isinstance(record, r.WorkflowFailed):
        return f"workflow failure ({record.error.type}: {record.error.message})"
    if isinstance(record, r.WorkflowCancelled):
        return "workflow cancellation"
    if isinstance(record, r.StepCancelled):
        return f"withdrawal of step {record.step}"
    return r.kind_of(type(record))


def _step_of(record: r.Record | None, default: int) -> int:
    return int(getattr(record, "step", default))


def replay(core: WorkflowCore, journal: Iterable[tuple[r.Record, float]]) -> None:
    """Feed a recorded journal through ``core``; raise at the first divergence."""
    replaying = Replay(core)
    for record, at in journal:
        replaying.feed(record, at)
    replaying.finish()


class Replay:
    """A recorded journal fed through a core record by record, so that a long journal can be
    read and replayed a slice at a time; ``NonDeterminismError`` at the first divergence."""

    def __init__(self, core: WorkflowCore) -> None:
        self.core = core
        self._expected: list[r.Output] = []
        self._produced: list[r.Output] = []

    def feed(self, record: r.Record, at: float) -> None:
        if r.is_input(record):
            self._compare()
            out = self.core.receive(record, at)  # type: ignore[arg-type]
            if out is None:
                raise NonDeterminismError(
                    _step_of(record, 0),
                    f"{r.kind_of(type(record))} to be accepted",
                    "no pending step it belongs to",
                )
            self._expected, self._produced = [], out
        else:
            self._expected.append(record)  # type: ignore[arg-type]

    def finish(self) -> None:
        """The journal ended: its last outputs must be the ones the core decided."""
        self._compare()

    def _compare(self) -> None:
        expected, produced = self._expected, self._produced
        for i in range(max(len(expected), len(produced))):
            want = expected[i] if i < len(expected) else None
            got = produced[i] if i < len(produced) else None
            if want != got:
                step = _step_of(want, _step_of(got, self.core.next_step))
                raise NonDeterminismError(
                    step,
                    describe(want) if want is not None else "nothing more",
                    describe(got) if got is not None else "nothing",
                )
