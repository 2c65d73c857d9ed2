"""Where the tokens of one process or subprocess level are, and when its joins may fire.

Pure bookkeeping, no workflow operations: the interpreter tells an ``ActiveScope`` that a
token moved, ended or arrived at a join, and asks it which join is ready. A parallel join is
ready when every incoming flow holds a token. An inclusive join is ready when no token
of the scope can still reach one of its incoming flows that holds none: reachability
runs over the sequence flows (plus boundary events and link jumps) from the position of
every running token and of every token waiting at another join, never through the join
itself. Everything iterates in insertion order, so decisions are the same on replay.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping
from typing import Any

import attrs

from .._context import Future
from ._model import (
    Activity,
    BoundaryEvent,
    FlowNode,
    InclusiveGateway,
    IntermediateThrowEvent,
    LinkEventDefinition,
    ParallelGateway,
    Process,
    SequenceFlow,
    SubProcess,
)


@attrs.define(eq=False)
class Graph:
    """The flow graph of one level, with reachability to join gateways memoized."""

    elements: Mapping[str, FlowNode]
    flows: Mapping[str, SequenceFlow]
    link_catches: Mapping[str, str]
    _reach: dict[tuple[str, str], frozenset[str]] = attrs.field(factory=dict)

    @classmethod
    def of(cls, owner: Process | SubProcess) -> Graph:
        return cls(owner.elements, owner.flows, owner.link_catches)

    def successors(self, node_id: str) -> list[tuple[str | None, str]]:
        """``(flow id, target)`` a token at ``node_id`` may go on to (None: a link jump)."""
        node = self.elements[node_id]
        found: list[tuple[str | None, str]] = [
            (f, self.flows[f].target) for f in node.outgoing if f in self.flows
        ]
        if isinstance(node, Activity):
            for event_id in node.boundary_events:
                event = self.elements.get(event_id)
                if isinstance(event, BoundaryEvent):
                    found.extend((f, self.flows[f].target) for f in event.outgoing)
        if isinstance(node, IntermediateThrowEvent) and isinstance(
            node.trigger, LinkEventDefinition
        ):
            catch = self.link_catches.get(node.trigger.name)
            if catch is not None:
                found.append((None, catch))
        return found

    def reaches(self, start: str, join: str) -> frozenset[str]:
        """The incoming flows of ``join`` reachable from ``start`` without passing ``join``."""
        key = (start, join)
        found = self._reach.get(key)
        if found is None:
            hits: set[str] = set()
            seen = {start}
            stack = [start]
            while stack:
                for flow_id, target in self.successors(stack.pop()):
                    if target == join:
                        if flow_id is not None:
                            hits.add(flow_id)
                    elif target not in seen:
                        seen.add(target)
                        stack.append(target)
            found = self._reach[key] = frozenset(hits)
        return found


@attrs.define(eq=False)
class Variables:
    """The variables of one scope, inside those of the scopes around it (Zeebe's scopes).

    The instance's own variables are the root. A subprocess's input mappings, and a
    multi-instance body and each of its inner instances, make a scope of their own.
    ``assign`` sets a variable where it already exists, nearest first, else at the root:
    Zeebe's propagation of output mappings and job results.
    """

    local: dict[str, Any]
    parent: Variables | None = None

    def view(self) -> ChainMap[str, Any]:
        """Everything visible here: local variables hide those further out."""
        maps: list[dict[str, Any]] = []
        scope: Variables | None = self
        while scope is not None:
            maps.append(scope.local)
            scope = scope.parent
        return ChainMap(*maps)

    def holder(self, name: str) -> dict[str, Any]:
        """The variables ``name`` is set in: the nearest that has it, else the root's."""
        scope = self
        while name not in scope.local and scope.parent is not None:
            scope = scope.parent
        return scope.local


@attrs.define(eq=False)
class ActiveScope:
    """The tokens of one process or subprocess level, and how that level ended.

    ``outcome`` resolves with "completed" (no token left), "terminated" (a terminate end
    event) or "withdrawn" (stopped from outside), or fails with the error that ended it.
    ``ended`` resolves at the same moment: tokens race their waits against it.
    """

    owner_id: str
    graph: Graph
    variables: Variables
    parent: ActiveScope | None = None
    """The level this one is inside (None: the process level)."""
    tokens: dict[int, str] = attrs.field(factory=dict)
    """Running tokens: token id -> the element it is at."""
    arrivals: dict[str, list[str]] = attrs.field(factory=dict)
    """Tokens waiting at a join: gateway id -> the flows they came by."""
    outcome: Future[str] = attrs.field(factory=Future)
    ended: Future[None] = attrs.field(factory=Future)
    interrupted: bool = False
    """An interrupting event subprocess started here: no other one may start."""
    compensable: list[str] = attrs.field(factory=list)
    """Activities with a compensation handler that completed here, in order (``_compensation``)."""

    @property
    def is_over(self) -> bool:
        return self.ended.done

    def arrive(self, gateway_id: str, flow_id: str | None) -> None:
        self.arrivals.setdefault(gateway_id, []).append(flow_id or "")

    def finish(self, outcome: str) -> None:
        if not self.is_over:
            self.outcome.set_result(outcome)
            self._stop()

    def fail(self, error: BaseException) -> None:
        if not self.is_over:
            self.outcome.set_error(error)
            self._stop()

    def interrupt(self) -> None:
        """Stop every token of the scope at its wait, but keep the scope open.

        The waits race ``ended``: it resolves, and a fresh one serves what runs next.
        """
        cut, self.ended = self.ended, Future()
        self.interrupted = True
        self.tokens.clear()
        self.arrivals.clear()
        cut.set_result(None)

    def _stop(self) -> None:
        self.tokens.clear()
        self.arrivals.clear()
        self.ended.set_result(None)

    def ready_join(self) -> str | None:
        """A join gateway that may fire now (its arrivals are consumed), or None."""
        for gateway_id in list(self.arrivals):
            gateway = self.graph.elements[gateway_id]
            came = self.arrivals[gateway_id]
            missing = [f for f in gateway.incoming if f not in came]
            if missing and (
                isinstance(gateway, ParallelGateway) or self._reachable(gateway_id, missing)
            ):
                continue
            for flow_id in gateway.incoming:
                if flow_id in came:
                    came.remove(flow_id)
            if not came:
                del self.arrivals[gateway_id]
            return gateway_id
        return None

    def _reachable(self, gateway_id: str, missing: list[str]) -> bool:
        wanted = frozenset(missing)
        starts = [*self.tokens.values(), *(g for g in self.arrivals if g != gateway_id)]
        return any(self.graph.reaches(start, gateway_id) & wanted for start in starts)

    def stuck(self) -> str | None:
        """Why the scope can never go on (no running token, joins that cannot fire)."""
        if self.tokens or not self.arrivals:
            return None
        waits = []
        for gateway_id, came in self.arrivals.items():
            missing = [f for f in self.graph.elements[gateway_id].incoming if f not in came]
            waits.append(f"{gateway_id!r} waits for {', '.join(map(repr, missing))}")
        return f"no token can reach the joins of {self.owner_id!r} any more: {'; '.join(waits)}"


def is_join(node: FlowNode) -> bool:
    """Parallel and inclusive gateways with several incoming flows wait for their tokens."""
    return isinstance(node, ParallelGateway | InclusiveGateway) and len(node.incoming) > 1
