"""The sans-IO workflow core.

Theory of operation
-------------------
A workflow instance is a journal: input records (it started, an activity attempt
finished, a timer fired, an event arrived, a cancel was requested) each followed by
the output records the core decided in response (an activity scheduled, a timer
started, a wait started, the outcome). ``WorkflowCore.receive(input, at)`` takes one
input and returns its outputs, or ``None`` when the input is stale (a result for a
step that is no longer pending) and must not be journaled. ``WorkflowCore.decide``
returns the whole ``Decision`` for it (``_decision``): those outputs, the timer and
wait rows the append sets and clears, the summary row, the commands to carry out once
it is committed, or why an event was refused. The actor around it only does the I/O.

The core drives the workflow coroutine itself (``_tasks``): it is never scheduled by
Trio. Workflow code awaits ``Future``s made by ``WorkflowContext``; awaiting one that
is not done parks the task until an input resolves it, so the order of commands and
their step numbers depend only on the journal. The core never awaits I/O, never reads
the clock and never draws random numbers: time is the ``at`` of the input being
handled, randomness is seeded by the start record.

Replay (``_replay``) feeds a recorded journal's inputs back through a fresh core and
checks that it decides the same outputs; a difference is a ``NonDeterminismError``
naming the step.

A workflow whose state is plain data (a BPMN instance) can be captured whole (``capture``,
journaled as a ``Snapshot`` record) and a fresh core brought to it without replaying what
came before (``restore``); see ``_snapshot``.

A core holds one *run* of its instance. ``ctx.continue_as_new`` ends it with a
``WorkflowContinued`` output (``continued``); the shell then starts the next run in a fresh
core, whose start record says where its step numbers begin (``_runs``).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import attrs

from . import _records as r
from ._context import Future, WorkflowContext
from ._convert import check_type, dumps, from_json_value, to_json_value
from ._decision import STALE, Commands, Decision
from ._definitions import ActivityDefinition, WorkflowDefinition
from ._errors import (
    ActivityError,
    EventTimeout,
    InvalidInput,
    WorkflowCancelled,
)
from ._event import Event
from ._runs import ContinueAsNew, continue_input
from ._snapshot import Adoption, Resumable, SnapshotMismatch, StateHolder, plain, step_spec
from ._steps import (
    ActivityStep,
    IncidentStep,
    Step,
    TimerStep,
    WaitStep,
    fire_at_of,
    waiting_item,
)
from ._tasks import Task, Tasks
from .store import Summary, TimerRow, WaitRow

ActivityLookup = Callable[[str], "ActivityDefinition[Any, Any] | None"]


class WorkflowCore:
    """One instance's decisions, from its journal alone."""

    def __init__(
        self,
        definition: WorkflowDefinition,
        instance_id: str,
        activities: ActivityLookup | None = None,
    ) -> None:
        self.definition = definition
        self.instance_id = instance_id
        self.at = 0.0
        self.started = False
        self.outcome: r.WorkflowCompleted | r.WorkflowFailed | r.WorkflowCancelled | None = None
        self.continued: r.WorkflowContinued | None = None
        """Set when the run ended with ``ctx.continue_as_new``: the next run's input."""
        self.run = 1
        self._starting = False
        self.cancel_requested = False
        self._cancel_reason = ""
        self._activities = activities
        self._steps: dict[int, Step] = {}
        self._next_step = 1
        self._tasks = Tasks(definition.name)
        self._main: Task | None = None
        self._out: list[r.Output] = []
        self.exposed: Any = None
        """What the workflow published with ``ctx.expose`` (read by ``Runtime.query``)."""
        self.consumed: set[tuple[str, str]] = set()
        """``(source, id)`` of every event this instance has taken."""
        self.holder: StateHolder | None = None
        """The workflow's state as plain data, for snapshots (``WorkflowContext._keep_state``)."""
        self.snapshot_seq = 0
        """The seq of the snapshot this core was restored from (0: replayed from the start)."""
        self._ctx: WorkflowContext | None = None
        self._seed = 0
        self._adoption: Adoption | None = None
        # What the input being handled sets and clears beside its outputs (see ``decide``).
        self._refused: InvalidInput | None = None
        self._attempts: list[r.ActivityScheduled] = []
        self._timers_set: list[TimerRow] = []
        self._timers_cleared: list[int] = []
        self._waits_set: list[WaitRow] = []
        self._waits_cleared: list[int] = []

    # --- what the shell asks -----------------------------------------------------

    @property
    def next_step(self) -> int:
        """The number the next operation of the workflow gets."""
        return self._next_step

    @property
    def finished(self) -> bool:
        return self.outcome is not None or self.continued is not None

    @property
    def status(self) -> str:
        if isinstance(self.outcome, r.WorkflowCompleted):
            return "completed"
        if isinstance(self.outcome, r.WorkflowFailed):
            return "failed"
        if isinstance(self.outcome, r.WorkflowCancelled):
            return "cancelled"
        status = "waiting"
        for step in self._steps.values():
            if isinstance(step, IncidentStep):
                return "incident"
            if isinstance(step, ActivityStep) and not step.in_backoff:
                status = "running"
        return status

    @property
    def idle(self) -> bool:
        """Unfinished, and no activity attempt runs: only timers, events or incidents pending."""
        return not any(
            isinstance(step, ActivityStep) and not step.in_backoff for step in self._steps.values()
        )

    def waiting_on(self) -> list[dict[str, Any]]:
        """What the instance waits for, as plain data for its summary row."""
        return [waiting_item(n, step) for n, step in sorted(self._steps.items())]

    def is_message_wait(self, step: int) -> bool:
        """True if ``step`` is a pending BPMN message subscription."""
        s = self._steps.get(step)
        return isinstance(s, WaitStep) and s.message

    def receive(self, record: r.Input, at: float) -> list[r.Output] | None:
        """Handle one input; return the outputs to journal after it, or None if stale.

        Replay needs no more than this; the shell asks ``decide`` for the whole decision.
        """
        if self.finished:
            return None
        self.at = at
        self._out = []
        self._refused = None
        self._attempts, self._timers_set, self._timers_cleared = [], [], []
        self._waits_set, self._waits_cleared = [], []
        self._starting = isinstance(record, r.WorkflowStarted)
        if not self._accept(record):
            return None
        self._tasks.run_ready()
        self._check_outcome()
        out, self._out = self._out, []
        return out

    def decide(self, record: r.Input, at: float) -> Decision:
        """Handle one input; everything it leads to: the records to journal after it, the
        rows its append sets and clears, its summary row, and the commands to carry out."""
        outputs = self.receive(record, at)
        if outputs is None:
            refused = self._refused
            return STALE if refused is None else Decision(taken=False, refused=refused)
        return Decision(
            taken=True,
            outputs=tuple(outputs),
            summary=summary_of(self, at),
            timers_set=tuple(self._timers_set),
            timers_cleared=tuple(self._timers_cleared),
            waits_set=tuple(self._waits_set),
            waits_cleared=tuple(self._waits_cleared),
            activities=tuple(self._attempts),
            finished=self.outcome is not None,
        )

    def in_flight(self) -> Commands:
        """What an instance brought back by replay has in flight: to run and arm again."""
        activities: list[r.ActivityScheduled] = []
        timers: list[TimerRow] = []
        waits: list[WaitRow] = []
        for n, step in sorted(self._steps.items()):
            if isinstance(step, ActivityStep) and not step.in_backoff:
                activities.append(self._scheduled(n, step))
            elif isinstance(step, WaitStep):
                waits.append(self._wait_row(n, step))
            fire_at = fire_at_of(step)
            if fire_at is not None:
                timers.append(TimerRow(instance_id=self.instance_id, step=n, fire_at=fire_at))
        return Commands(activities=tuple(activities), timers=tuple(timers), waits=tuple(waits))

    # --- inputs --------------------------------------------------------------------

    def _accept(self, record: r.Input) -> bool:
        if isinstance(record, r.WorkflowStarted):
            return self._start(record)
        if not self.started:
            return False
        if isinstance(record, r.CancelRequested):
            return self._cancel(record.reason)
        step = self._steps.get(getattr(record, "step", -1))
        if isinstance(record, r.ActivityCompleted):
            if not self._is_attempt(step, record.attempt):
                return False
            assert isinstance(step, ActivityStep)
            del self._steps[record.step]
            try:
                value = from_json_value(record.result, step.result_type, path="result")
            except InvalidInput as exc:
                step.future.set_error(exc)
            else:
                step.future.set_result(value)
            return True
        if isinstance(record, r.ActivityFailed):
            if not self._is_attempt(step, record.attempt):
                return False
            assert isinstance(step, ActivityStep)
            if record.retryable and record.attempt < step.retry.max_attempts:
                step.in_backoff = True
                step.fire_at = self.at + step.retry.delay_after(record.attempt)
                self._out.append(
                    r.TimerStarted(step=record.step, fire_at=step.fire_at, purpose="retry")
                )
                self._set_timer(record.step, step.fire_at)
            else:
                del self._steps[record.step]
                step.future.set_error(
                    ActivityError(
                        step.name, record.error.type, record.error.message, record.attempt
                    )
                )
            return True
        if isinstance(record, r.TimerFired):
            return self._fire(record.step, step)
        if isinstance(record, r.IncidentResolved):
            if not isinstance(step, IncidentStep):
                return False
            del self._steps[record.step]
            step.future.set_result(dict(record.variables))
            return True
        if isinstance(record, r.EventReceived):
            if not isinstance(step, WaitStep) or not self._matches(step, record.event):
                return False
            try:
                event = from_json_value(record.event, Event, path="event")
                if step.data_type is not None:
                    data = from_json_value(event.data, step.data_type, path="event.data")
                    event = attrs.evolve(event, data=data)
            except InvalidInput as exc:
                # Data that does not fit is not this wait's event: it waits on, untouched.
                self._refused = exc
                return False
            self._drop(record.step, step)
            self.consumed.add((event.source, event.id))
            step.future.set_result(event)
            return True
        return False

    def _matches(self, step: WaitStep, event: Any) -> bool:
        if not isinstance(event, dict) or event.get("type") != step.type:
            return False
        if (event.get("source"), event.get("id")) in self.consumed:
            return False
        target = event.get("instanceid")
        if target is not None:
            return bool(target == self.instance_id)
        return step.subject is None or event.get("subject") == step.subject

    def _is_attempt(self, step: Step | None, attempt: int) -> bool:
        return isinstance(step, ActivityStep) and not step.in_backoff and step.attempt == attempt

    def _start(self, record: r.WorkflowStarted) -> bool:
        if self.started:
            return False
        self.started = True
        self.run, self._next_step = record.run, record.first_step
        self.consumed.update((source, id_) for source, id_ in record.consumed)
        ctx = WorkflowContext(self, self.instance_id, self.definition.name, record.seed)
        self._ctx, self._seed = ctx, record.seed
        if self.definition.takes_input:
            try:
                value = from_json_value(record.input, self.definition.input_type, path="input")
            except InvalidInput as exc:
                self._out.append(
                    r.WorkflowFailed(error=r.ErrorInfo(type="InvalidInput", message=str(exc)))
                )
                self.outcome = self._out[-1]  # type: ignore[assignment]
                return True
            coro = self.definition.fn(ctx, value)
        else:
            coro = self.definition.fn(ctx)
        self._main = self._tasks.spawn(coro)
        return True

    def _fire(self, n: int, step: Step | None) -> bool:
        if isinstance(step, ActivityStep):
            if not step.in_backoff:
                return False
            step.in_backoff = False
            step.attempt += 1
            self._timers_cleared.append(n)
            self._schedule(n, step)
            return True
        if isinstance(step, TimerStep):
            self._drop(n, step)
            step.future.set_result(None)
            return True
        if isinstance(step, WaitStep) and step.timeout_at is not None:
            self._drop(n, step)
            subject = f" with subject {step.subject!r}" if step.subject is not None else ""
            step.future.set_error(EventTimeout(f"no {step.type!r} event{subject} arrived in time"))
            return True
        return False

    def _cancel(self, reason: str) -> bool:
        if self.cancel_requested:
            return False
        self.cancel_requested = True
        self._cancel_reason = reason
        self._tasks.throw_into_waiting(WorkflowCancelled(reason))
        # Every operation in flight is withdrawn: a cancelled wait takes no event, an
        # activity in backoff is not attempted again, a timer does not fire. Compensation
        # code starts operations of its own.
        for n in sorted(self._steps):
            step = self._steps[n]
            self._drop(n, step)
            self._out.append(r.StepCancelled(step=n))
            step.future.set_error(WorkflowCancelled(reason))
        return True

    # --- commands made by WorkflowContext --------------------------------------------

    def _drop(self, n: int, step: Step) -> None:
        """Step ``n`` ends (resolved, timed out or withdrawn): its timer and wait rows go."""
        del self._steps[n]
        if isinstance(step, WaitStep):
            self._waits_cleared.append(n)
        if fire_at_of(step) is not None:
            self._timers_cleared.append(n)

    def _set_timer(self, n: int, fire_at: float) -> None:
        self._timers_set.append(TimerRow(instance_id=self.instance_id, step=n, fire_at=fire_at))

    def _schedule(self, n: int, step: ActivityStep) -> None:
        command = self._scheduled(n, step)
        self._out.append(command)
        self._attempts.append(command)

    def _wait_row(self, n: int, step: WaitStep) -> WaitRow:
        return WaitRow(
            instance_id=self.instance_id,
            step=n,
            type=step.type,
            subject=step.subject,
            message=self.definition.name if step.message else None,
        )

    def _new_step(self, step: Step) -> int:
        task = step.owner = self._tasks.current
        if self._adoption is not None:
            adopted = self._adoption.adopt(step, task)
            if adopted is not None:
                self._steps[adopted] = step
                step.future.step = adopted
                return adopted
        n = self._next_step
        self._next_step += 1
        self._steps[n] = step
        step.future.step = n
        return n

    def cancel_step(self, future: Future[Any]) -> bool:
        """Withdraw a pending operation: its result, firing or event is ignored from now on.

        Returns False when it had already finished. A withdrawn activity attempt may still
        run to its end (at least once), but nothing waits for it.
        """
        n = future.step
        step = self._steps.get(n) if n is not None else None
        if step is None or step.future is not future:
            return False
        self._drop(n, step)  # type: ignore[arg-type]
        self._out.append(r.StepCancelled(step=n))  # type: ignore[arg-type]
        future.set_error(StepWithdrawn(f"step {n} was withdrawn"))
        return True

    def schedule_activity(
        self, activity: ActivityDefinition[Any, Any], args: Sequence[Any], kwargs: dict[str, Any]
    ) -> Future[Any]:
        if not isinstance(activity, ActivityDefinition):
            raise TypeError(f"ctx.run takes an @activity, not {activity!r}")
        # Fails here, in workflow code, when an argument is not JSON or does not fit.
        json_args, json_kwargs = activity.arguments.encode(args, kwargs)
        future: Future[Any] = Future()
        step = ActivityStep(
            future=future,
            name=activity.name,
            args=json_args,
            kwargs=json_kwargs,
            retry=activity.retry,
            result_type=activity.result_type,
        )
        self._schedule(self._new_step(step), step)
        return future

    def start_timer(self, fire_at: float) -> Future[None]:
        future: Future[None] = Future()
        n = self._new_step(TimerStep(future=future, fire_at=fire_at))
        self._out.append(r.TimerStarted(step=n, fire_at=fire_at, purpose="sleep"))
        self._set_timer(n, fire_at)
        return future

    def wait_event(
        self,
        type: str,
        subject: str | None,
        timeout: float | None,
        data_type: Any,
        message: bool = False,
    ) -> Future[Any]:
        if data_type is not None:
            check_type(data_type)  # here, in workflow code, not when an event arrives
        future: Future[Any] = Future()
        timeout_at = None if timeout is None else self.at + timeout
        step = WaitStep(
            future=future,
            type=type,
            subject=subject,
            timeout_at=timeout_at,
            data_type=data_type,
            message=message,
        )
        n = self._new_step(step)
        self._out.append(
            r.WaitStarted(
                step=n, type=type, subject=subject, timeout_at=timeout_at, message=message
            )
        )
        self._waits_set.append(self._wait_row(n, step))
        if timeout_at is not None:
            self._set_timer(n, timeout_at)
        return future

    def raise_incident(self, element_id: str, message: str) -> Future[dict[str, Any]]:
        future: Future[dict[str, Any]] = Future()
        step = IncidentStep(future=future, element_id=element_id, message=message, since=self.at)
        n = self._new_step(step)
        self._out.append(r.IncidentRaised(step=n, element_id=element_id, message=message))
        return future

    def continue_as_new(self, args: Sequence[Any]) -> ContinueAsNew:
        """What ``ctx.continue_as_new`` raises; ``InvalidInput`` when ``args`` do not fit."""
        return continue_input(self.definition, args)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> Future[Any]:
        task = self._tasks.spawn(coro)
        if self._adoption is not None:
            self._adoption.assign(task)
        return task.done

    # --- snapshots (``_snapshot``) ----------------------------------------------------

    def capture(self) -> dict[str, Any] | None:
        """The whole state as JSON data (a ``Snapshot``'s), or None when it is not plain
        data now: no ``StateHolder``, finished or cancelling, random numbers drawn, a task
        or a step the holder cannot name."""
        holder, main, ctx = self.holder, self._main, self._ctx
        if holder is None or main is None or ctx is None or self.finished:
            return None
        if self.cancel_requested or ctx._rng is not None:
            return None
        tasks = self._tasks.live
        if not tasks or tasks[0] is not main:
            return None
        owned: dict[int, list[int]] = {id(task): [] for task in tasks}
        steps = []
        for n, step in sorted(self._steps.items()):
            mine = owned.get(id(step.owner))
            if mine is None:
                return None
            mine.append(n)
            steps.append([n, step_spec(step)])
        if owned[id(main)]:
            return None
        workflow = holder.capture([task.coro for task in tasks[1:]])
        if workflow is None:
            return None
        core = {
            "version": self.definition.version,
            "run": self.run,
            "seed": self._seed,
            "next_step": self._next_step,
            "consumed": sorted([source, id_] for source, id_ in self.consumed),
            "steps": steps,
            "tasks": [owned[id(task)] for task in tasks],
        }
        return plain({"core": core, "workflow": workflow})

    def restore(self, state: dict[str, Any], at: float) -> None:
        """Bring this fresh core to ``state``, captured at ``at``, as replay would have.

        ``SnapshotMismatch`` (or any error reading ``state``) when it cannot: the core is
        then of no use, and the whole journal is replayed instead.
        """
        resumable: Resumable = self.definition.fn  # type: ignore[assignment]
        if getattr(resumable, "resume", None) is None:
            raise SnapshotMismatch(f"workflow {self.definition.name!r} has no snapshots")
        core = state["core"]
        if core["version"] != self.definition.version:
            raise SnapshotMismatch(f"the snapshot is of version {core['version']!r}")
        self.started, self.at, self.run = True, at, int(core["run"])
        self._next_step, self._seed = int(core["next_step"]), int(core["seed"])
        self.consumed = {(str(source), str(id_)) for source, id_ in core["consumed"]}
        self._adoption = adoption = Adoption(
            {int(n): spec for n, spec in core["steps"]}, core["tasks"]
        )
        self._ctx = ctx = WorkflowContext(self, self.instance_id, self.definition.name, self._seed)
        try:
            self._main = main = self._tasks.spawn(resumable.resume(ctx, state["workflow"]))
            adoption.assign(main)
            self._tasks.run_ready()
            adoption.finish()
        finally:
            self._adoption = None
            # What the restarted tasks issued took recorded steps: nothing is journaled.
            self._out, self._attempts = [], []
            self._timers_set, self._timers_cleared = [], []
            self._waits_set, self._waits_cleared = [], []
        if adoption.problems:
            raise SnapshotMismatch("; ".join(adoption.problems[:3]))
        if main.done.done:
            raise SnapshotMismatch("the workflow rebuilt from the snapshot ended at once")
        if self.capture() != state:
            raise SnapshotMismatch("the state rebuilt differs from the snapshot")

    @staticmethod
    def _scheduled(n: int, step: ActivityStep) -> r.ActivityScheduled:
        return r.ActivityScheduled(
            step=n, name=step.name, args=step.args, kwargs=step.kwargs, attempt=step.attempt
        )

    def close(self) -> None:
        """Let go of a core that will not be used again (its actor was passivated or stopped).

        A waiting workflow's coroutine, its tasks, steps and futures refer to one another in
        cycles that only Python's cyclic collector would free; unlinking them lets reference
        counting free the lot at once. Nothing is journaled: the instance lives on in its
        journal.
        """
        self._tasks.close()
        self._steps.clear()
        self._main = None

    def _check_outcome(self) -> None:
        main = self._main
        if main is None or not main.done.done or self.finished:
            return
        outcome: r.WorkflowCompleted | r.WorkflowFailed | r.WorkflowCancelled
        try:
            value = main.done.result()
        except ContinueAsNew as exc:
            if self.cancel_requested:  # a cancelled instance ends; it does not go on anew
                outcome = r.WorkflowCancelled(reason=self._cancel_reason)
            elif not self._starting:
                self._end(r.WorkflowContinued(input=exc.input, run=self.run + 1))
                return
            else:
                outcome = r.WorkflowFailed(
                    error=r.ErrorInfo(
                        type="ContinueAsNewError",
                        message="continue_as_new before the run awaited anything would start"
                        " runs without end",
                    )
                )
        except WorkflowCancelled as exc:
            outcome = r.WorkflowCancelled(reason=exc.reason)
        except BaseException as exc:
            outcome = r.WorkflowFailed(error=error_info(exc))
        else:
            try:
                output = to_json_value(value, path="output")
                if self.definition.output_type is not Any:
                    from_json_value(output, self.definition.output_type, path="output")
            except Exception as exc:  # InvalidInput, or whatever reading the value raised
                outcome = r.WorkflowFailed(error=error_info(exc))
            else:
                outcome = r.WorkflowCompleted(output=output)
        self.outcome = outcome
        self._end(outcome)

    def _end(self, record: r.Output) -> None:
        """The run ends with ``record``: its outcome, or a ``WorkflowContinued``."""
        if isinstance(record, r.WorkflowContinued):
            self.continued = record
        self._out.append(record)
        self._tasks.end()  # orphaned gather children end with the workflow
        self._steps.clear()


def summary_of(core: WorkflowCore, at: float) -> Summary:
    """The summary row of an instance whose core is ``core``, as of ``at``."""
    outcome = core.outcome
    output = error = None
    if isinstance(outcome, r.WorkflowCompleted):
        output = dumps(outcome.output)
    elif isinstance(outcome, r.WorkflowFailed):
        error = dumps({"type": outcome.error.type, "message": outcome.error.message})
    elif isinstance(outcome, r.WorkflowCancelled):
        error = dumps({"type": "WorkflowCancelled", "message": outcome.reason})
    waiting = None if outcome is not None else dumps(core.waiting_on())
    return Summary(
        status=core.status, waiting_on=waiting, output=output, error=error, updated_at=at
    )


class StepWithdrawn(Exception):
    """The operation was withdrawn with ``ctx.cancel``; nothing will resolve it."""


def error_info(exc: BaseException) -> r.ErrorInfo:
    return r.ErrorInfo(type=type(exc).__name__, message=str(exc))
