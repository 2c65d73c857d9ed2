"""BPMN token replay across crashes, as a Hypothesis property.

A random *process* is a sequence of blocks between a none start and a none end event: a
service task, an intermediate timer (``PT<n>S``), an exclusive block (a split whose flows
test ``x`` or ``y``, one of them the default, and a merge) or a parallel block (a fork and
a join of 2 or 3 branches), nested up to depth 3. Every service task runs the handler of
its type, told by ``zeebe:input`` mappings which element it is; the handler records its
attempt and returns which of the tasks that must precede it it saw (``v_<task>``) and a
number (``w_<task>``). The expected run follows from the structure alone: which elements
complete, which flows are taken, which tasks run and what each of them sees.

Each example runs two instances on one file without interruption, checks them against that
expectation, and checks that a runtime reopened on the file rebuilds the same query view by
replay. Then it runs them again on a store that dies after its N-th append, reopens and
finishes: the outcome must be the uninterrupted one, and no attempt whose result was
journaled before the death may run again.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import operator
import random
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import attrs
import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_replay_property import Died, DyingStore, _current_attempt, no_crash_logged

from runtime import HistoryItem, Registry, Runtime, WorkflowFailed, bpmn
from runtime._queries import replay_report, replayed_core
from runtime.store import SqliteStore, Store, StoredRecord

T0 = 1_800_000_000.0
LONG = 1_000_000.0  # virtual seconds: with the autojumping clock, a hang shows as a timeout
PROCESS = "prop_bpmn"
TYPES = ("alpha", "beta", "gamma")
INSTANCES = ("bpmn-a", "bpmn-b")

# Each property run is its own trio.run on an autojumping MockClock.
pytestmark = pytest.mark.usefixtures("inline_commits")

# --- processes ---------------------------------------------------------------------------

_OPERATORS: dict[str, Callable[[int, int], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "=": operator.eq,
    "!=": operator.ne,
}


@attrs.frozen(kw_only=True)
class Condition:
    variable: str
    op: str
    value: int

    @property
    def feel(self) -> str:
        return f"={self.variable} {self.op} {self.value}"

    def holds(self, variables: dict[str, Any]) -> bool:
        return _OPERATORS[self.op](variables[self.variable], self.value)


@attrs.frozen(kw_only=True)
class Task:
    id: str
    into: str
    type: str
    delay: float
    fails: int


@attrs.frozen(kw_only=True)
class Timer:
    id: str
    into: str
    seconds: int


@attrs.frozen(kw_only=True)
class Branch:
    body: tuple[Block, ...]
    out: str
    """The flow from the branch's last element (or the split, when empty) to the merge."""
    condition: Condition | None = None
    """None on the default flow of an exclusive split, and on every parallel branch."""

    @property
    def first_flow(self) -> str:
        return self.body[0].into if self.body else self.out


@attrs.frozen(kw_only=True)
class Exclusive:
    id: str  # the split
    merge: str
    into: str
    branches: tuple[Branch, ...]

    @property
    def default(self) -> Branch:
        return next(b for b in self.branches if b.condition is None)


@attrs.frozen(kw_only=True)
class Parallel:
    id: str  # the fork
    join: str
    into: str
    branches: tuple[Branch, ...]


Block = Task | Timer | Exclusive | Parallel


@attrs.frozen(kw_only=True)
class Process:
    body: tuple[Block, ...]
    end_flow: str
    """The flow into the end event."""


def _exit(block: Block) -> str:
    if isinstance(block, Exclusive):
        return block.merge
    if isinstance(block, Parallel):
        return block.join
    return block.id


