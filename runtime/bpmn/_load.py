"""``load``: every executable process of a BPMN file becomes a versioned workflow.

A process is registered under its id, at the version of its file (the file's SHA-256):
loading a changed file adds a version, and instances keep the one they started with.
The none start event is where ``Runtime.start`` begins; a message start event makes the
workflow start on each event named like its message (``trigger``). A process with both,
or with several message start events, gets one workflow per extra start event, named
``<process id>:<start event id>``.
"""

from __future__ import annotations

import os
from collections.abc import Coroutine
from typing import Any

import attrs

from .._context import WorkflowContext
from .._definitions import Registry, WorkflowDefinition
from .._definitions import registry as default_registry
from .._errors import WorkflowNotFound
from ._interpreter import Instance
from ._model import (
    BpmnError,
    Definitions,
    MessageEventDefinition,
    Process,
    StartEvent,
    TimerEventDefinition,
)
from ._parser import parse
from ._scope import Graph

VARIABLES = dict[str, Any] | None


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


_loaded: dict[tuple[str, str], LoadedProcess] = {}


def loaded_process(workflow: str, version: str | None) -> LoadedProcess | None:
    """The process behind a BPMN workflow's version (None: not a loaded BPMN workflow)."""
    return None if version is None else _loaded.get((workflow, version))


def load(source: bytes | str | os.PathLike[str], *, registry: Registry | None = None) -> list[str]:
    """Register every executable process of a BPMN file; return the workflow names.

    ``source``: the file's bytes, its XML text, or its path. Loading the same file again
    changes nothing; a changed file adds a new version of each of its workflows. Raises
    ``BpmnError`` listing every problem when the file cannot be run.
    """
    registry = registry or default_registry
    definitions = parse(source)
    entries: list[tuple[str, Process, str, str | None]] = []
    problems: list[str] = []
    for process in definitions.executable_processes:
        entries.extend(_entry_points(process, problems))
    if not definitions.executable_processes:
        problems.append('the file has no executable process (isExecutable="true")')
    if problems:
        raise BpmnError(problems)
    names = []
    for name, process, start_id, trigger in entries:
        try:
            definition = registry.workflow(name, definitions.version)
        except WorkflowNotFound:
            loaded = LoadedProcess(definitions, process, start_id, registry)
            definition = WorkflowDefinition(
                name=name,
                fn=loaded,
                input_type=VARIABLES,
                takes_input=True,
                trigger=trigger,
                kind="bpmn",
                version=definitions.version,
            )
            _loaded[(name, definitions.version)] = loaded
        registry.add_workflow(definition)
        names.append(name)
    return names


def _entry_points(
    process: Process, problems: list[str]
) -> list[tuple[str, Process, str, str | None]]:
    """``(workflow name, process, start event id, trigger)`` for each start event."""
    entries: list[tuple[str, Process, str, str | None]] = []
    none_start = process.none_start_event
    if none_start is not None:
        entries.append((process.id, process, none_start, None))
    for start_id in process.start_events:
        start = process.elements[start_id]
        assert isinstance(start, StartEvent)
        if isinstance(start.trigger, TimerEventDefinition):
            problems.append(
                f"timer start event {start_id!r} of process {process.id!r} is not supported: "
                "start its instances with Runtime.start from a scheduler instead"
            )
        elif isinstance(start.trigger, MessageEventDefinition):
            name = f"{process.id}:{start_id}" if entries else process.id
            entries.append((name, process, start_id, start.trigger.message.name))
    return entries
