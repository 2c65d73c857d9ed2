"""Resolving an incident: the operator fixed its cause, the instance tries again.

An incident is a step of the instance's journal (``IncidentRaised``, instance status
``incident``); resolving it appends ``IncidentResolved`` with the variables to set first,
and the work that failed starts again with its retries counted afresh.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from . import _records as r
from ._convert import dumps
from ._errors import IncidentNotFound, IncidentResolved, InstanceNotFound, InvalidInput
from ._messages import Deliver, Reply
from ._services import Services
from .store import TERMINAL


async def resolve_incident(
    services: Services,
    instance_id: str,
    incident_id: str,
    variables: Mapping[str, Any] | None = None,
    *,
    forward: Callable[[dict[str, Any]], Awaitable[bool]] | None = None,
) -> None:
    """Resolve incident ``incident_id`` of ``instance_id`` once its journal holds it.

    ``InstanceNotFound``/``IncidentNotFound`` when there is no such instance or incident,
    ``IncidentResolved`` when it is no longer open, ``InvalidInput`` for variables that are
    not a JSON object. Once those checks pass, ``forward`` (given the variables) may hand the
    resolution to the process that drives the instance: True when it did.
    """
    row = services.store.get(instance_id)
    if row is None:
        raise InstanceNotFound(f"no instance has id {instance_id!r}")
    values = _variables(variables)
    step = int(incident_id) if incident_id.isdecimal() else -1
    raised = any(
        stored.kind == r.kind_of(r.IncidentRaised)
        and getattr(r.decode(stored.kind, stored.version, stored.data), "step", None) == step
        for stored in services.store.read(instance_id)
    )
    if not raised:
        raise IncidentNotFound(f"instance {instance_id!r} has no incident {incident_id!r}")
    if row.status in TERMINAL:
        raise IncidentResolved(
            f"incident {incident_id!r} is not open: instance {instance_id!r} is {row.status}"
        )
    if forward is not None and await forward(values):
        return
    reply = Reply()
    record = r.IncidentResolved(step=step, variables=values)
    await services.system.send(instance_id, Deliver(record=record, reply=reply))
    if not await reply.wait():
        raise IncidentResolved(
            f"incident {incident_id!r} of instance {instance_id!r} is resolved already"
        )


def _variables(variables: Mapping[str, Any] | None) -> dict[str, Any]:
    if variables is None:
        return {}
    if not isinstance(variables, Mapping) or not all(isinstance(k, str) for k in variables):
        raise InvalidInput(["variables: must be an object with string keys"])
    try:
        dumps(variables)
    except (TypeError, ValueError) as exc:
        raise InvalidInput([f"variables: not JSON data ({exc})"]) from exc
    return dict(variables)