@st.composite
def processes(draw: st.DrawFn, max_depth: int = 3) -> Process:
    ids = itertools.count(1)

    def new(prefix: str) -> str:
        return f"{prefix}_{next(ids)}"

    def condition() -> Condition:
        return Condition(
            variable=draw(st.sampled_from(["x", "y"])),
            op=draw(st.sampled_from(sorted(_OPERATORS))),
            value=draw(st.integers(0, 6)),
        )

    def body(depth: int, min_size: int, max_size: int) -> tuple[Block, ...]:
        return tuple(block(depth) for _ in range(draw(st.integers(min_size, max_size))))

    def block(depth: int) -> Block:
        kinds = ["task", "timer"]
        if depth < max_depth:
            kinds += ["exclusive", "parallel", "exclusive", "parallel"]
        kind = draw(st.sampled_from(kinds))
        into = new("Flow")
        if kind == "task":
            return Task(
                id=new("Task"),
                into=into,
                type=draw(st.sampled_from(TYPES)),
                delay=draw(st.sampled_from([0, 0, 0.5, 1, 3])),
                fails=draw(st.sampled_from([0, 0, 0, 1])),
            )
        if kind == "timer":
            return Timer(id=new("Timer"), into=into, seconds=draw(st.integers(0, 5)))
        split, merge = new("Split" if kind == "exclusive" else "Fork"), new("Merge")
        count = draw(st.integers(2, 3))
        branches = []
        default_at = draw(st.integers(0, count - 1))
        for i in range(count):
            inner = body(depth + 1, 0, 2)
            if kind == "parallel":
                branches.append(Branch(body=inner, out=new("Flow")))
            else:
                cond = None if i == default_at else condition()
                branches.append(Branch(body=inner, out=new("Flow"), condition=cond))
        if kind == "exclusive":
            return Exclusive(id=split, merge=merge, into=into, branches=tuple(branches))
        return Parallel(id=split, join=merge, into=into, branches=tuple(branches))

    return Process(body=body(1, 1, 4), end_flow=new("Flow"))


# --- as BPMN XML --------------------------------------------------------------------------


@attrs.define
class _Xml:
    nodes: list[str] = attrs.Factory(list)
    flows: list[str] = attrs.Factory(list)

    def flow(self, flow_id: str, source: str, target: str, cond: Condition | None) -> None:
        attributes = f'id="{flow_id}" sourceRef="{source}" targetRef="{target}"'
        if cond is None:
            self.flows.append(f"<bpmn:sequenceFlow {attributes} />")
        else:
            expression = f"<bpmn:conditionExpression>{escape(cond.feel)}</bpmn:conditionExpression>"
            self.flows.append(f"<bpmn:sequenceFlow {attributes}>{expression}</bpmn:sequenceFlow>")

    def sequence(
        self, body: Sequence[Block], source: str, out: str, target: str, cond: Condition | None
    ) -> None:
        for block in body:
            self.flow(block.into, source, block.id, cond)
            self.block(block)
            source, cond = _exit(block), None
        self.flow(out, source, target, cond)

    def block(self, block: Block) -> None:
        if isinstance(block, Task):
            inputs = "".join(
                f"<zeebe:input source={quoteattr(f'={json.dumps(v)}')} target={quoteattr(k)} />"
                for k, v in (("element", block.id), ("type", block.type))
            )
            self.nodes.append(
                f'<bpmn:serviceTask id="{block.id}"><bpmn:extensionElements>'
                f'<zeebe:taskDefinition type="{block.type}" retries="3" />'
                f"<zeebe:ioMapping>{inputs}</zeebe:ioMapping>"
                "</bpmn:extensionElements></bpmn:serviceTask>"
            )
        elif isinstance(block, Timer):
            self.nodes.append(
                f'<bpmn:intermediateCatchEvent id="{block.id}"><bpmn:timerEventDefinition>'
                f"<bpmn:timeDuration>PT{block.seconds}S</bpmn:timeDuration>"
                "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
            )
        elif isinstance(block, Exclusive):
            default = block.default.first_flow
            self.nodes.append(f'<bpmn:exclusiveGateway id="{block.id}" default="{default}" />')
            self.nodes.append(f'<bpmn:exclusiveGateway id="{block.merge}" />')
            for branch in block.branches:
                self.sequence(branch.body, block.id, branch.out, block.merge, branch.condition)
        else:
            self.nodes.append(f'<bpmn:parallelGateway id="{block.id}" />')
            self.nodes.append(f'<bpmn:parallelGateway id="{block.join}" />')
            for branch in block.branches:
                self.sequence(branch.body, block.id, branch.out, block.join, None)


def to_xml(process: Process, shuffle: random.Random) -> tuple[bytes, list[str]]:
    """The process as a file, its elements and flows in ``shuffle``d order; the flow ids.

    The order of the flows is the order in which a split's conditions are tested.
    """
    xml = _Xml()
    xml.nodes += ['<bpmn:startEvent id="Start" />', '<bpmn:endEvent id="End" />']
    xml.sequence(process.body, "Start", process.end_flow, "End", None)
    shuffle.shuffle(xml.nodes)
    shuffle.shuffle(xml.flows)
    flow_order = [line.split('"')[1] for line in xml.flows]
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"',
        '    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"',
        '    id="Definitions_Prop" targetNamespace="https://trioflow.example/bpmn">',
        f'  <bpmn:process id="{PROCESS}" isExecutable="true">',
        *(f"    {line}" for line in xml.nodes + xml.flows),
        "  </bpmn:process>",
        "</bpmn:definitions>",
    ]
    return "\n".join(lines).encode(), flow_order


