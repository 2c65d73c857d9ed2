"""What the modules below ``Runtime`` need of it, as protocols that ``Runtime`` satisfies.

They import these instead of ``_runtime`` (not even under ``TYPE_CHECKING``), so that no
module the runtime is built from depends on the runtime itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from ._definitions import WorkflowDefinition
from ._instance import HistoryItem, Instance


class StartInstance(Protocol):
    """Starts an instance and returns its id once its start is committed (``Runtime.start``)."""

    async def __call__(
        self,
        workflow: WorkflowDefinition | str,
        input: Any = None,
        *,
        instance_id: str | None = None,
    ) -> str: ...


class Reader(Protocol):
    """Reads workflows and instances, as ``Runtime`` does."""

    def workflows(self) -> Sequence[WorkflowDefinition]: ...

    async def get(self, instance_id: str) -> Instance: ...

    async def history(self, instance_id: str) -> Sequence[HistoryItem]: ...

    async def query(self, instance_id: str) -> Any: ...
