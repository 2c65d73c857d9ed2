"""``load``: every executable process of a BPMN file becomes a versioned workflow.

A process is registered under its id, at the version of its file (the file's SHA-256):
loading a changed file adds a version, and instances keep the one they started with.
The none start event is where ``Runtime.start`` begins; a message start event makes the
workflow start on each event named like its message (``trigger``); a timer start event
makes the runtime start it at each due time of the timer (``schedule``: a date once, a
duration once after the runtime opens, a cycle at each repetition). A process with
several start events gets one workflow per extra start event, named
``<process id>:<start event id>``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Coroutine
from typing import Any, Literal

import attrs

from .._context import WorkflowContext
from .._definitions import Registry, Retention, WorkflowDefinition, own_retention
from .._definitions import registry as default_registry
from .._errors import WorkflowNotFound
from .._event import signal_type
from ._call import register_builtins
from ._interpreter import Instance
from ._model import (
    BpmnError,
    Definitions,
    MessageEventDefinition,
    Process,
    SignalEventDefinition,
    StartEvent,
    TimerEventDefinition,
)
from ._parser import parse
from ._scope import Graph
from ._timers import TimerError, start_schedule

VARIABLES = dict[str, Any] | None

SNAPSHOT_EVERY = 1000
"""By default an instance journals a snapshot of its state every this many records."""


def snapshot_interval(value: int | None) -> int | None:
    """``snapshot_every`` checked: a whole number >= 1, or 0 or None (no snapshots)."""
    if isinstance(value, bool) or not (value is None or isinstance(value, int)):
        raise TypeError(f"snapshot_every must be a whole number of records or None, not {value!r}")
    if value is not None and value < 0:
        raise ValueError(f"snapshot_every must be >= 0 (0 or None: no snapshots), got {value}")
    return value or None


@attrs.define(eq=False)
class LoadedProcess:
    """A process bound to its start event: the ``fn`` of its workflow definition."""

    definitions: Definitions
    process: Process
    start_id: str
    registry: Registry
    graphs: dict[str, Graph] = attrs.field(factory=dict)
    """Flow graphs by scope id, shared by the instances (reachability is memoized)."""

    def __call__(
        self, ctx: WorkflowContext, variables: dict[str, Any] | None
    ) -> Coroutine[Any, Any, dict[str, Any]]:
        return Instance(ctx, self, variables or {}).run(self.start_id)

    def resume(self, ctx: WorkflowContext, state: dict[str, Any]) -> Coroutine[Any, Any, Any]:
        """An instance going on from a snapshot's state (``_snapshots``)."""
        return Instance(ctx, self, {}).resume(state)


_loaded: dict[tuple[str, str], LoadedProcess] = {}


def loaded_process(workflow: str, version: str | None) -> LoadedProcess | None:
    """The process behind a BPMN workflow's version (None: not a loaded BPMN workflow)."""
    return None if version is None else _loaded.get((workflow, version))


def load(
    source: bytes | str | os.PathLike[str],
    *,
    registry: Registry | None = None,
    retention: Retention | Literal["runtime"] = "runtime",
    snapshot_every: int | None = SNAPSHOT_EVERY,
) -> list[str]:
    """Register every executable process of a BPMN file; return the workflow names.

    ``source``: the file's bytes, its XML text, or its path. Loading the same file again
    changes nothing (but ``retention`` and ``snapshot_every``); a changed file adds a new
    version of each of its workflows. ``retention`` (a timedelta or seconds; None: forever)
    is how long the processes' finished instances are kept, instead of the runtime's.
    Every ``snapshot_every`` records (default 1000; 0 or None: never) an instance journals
    a snapshot of its state, so that rehydrating it replays only the records after its
    latest one (while it runs a subprocess, a multi-instance or call activity, a
    non-interrupting boundary event or a compensation, its state is not plain data: the
    snapshot waits for the first record after that; README.md, "A workflow"). Raises
    ``BpmnError`` listing every problem when the file cannot be run.
    """
    seconds = own_retention(retention)
    every = snapshot_interval(snapshot_every)
    registry = registry or default_registry
    definitions = parse(source)
    entries: list[_Entry] = []
    problems: list[str] = []
    for process in definitions.executable_processes:
        entries.extend(_entry_points(process, problems))
    if not definitions.executable_processes:
        problems.append('the file has no executable process (isExecutable="true")')
    if problems:
        raise BpmnError(problems)
    register_builtins(registry)
    names = []
    for entry in entries:
        name = entry.name
        try:
            definition = registry.workflow(name, definitions.version)
        except WorkflowNotFound:
            loaded = LoadedProcess(definitions, entry.process, entry.start_id, registry)
            definition = WorkflowDefinition(
                name=name,
                fn=loaded,
                input_type=VARIABLES,
                takes_input=True,
                trigger=entry.trigger,
                kind="bpmn",
                version=definitions.version,
                schedule=entry.schedule,
                schedule_relative=entry.schedule_relative,
            )
            _loaded[(name, definitions.version)] = loaded
        if definition.retention != seconds or definition.snapshot_every != every:
            definition = attrs.evolve(definition, retention=seconds, snapshot_every=every)
        registry.add_workflow(definition)
        names.append(name)
    return names


@attrs.frozen(kw_only=True)
class _Entry:
    """One workflow of a process: where it starts, and what starts it besides ``start``."""

    name: str
    process: Process
    start_id: str
    trigger: str | None = None
    schedule: Callable[[float], float | None] | None = None
    schedule_relative: bool = False


def _entry_points(process: Process, problems: list[str]) -> list[_Entry]:
    """The workflow of each start event: the none start event's first."""
    entries: list[_Entry] = []
    none_start = process.none_start_event
    if none_start is not None:
        entries.append(_Entry(name=process.id, process=process, start_id=none_start))
    for start_id in process.start_events:
        start = process.elements[start_id]
        assert isinstance(start, StartEvent)
        name = f"{process.id}:{start_id}" if entries else process.id
        if isinstance(start.trigger, TimerEventDefinition):
            try:
                schedule, relative = start_schedule(start.trigger)
            except TimerError as error:
                problems.append(f"timer start event {start_id!r}: {error}")
                continue
            entries.append(
                _Entry(
                    name=name,
                    process=process,
                    start_id=start_id,
                    schedule=schedule,
                    schedule_relative=relative,
                )
            )
        elif isinstance(start.trigger, MessageEventDefinition):
            trigger = start.trigger.message.name
            entries.append(_Entry(name=name, process=process, start_id=start_id, trigger=trigger))
        elif isinstance(start.trigger, SignalEventDefinition):
            trigger = signal_type(start.trigger.signal.name)
            entries.append(_Entry(name=name, process=process, start_id=start_id, trigger=trigger))
    return entries