# --- what a run must do -------------------------------------------------------------------


@attrs.define
class Expected:
    """What one instance must leave: from the process and its input, no runtime involved."""

    completed: set[str] = attrs.Factory(lambda: {"Start", "End"})
    flows: set[str] = attrs.Factory(set)
    variables: dict[str, Any] = attrs.Factory(dict)
    timers: int = 0


def predecessors(process: Process) -> dict[str, frozenset[str]]:
    """The tasks that must have finished before each task starts, whichever way it goes."""
    found: dict[str, frozenset[str]] = {}

    def walk(body: Sequence[Block], before: frozenset[str]) -> frozenset[str]:
        for block in body:
            if isinstance(block, Task):
                found[block.id] = before
                before |= {block.id}
            elif isinstance(block, Exclusive | Parallel):
                before = before.union(*(walk(b.body, before) for b in block.branches))
        return before

    walk(process.body, frozenset())
    return found


def expect(process: Process, variables: dict[str, Any], flow_order: list[str]) -> Expected:
    """What an instance started with ``variables`` does: an exclusive split takes its first
    true flow in document order (``flow_order``), or else its default flow."""
    want = Expected(variables=dict(variables))
    rank = {flow_id: i for i, flow_id in enumerate(flow_order)}

    def walk(body: Sequence[Block], before: frozenset[str]) -> frozenset[str]:
        for block in body:
            want.flows.add(block.into)
            want.completed.add(block.id)
            if isinstance(block, Task):
                saw = sorted(before)
                want.variables[f"v_{block.id}"] = saw
                want.variables[f"w_{block.id}"] = variables["x"] * 10 + len(saw)
                before |= {block.id}
            elif isinstance(block, Timer):
                want.timers += 1
            else:
                if isinstance(block, Exclusive):
                    true = sorted(
                        (b for b in block.branches if b.condition and b.condition.holds(variables)),
                        key=lambda b: rank[b.first_flow],
                    )
                    taken = true[:1] or [block.default]
                else:
                    taken = list(block.branches)
                before = before.union(*(walk(branch.body, before) for branch in taken))
                want.flows.update(branch.out for branch in taken)
                want.completed.add(_exit(block))
        return before

    walk(process.body, frozenset())
    want.flows.add(process.end_flow)
    return want


# --- the handlers and what they saw ---------------------------------------------------------

Attempt = tuple[str, str, int]  # (instance id, task id, attempt number)


class Flaky(Exception):
    """A failure worth retrying."""


@attrs.define(eq=False)
class World:
    """The tasks of the process being run, and every attempt a handler started."""

    tasks: dict[str, Task] = attrs.Factory(dict)
    preds: dict[str, frozenset[str]] = attrs.Factory(dict)
    dead: bool = False
    before: collections.Counter[Attempt] = attrs.Factory(collections.Counter)
    after: collections.Counter[Attempt] = attrs.Factory(collections.Counter)

    def reset(self, process: Process | None = None) -> None:
        if process is not None:
            self.preds = predecessors(process)
            self.tasks = {}
            self._collect(process.body)
        self.dead = False
        self.before.clear()
        self.after.clear()

    def _collect(self, body: Sequence[Block]) -> None:
        for block in body:
            if isinstance(block, Task):
                self.tasks[block.id] = block
            elif isinstance(block, Exclusive | Parallel):
                for branch in block.branches:
                    self._collect(branch.body)


WORLD = World()


def registry_for(xml: bytes) -> Registry:
    """A fresh registry with the process and one generic handler per task type."""
    registry = Registry()
    assert bpmn.load(xml, registry=registry) == [PROCESS]
    for task_type in TYPES:
        bpmn.handler(task_type, registry=registry)(_handler_of(task_type))
    return registry


def _handler_of(task_type: str) -> Callable[[dict[str, Any]], Any]:
    async def handle(variables: dict[str, Any]) -> dict[str, Any]:
        element = variables["element"]
        attempt = _current_attempt()
        (WORLD.after if WORLD.dead else WORLD.before)[(variables["iid"], element, attempt)] += 1
        task = WORLD.tasks[element]
        assert (variables["type"], task.type) == (task_type, task_type)
        if task.delay:
            await trio.sleep(task.delay)
        if attempt <= task.fails:
            raise Flaky(f"{element} attempt {attempt}")
        saw = sorted(t for t in WORLD.preds[element] if f"v_{t}" in variables)
        return {f"v_{element}": saw, f"w_{element}": variables["x"] * 10 + len(saw)}

    return handle


