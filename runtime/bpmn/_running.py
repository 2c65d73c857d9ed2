"""What the interpreter's helpers (activities, multi-instance bodies, event subprocesses,
escalation, jobs) ask of a running instance, and what the instance needs of its loaded
process: declared here, below both sides, so that the interpreter and its helpers do not
import one another. ``Instance`` (``_interpreter``) is the one ``Running`` there is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from .._context import Future
from .._definitions import Registry
from ._evaluation import Evaluation
from ._model import CallActivity, FlowNode, Process
from ._scope import ActiveScope, Graph, Variables


class Loaded(Protocol):
    """A loaded process as an instance of it sees it (``LoadedProcess`` is one)."""

    @property
    def process(self) -> Process: ...

    @property
    def registry(self) -> Registry: ...

    @property
    def graphs(self) -> dict[str, Graph]: ...


class Running(Evaluation):
    """A process instance as its helpers see it: its process, its user tasks, its registry,
    and the scopes and tokens they open, move and close."""

    process: Process
    tasks: dict[str, dict[str, Any]]
    """Open user tasks by job key."""
    registry: Registry
    call_count: int
    """How many call activities it has started (numbers the called instances' ids)."""
    called: dict[str, dict[str, Any]]
    """The instances its call activities started, by id."""
    loops: dict[str, dict[str, int]]
    """The counts of each multi-instance activity's latest body, for the viewer."""
    escalations: int
    stopping: list[Future[Any]]
    """What must be done before it ends (cancelling called instances, reporting escalations)."""

    def open_scope(
        self, owner_id: str, variables: Variables, parent: ActiveScope | None = None
    ) -> ActiveScope:
        raise NotImplementedError

    def close_scope(self, scope: ActiveScope, outcome: str | BaseException) -> None:
        raise NotImplementedError

    def spawn(self, scope: ActiveScope, node_id: str, *, via: str | None, entered: bool) -> None:
        raise NotImplementedError

    def interrupt(self, scope: ActiveScope) -> None:
        raise NotImplementedError

    def move(self, scope: ActiveScope, token: int, node_id: str) -> None:
        raise NotImplementedError

    def done(self, element_id: str) -> None:
        raise NotImplementedError

    def entry_inputs(self, token: int, node: FlowNode, variables: Variables) -> dict[str, Any]:
        raise NotImplementedError

    def trigger(
        self, node: FlowNode, variables: Variables, local: Mapping[str, Any] | None = None
    ) -> Future[Any]:
        raise NotImplementedError

    def element(self, element_id: str) -> FlowNode:
        raise NotImplementedError

    async def wait(self, scope: ActiveScope, operation: Future[Any]) -> Any:
        raise NotImplementedError

    def watch_escalations(
        self, scope: ActiveScope, node: CallActivity, child_id: str, outcome: Future[Any]
    ) -> None:
        raise NotImplementedError

    def escalate_to_parent(self, code: str) -> None:
        raise NotImplementedError
