"""The sans-IO workflow core.

Theory of operation
-------------------
A workflow instance is a journal: input records (it started, an activity attempt
finished, a timer fired, an event arrived, a cancel was requested) each followed by
the output records the core decided in response (an activity scheduled, a timer
started, a wait started, the outcome). ``WorkflowCore.receive(input, at)`` takes one
input and returns its outputs, or ``None`` when the input is stale (a result for a
step that is no longer pending) and must not be journaled.

The core drives the workflow coroutine itself: it is never scheduled by Trio.
Workflow code awaits ``Future``s made by ``WorkflowContext``; awaiting one that is not
done yields it to the core, which parks the task until an input resolves it. Tasks
(the workflow and the coroutines passed to ``gather``) run in a FIFO ready queue, and
futures wake their waiters in registration order, so the order of commands and their
step numbers depend only on the journal. The core never awaits I/O, never reads the
clock and never draws random numbers: time is the ``at`` of the input being handled,
randomness is seeded by the start record.

Replay feeds a recorded journal's inputs back through a fresh core and checks that it
decides the same outputs; a difference is a ``NonDeterminismError`` naming the step.

A core holds one *run* of its instance. ``ctx.continue_as_new`` ends it with a
``WorkflowContinued`` output (``continued``); the shell then starts the next run in a fresh
core, whose start record says where its step numbers begin (``_runs``).
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any

import attrs

from . import _records as r
from ._context import Future, WorkflowContext
from ._convert import check_type, from_json_value, to_json_value
from ._definitions import ActivityDefinition, RetryPolicy, WorkflowDefinition
from ._errors import (
    ActivityError,
    EventTimeout,
    InvalidInput,
    NonDeterminismError,
    UnsupportedAwait,
    WorkflowCancelled,
)
from ._event import Event
from ._runs import ContinueAsNew, continue_input

ActivityLookup = Callable[[str], "ActivityDefinition[Any, Any] | None"]


@attrs.define(eq=False)
class _ActivityStep:
    future: Future[Any]
    name: str
    args: list[Any]
    kwargs: dict[str, Any]
    retry: RetryPolicy
    result_type: Any
    attempt: int = 1
    in_backoff: bool = False
    fire_at: float = 0.0


@attrs.define(eq=False)
class _TimerStep:
    future: Future[Any]
    fire_at: float


@attrs.define(eq=False)
class _WaitStep:
    future: Future[Any]
    type: str
    subject: str | None
    timeout_at: float | None
    data_type: Any
    message: bool = False


@attrs.define(eq=False)
class _IncidentStep:
    future: Future[Any]
    element_id: str
    message: str
    since: float


_Step = _ActivityStep | _TimerStep | _WaitStep | _IncidentStep


@attrs.define(eq=False)
class _Task:
    core: WorkflowCore
    coro: Coroutine[Any, Any, Any]
    done: Future[Any]
    waiting_on: Future[Any] | None = None

    def __call__(self, _: Future[Any]) -> None:
        """The callback of the future it waits on (the task itself: no closure to allocate)."""
        self.waiting_on = None
        self.core._ready.append((self, None, None))


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
        self._steps: dict[int, _Step] = {}
        self._next_step = 1
        self._tasks: list[_Task] = []
        self._ready: collections.deque[tuple[_Task, Future[Any] | None, BaseException | None]] = (
            collections.deque()
        )
        self._main: _Task | None = None
        self._out: list[r.Output] = []
        self.exposed: Any = None
        """What the workflow published with ``ctx.expose`` (read by ``Runtime.query``)."""
        self.consumed: set[tuple[str, str]] = set()
        """``(source, id)`` of every event this instance has taken."""
        self.refused: InvalidInput | None = None
        """Why the last input was not taken, when it was an event that matched a wait but
        whose data does not fit the wait's ``data_type`` (None otherwise)."""

    # --- what the shell asks -----------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.outcome is not None or self.continued is not None

    @property
    def next_step(self) -> int:
        """The number the next operation would get: where a following run counts on from."""
        return self._next_step

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
            if isinstance(step, _IncidentStep):
                return "incident"
            if isinstance(step, _ActivityStep) and not step.in_backoff:
                status = "running"
        return status

    @property
    def idle(self) -> bool:
        """Unfinished, and no activity attempt runs: only timers, events or incidents pending."""
        return not any(
            isinstance(step, _ActivityStep) and not step.in_backoff for step in self._steps.values()
        )

    def waiting_on(self) -> list[dict[str, Any]]:
        """What the instance waits for, as plain data for its summary row."""
        items: list[dict[str, Any]] = []
        for n, step in sorted(self._steps.items()):
            if isinstance(step, _ActivityStep):
                item: dict[str, Any] = {"step": n, "kind": "activity", "name": step.name}
                item["attempt"] = step.attempt
                if step.in_backoff:
                    item["retry_at"] = step.fire_at
            elif isinstance(step, _TimerStep):
                item = {"step": n, "kind": "timer", "fire_at": step.fire_at}
            elif isinstance(step, _IncidentStep):
                item = {"step": n, "kind": "incident", "element_id": step.element_id}
                item.update(message=step.message, since=step.since)
            else:
                item = {"step": n, "kind": "event", "type": step.type, "subject": step.subject}
                if step.timeout_at is not None:
                    item["timeout_at"] = step.timeout_at
            items.append(item)
        return items

    def pending(self) -> list[r.Output]:
        """Commands still in flight, as the outputs that issued them (for recovery)."""
        out: list[r.Output] = []
        for n, step in sorted(self._steps.items()):
            if isinstance(step, _ActivityStep):
                if step.in_backoff:
                    out.append(r.TimerStarted(step=n, fire_at=step.fire_at, purpose="retry"))
                else:
                    out.append(self._scheduled(n, step))
            elif isinstance(step, _TimerStep):
                out.append(r.TimerStarted(step=n, fire_at=step.fire_at, purpose="sleep"))
            elif isinstance(step, _IncidentStep):
                out.append(
                    r.IncidentRaised(step=n, element_id=step.element_id, message=step.message)
                )
            else:
                out.append(
                    r.WaitStarted(
                        step=n,
                        type=step.type,
                        subject=step.subject,
                        timeout_at=step.timeout_at,
                        message=step.message,
                    )
                )
        return out

    def wait_for(self, step: int) -> tuple[str, str | None] | None:
        """``(type, subject)`` if ``step`` is a pending event wait."""
        s = self._steps.get(step)
        return (s.type, s.subject) if isinstance(s, _WaitStep) else None

    def is_message_wait(self, step: int) -> bool:
        """True if ``step`` is a pending BPMN message subscription."""
        s = self._steps.get(step)
        return isinstance(s, _WaitStep) and s.message

    def receive(self, record: r.Input, at: float) -> list[r.Output] | None:
        """Handle one input; return the outputs to journal after it, or None if stale."""
        if self.finished:
            return None
        self.at = at
        self._out = []
        self.refused = None
        self._starting = isinstance(record, r.WorkflowStarted)
        if not self._accept(record):
            return None
        self._run_ready()
        self._check_outcome()
        out, self._out = self._out, []
        return out

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
            assert isinstance(step, _ActivityStep)
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
            assert isinstance(step, _ActivityStep)
            if record.retryable and record.attempt < step.retry.max_attempts:
                step.in_backoff = True
                step.fire_at = self.at + step.retry.delay_after(record.attempt)
                self._out.append(
                    r.TimerStarted(step=record.step, fire_at=step.fire_at, purpose="retry")
                )
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
            if not isinstance(step, _IncidentStep):
                return False
            del self._steps[record.step]
            step.future.set_result(dict(record.variables))
            return True
        if isinstance(record, r.EventReceived):
            if not isinstance(step, _WaitStep) or not self._matches(step, record.event):
                return False
            try:
                event = from_json_value(record.event, Event, path="event")
                if step.data_type is not None:
                    data = from_json_value(event.data, step.data_type, path="event.data")
                    event = attrs.evolve(event, data=data)
            except InvalidInput as exc:
                # Data that does not fit is not this wait's event: it waits on, untouched.
                self.refused = exc
                return False
            del self._steps[record.step]
            self.consumed.add((event.source, event.id))
            step.future.set_result(event)
            return True
        return False

    def _matches(self, step: _WaitStep, event: Any) -> bool:
        if not isinstance(event, dict) or event.get("type") != step.type:
            return False
        if (event.get("source"), event.get("id")) in self.consumed:
            return False
        target = event.get("instanceid")
        if target is not None:
            return bool(target == self.instance_id)
        return step.subject is None or event.get("subject") == step.subject

    def _is_attempt(self, step: _Step | None, attempt: int) -> bool:
        return isinstance(step, _ActivityStep) and not step.in_backoff and step.attempt == attempt

    def _start(self, record: r.WorkflowStarted) -> bool:
        if self.started:
            return False
        self.started = True
        self.run, self._next_step = record.run, record.first_step
        self.consumed.update((source, id_) for source, id_ in record.consumed)
        ctx = WorkflowContext(self, self.instance_id, self.definition.name, record.seed)
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
        self._main = self._spawn_task(coro)
        return True

    def _fire(self, n: int, step: _Step | None) -> bool:
        if isinstance(step, _ActivityStep):
            if not step.in_backoff:
                return False
            step.in_backoff = False
            step.attempt += 1
            self._out.append(self._scheduled(n, step))
            return True
        if isinstance(step, _TimerStep):
            del self._steps[n]
            step.future.set_result(None)
            return True
        if isinstance(step, _WaitStep) and step.timeout_at is not None:
            del self._steps[n]
            subject = f" with subject {step.subject!r}" if step.subject is not None else ""
            step.future.set_error(EventTimeout(f"no {step.type!r} event{subject} arrived in time"))
            return True
        return False

    def _cancel(self, reason: str) -> bool:
        if self.cancel_requested:
            return False
        self.cancel_requested = True
        self._cancel_reason = reason
        for task in self._tasks:
            if task.waiting_on is not None:
                task.waiting_on.remove_callback(task)
                task.waiting_on = None
                self._ready.append((task, None, WorkflowCancelled(reason)))
        # Every operation in flight is withdrawn: a cancelled wait takes no event, an
        # activity in backoff is not attempted again, a timer does not fire. Compensation
        # code starts operations of its own.
        for n in sorted(self._steps):
            step = self._steps.pop(n)
            self._out.append(r.StepCancelled(step=n))
            step.future.set_error(WorkflowCancelled(reason))
        return True

    # --- commands made by WorkflowContext --------------------------------------------

    def _new_step(self, step: _Step) -> int:
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
        del self._steps[n]  # type: ignore[arg-type]
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
        step = _ActivityStep(
            future=future,
            name=activity.name,
            args=json_args,
            kwargs=json_kwargs,
            retry=activity.retry,
            result_type=activity.result_type,
        )
        self._out.append(self._scheduled(self._new_step(step), step))
        return future

    def start_timer(self, fire_at: float) -> Future[None]:
        future: Future[None] = Future()
        n = self._new_step(_TimerStep(future=future, fire_at=fire_at))
        self._out.append(r.TimerStarted(step=n, fire_at=fire_at, purpose="sleep"))
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
        step = _WaitStep(
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
        return future

    def raise_incident(self, element_id: str, message: str) -> Future[dict[str, Any]]:
        future: Future[dict[str, Any]] = Future()
        step = _IncidentStep(future=future, element_id=element_id, message=message, since=self.at)
        n = self._new_step(step)
        self._out.append(r.IncidentRaised(step=n, element_id=element_id, message=message))
        return future

    def continue_as_new(self, args: Sequence[Any]) -> ContinueAsNew:
        """What ``ctx.continue_as_new`` raises; ``InvalidInput`` when ``args`` do not fit."""
        return continue_input(self.definition, args)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> Future[Any]:
        return self._spawn_task(coro).done

    @staticmethod
    def _scheduled(n: int, step: _ActivityStep) -> r.ActivityScheduled:
        return r.ActivityScheduled(
            step=n, name=step.name, args=step.args, kwargs=step.kwargs, attempt=step.attempt
        )

    # --- the scheduler -------------------------------------------------------------

    def _spawn_task(self, coro: Coroutine[Any, Any, Any]) -> _Task:
        task = _Task(core=self, coro=coro, done=Future())
        self._tasks.append(task)
        self._ready.append((task, None, None))
        return task

    def _run_ready(self) -> None:
        while self._ready:
            task, future, error = self._ready.popleft()
            while True:
                try:
                    if error is not None:
                        yielded = task.coro.throw(error)
                    else:
                        yielded = task.coro.send(future.result() if future is not None else None)
                except StopIteration as stop:
                    self._tasks.remove(task)
                    task.done.set_result(stop.value)
                    break
                except BaseException as exc:
                    self._tasks.remove(task)
                    task.done.set_error(exc)
                    break
                # A raising future is re-raised by Future.__await__ itself; we only
                # need to resume with send(None) once it is done.
                future, error = None, None
                if isinstance(yielded, Future):
                    if yielded.done:
                        continue
                    self._park(task, yielded)
                    break
                error = UnsupportedAwait(
                    f"workflow {self.definition.name!r} awaited {_describe_await(task.coro)}; "
                    "workflow code may only await ctx.run, ctx.sleep, ctx.sleep_until, "
                    "ctx.wait_event and ctx.gather"
                )

    def _park(self, task: _Task, future: Future[Any]) -> None:
        task.waiting_on = future
        future.add_callback(task)  # its __call__ puts it back in the ready queue

    def close(self) -> None:
        """Let go of a core that will not be used again (its actor was passivated or stopped).

        A waiting workflow's coroutine, its tasks, steps and futures refer to one another in
        cycles that only Python's cyclic collector would free; unlinking them lets reference
        counting free the lot at once. The coroutine is closed as the collector would close
        it. Nothing is journaled: the instance lives on in its journal.
        """
        for task in self._tasks:
            if task.waiting_on is not None:
                task.waiting_on.remove_callback(task)
                task.waiting_on = None
        tasks, self._tasks = self._tasks, []
        self._ready.clear()
        self._steps.clear()
        self._main = None
        for task in tasks:
            # RuntimeError: it awaited in a finally block; nothing it does counts any more.
            with contextlib.suppress(RuntimeError):
                task.coro.close()

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
                self._continue(exc.input)
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

    def _continue(self, input: Any) -> None:
        self.continued = r.WorkflowContinued(input=input, run=self.run + 1)
        self._end(self.continued)

    def _end(self, record: r.Output) -> None:
        self._out.append(record)
        for task in list(self._tasks):  # orphaned gather children end with the workflow
            task.coro.close()
        self._tasks.clear()
        self._steps.clear()


class StepWithdrawn(Exception):
    """The operation was withdrawn with ``ctx.cancel``; nothing will resolve it."""


def error_info(exc: BaseException) -> r.ErrorInfo:
    return r.ErrorInfo(type=type(exc).__name__, message=str(exc))


def _describe_await(coro: Coroutine[Any, Any, Any]) -> str:
    """Name the call that workflow code awaited, e.g. ``trio.sleep()``.

    Walks the chain of awaited coroutines and names the first one that lives in
    another package than the workflow itself, as ``package.qualname``.
    """
    home = None
    inner: Any = coro
    while inner is not None:
        code = getattr(inner, "cr_code", None) or getattr(inner, "gi_code", None)
        frame = getattr(inner, "cr_frame", None) or getattr(inner, "gi_frame", None)
        module = frame.f_globals.get("__name__", "") if frame is not None else ""
        package = module.split(".")[0]
        if home is None:
            home = package
        elif code is not None and package != home:
            return f"{package}.{code.co_qualname}()"
        inner = getattr(inner, "cr_await", None) or getattr(inner, "gi_yieldfrom", None)
    return "an object that is not a trioflow operation"


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
    if isinstance(record, r.WorkflowContinued):
        return "continue_as_new"
    if isinstance(record, r.StepCancelled):
        return f"withdrawal of step {record.step}"
    return r.kind_of(type(record))


def _step_of(record: r.Record | None, default: int) -> int:
    return int(getattr(record, "step", default))


def replay(core: WorkflowCore, journal: Iterable[tuple[r.Record, float]]) -> None:
    """Feed a recorded journal through ``core``; raise at the first divergence."""
    expected: list[r.Output] = []
    produced: list[r.Output] = []

    def compare() -> None:
        for i in range(max(len(expected), len(produced))):
            want = expected[i] if i < len(expected) else None
            got = produced[i] if i < len(produced) else None
            if want != got:
                step = _step_of(want, _step_of(got, core._next_step))
                raise NonDeterminismError(
                    step,
                    describe(want) if want is not None else "nothing more",
                    describe(got) if got is not None else "nothing",
                )

    for record, at in journal:
        if r.is_input(record):
            compare()
            out = core.receive(record, at)  # type: ignore[arg-type]
            if out is None:
                raise NonDeterminismError(
                    _step_of(record, 0),
                    f"{r.kind_of(type(record))} to be accepted",
                    "no pending step it belongs to",
                )
            expected, produced = [], out
        else:
            expected.append(record)  # type: ignore[arg-type]
    compare()