# --- running ------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Run:
    """What one instance left: its output, its query view and its journal."""

    output: Any
    view: Any
    history: list[HistoryItem]


async def _start_all(rt: Runtime, inputs: dict[str, dict[str, Any]]) -> None:
    for iid, variables in inputs.items():
        await rt.start(PROCESS, variables, instance_id=iid)
    for iid in inputs:
        with contextlib.suppress(WorkflowFailed):
            await rt.result(iid, timeout=LONG)


async def _finish(rt: Runtime, inputs: dict[str, dict[str, Any]]) -> dict[str, Run]:
    await _start_all(rt, inputs)
    runs = {}
    for iid in inputs:
        report = await rt.replay(iid)
        assert report.ok, report.divergence
        inst = await rt.get(iid)
        assert inst.status == "completed", inst.error
        runs[iid] = Run(output=inst.output, view=await rt.query(iid), history=await rt.history(iid))
    return runs


def _open(
    path: str, registry: Registry, store: Store | None = None
) -> contextlib.AbstractAsyncContextManager[Runtime]:
    return Runtime.open(path, registry=registry, store=store, wall_time=lambda: T0)


def _attempts_of(records: Sequence[tuple[str, dict[str, Any]]]) -> set[Attempt]:
    """(instance id, task id, attempt) of every attempt whose end the journal holds."""
    tasks: dict[int, tuple[str, str]] = {}
    finished = set()
    for kind, data in records:
        if kind == "activity_scheduled":
            [variables] = data["args"]
            tasks[data["step"]] = (variables["iid"], variables["element"])
        elif kind in ("activity_completed", "activity_failed"):
            finished.add((*tasks[data["step"]], data["attempt"]))
    return finished


def _history_attempts(history: Sequence[HistoryItem]) -> set[Attempt]:
    return _attempts_of([(h.kind, h.data) for h in history])


def check_run(run: Run, want: Expected) -> None:
    """One instance did exactly what its process and input say, each thing once."""
    assert run.output == want.variables
    view = run.view
    assert view["active"] == [] and view["tasks"] == {}
    assert set(view["completed"]) == want.completed
    assert set(view["flows"]) == want.flows
    assert view["variables"] == want.variables
    kinds = collections.Counter(h.kind for h in run.history)
    assert kinds["workflow_completed"] == 1
    first_attempts = collections.Counter(
        h.data["args"][0]["element"]
        for h in run.history
        if h.kind == "activity_scheduled" and h.data["attempt"] == 1
    )
    # A join firing twice would run what follows it twice.
    assert set(first_attempts.values()) <= {1}
    assert set(first_attempts) == {k[2:] for k in want.variables if k.startswith("v_")}
    sleeps = [h for h in run.history if h.kind == "timer_started" and h.data["purpose"] == "sleep"]
    assert len(sleeps) == want.timers


async def run_uninterrupted(
    path: str, registry: Registry, inputs: dict[str, dict[str, Any]]
) -> tuple[dict[str, Run], int]:
    WORLD.reset()
    store = DyingStore(SqliteStore(path))
    with no_crash_logged():
        async with _open(path, registry, store) as rt:
            runs = await _finish(rt, inputs)
        # Reopened on the same file, replay rebuilds the same view of each instance.
        async with _open(path, registry) as rt:
            for iid, run in runs.items():
                assert (await rt.replay(iid)).ok
                assert await rt.query(iid) == run.view
    assert set(WORLD.before.values()) <= {1}, "an attempt ran twice without a crash"
    assert set(WORLD.before) == set().union(*(_history_attempts(r.history) for r in runs.values()))
    return runs, len(store.committed)


async def run_crashed(
    path: str,
    registry: Registry,
    inputs: dict[str, dict[str, Any]],
    die_after: int,
    at_once: bool,
) -> tuple[DyingStore, dict[str, Any], dict[str, Run]]:
    """Run until the store dies; the views replay makes of the file then; the finished runs."""
    WORLD.reset()
    with trio.CancelScope() as scope:

        def on_death() -> None:
            WORLD.dead = True
            scope.cancel()

        store = DyingStore(
            SqliteStore(path), die_after=die_after, at_once=at_once, on_death=on_death
        )
        try:
            async with _open(path, registry, store) as rt:
                await _start_all(rt, inputs)
        except* Died:
            pass
    WORLD.dead = True  # the recovering process runs "after the death" too
    left = views_left(path, registry)
    with no_crash_logged():
        async with _open(path, registry) as rt:
            finals = await _finish(rt, inputs)
    return store, left, finals


