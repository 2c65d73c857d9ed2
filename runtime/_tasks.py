"""The workflow's coroutines, run by hand: the core is their only scheduler, never Trio.

Tasks (the workflow and the coroutines passed to ``gather``) run in a FIFO ready queue,
and futures wake their waiters in registration order, so the order in which a workflow
issues its operations depends only on the journal. Awaiting a ``Future`` that is not done
parks the task until the future is resolved; awaiting anything else is an error thrown
back into the workflow.
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Coroutine
from typing import Any

import attrs

from ._context import Future
from ._errors import UnsupportedAwait

_Ready = tuple["Task", Future[Any] | None, BaseException | None]


@attrs.define(eq=False)
class Task:
    tasks: Tasks
    coro: Coroutine[Any, Any, Any]
    done: Future[Any]
    waiting_on: Future[Any] | None = None

    def __call__(self, _: Future[Any]) -> None:
        """The callback of the future it waits on (the task itself: no closure to allocate)."""
        self.waiting_on = None
        self.tasks.ready.append((self, None, None))


class Tasks:
    """The tasks of one workflow instance and the queue of those ready to run."""

    def __init__(self, workflow: str) -> None:
        self._workflow = workflow
        self._all: list[Task] = []
        self.ready: collections.deque[_Ready] = collections.deque()
        self.current: Task | None = None
        """The task running now: the owner of the operations it starts."""

    @property
    def live(self) -> list[Task]:
        """The tasks that have not ended, in the order they were spawned."""
        return list(self._all)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> Task:
        task = Task(tasks=self, coro=coro, done=Future())
        self._all.append(task)
        self.ready.append((task, None, None))
        return task

    def run_ready(self) -> None:
        """Run every ready task until each has ended or waits for a future not done."""
        ready = self.ready
        while ready:
            task, future, error = ready.popleft()
            self.current = task
            while True:
                try:
                    if error is not None:
                        yielded = task.coro.throw(error)
                    else:
                        yielded = task.coro.send(future.result() if future is not None else None)
                except StopIteration as stop:
                    self._all.remove(task)
                    task.done.set_result(stop.value)
                    break
                except BaseException as exc:
                    self._all.remove(task)
                    task.done.set_error(exc)
                    break
                # A raising future is re-raised by Future.__await__ itself; we only
                # need to resume with send(None) once it is done.
                future, error = None, None
                if isinstance(yielded, Future):
                    if yielded.done:
                        continue
                    task.waiting_on = yielded
                    yielded.add_callback(task)  # its __call__ puts it back in the ready queue
                    break
                error = UnsupportedAwait(
                    f"workflow {self._workflow!r} awaited {_describe_await(task.coro)}; "
                    "workflow code may only await ctx.run, ctx.sleep, ctx.sleep_until, "
                    "ctx.wait_event and ctx.gather"
                )
        self.current = None

    def throw_into_waiting(self, error: BaseException) -> None:
        """Every task that waits stops waiting and gets ``error`` raised at its await."""
        for task in self._all:
            if task.waiting_on is not None:
                task.waiting_on.remove_callback(task)
                task.waiting_on = None
                self.ready.append((task, None, error))

    def end(self) -> None:
        """The workflow has its outcome: tasks still running (orphaned ``gather`` children)
        are closed."""
        for task in list(self._all):
            task.coro.close()
        self._all.clear()

    def close(self) -> None:
        """Unlink every task from what it waits for and close its coroutine, as Python's
        cyclic collector would, so that reference counting frees them at once."""
        for task in self._all:
            if task.waiting_on is not None:
                task.waiting_on.remove_callback(task)
                task.waiting_on = None
        tasks, self._all = self._all, []
        self.ready.clear()
        for task in tasks:
            # RuntimeError: it awaited in a finally block; nothing it does counts any more.
            with contextlib.suppress(RuntimeError):
                task.coro.close()


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