def check_attempts(before_death: list[StoredRecord], finals: dict[str, Run]) -> None:
    """Every attempt ran at least once, and never again once its end was journaled."""
    journaled = _attempts_of([(s.kind, json.loads(s.data)) for s in before_death])
    for attempt in journaled:
        assert WORLD.before[attempt] == 1, attempt
        assert WORLD.after[attempt] == 0, f"{attempt} ran again after its end was journaled"
    finished = set().union(*(_history_attempts(run.history) for run in finals.values()))
    assert set(WORLD.before) | set(WORLD.after) == finished
    for attempt in finished:
        assert 1 <= WORLD.before[attempt] + WORLD.after[attempt] <= 2, attempt


def views_left(path: str, registry: Registry) -> dict[str, Any]:
    """Each instance's view as replay rebuilds it from the file a death left behind."""
    views = {}
    with SqliteStore(path) as left:
        for iid in INSTANCES:
            if left.get(iid) is None:
                continue
            assert replay_report(registry, left, iid).ok
            views[iid] = replayed_core(registry, left, iid).exposed
    return views


def check_left(views: dict[str, Any], finals: dict[str, Run]) -> None:
    """What a death left is a part of what the recovered run reached."""
    for iid, view in views.items():
        if view is None:  # died before the first token moved
            continue
        final = finals[iid].view
        assert set(view["completed"]) <= set(final["completed"])
        assert set(view["flows"]) <= set(final["flows"])
        assert view["variables"].items() <= final["variables"].items()


def _same(final: Run, reference: Run) -> None:
    """The same outcome; the order of parallel work may differ after a crash."""
    assert final.output == reference.output
    for key in ("completed", "flows"):
        assert set(final.view[key]) == set(reference.view[key])
    assert final.view["variables"] == reference.view["variables"]
    assert _history_attempts(final.history) == _history_attempts(reference.history)


# --- the property ------------------------------------------------------------------------


def _count(body: Sequence[Block], kind: type) -> int:
    total = 0
    for block in body:
        total += isinstance(block, kind)
        if isinstance(block, Exclusive | Parallel):
            total += sum(_count(b.body, kind) for b in block.branches)
    return total


_INPUT = st.fixed_dictionaries({"x": st.integers(0, 6), "y": st.integers(0, 6)})


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(process=processes(), a=_INPUT, b=_INPUT, shuffle=st.randoms(), data=st.data())
def test_a_random_process_replays_and_survives_a_crash_anywhere(
    process: Process,
    a: dict[str, int],
    b: dict[str, int],
    shuffle: random.Random,
    data: st.DataObject,
) -> None:
    xml, flow_order = to_xml(process, shuffle)
    registry = registry_for(xml)
    WORLD.reset(process)
    inputs = {
        iid: {**variables, "iid": iid} for iid, variables in zip(INSTANCES, (a, b), strict=True)
    }
    event(f"parallel blocks: {min(_count(process.body, Parallel), 3)}")
    event(f"exclusive blocks: {min(_count(process.body, Exclusive), 3)}")
    with tempfile.TemporaryDirectory() as tmp:

        async def main() -> None:
            references, appends = await run_uninterrupted(
                str(Path(tmp) / "ref.db"), registry, inputs
            )
            for iid, run in references.items():
                check_run(run, expect(process, inputs[iid], flow_order))
            # A few crash points per process: a run is cheap next to finding a good process.
            crashes = st.tuples(st.integers(1, appends), st.booleans())
            for n, (die_after, at_once) in enumerate(
                data.draw(st.lists(crashes, min_size=1, max_size=3, unique=True), label="crashes")
            ):
                path = str(Path(tmp) / f"crashed-{n}.db")
                store, left, finals = await run_crashed(path, registry, inputs, die_after, at_once)
                event("died" if store.dead else "finished before dying")
                check_left(left, finals)
                for iid, final in finals.items():
                    _same(final, references[iid])
                    check_run(final, expect(process, inputs[iid], flow_order))
                check_attempts([rec for iid in INSTANCES for rec in store.records(iid)], finals)

        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
