"""SVG diagrams of loaded BPMN workflows, and of instances with their progress marked."""

from __future__ import annotations

import urllib.parse
from typing import Any

from .._errors import TrioflowError
from .._ports import Reader
from ._load import LoadedProcess, loaded_process
from ._model import BpmnError
from ._svg import render


class DiagramNotFound(TrioflowError, LookupError):
    """There is no diagram to draw: not a BPMN workflow, or a process without BPMNDI."""

    http_status = 404


def _render(loaded: LoadedProcess, **marks: Any) -> str:
    try:
        return render(loaded.definitions, loaded.process.id, **marks)
    except BpmnError as error:
        raise DiagramNotFound(str(error)) from None


async def workflow_diagram(runtime: Reader, name: str) -> str:
    """The latest version of BPMN workflow ``name`` as SVG."""
    for definition in runtime.workflows():
        if definition.name == name:
            loaded = loaded_process(name, definition.version)
            if definition.kind != "bpmn" or loaded is None:
                raise DiagramNotFound(f"workflow {name!r} is not a BPMN process")
            return _render(loaded)
    raise DiagramNotFound(f"no workflow is registered as {name!r}")


async def instance_diagram(runtime: Reader, instance_id: str) -> str:
    """The diagram of the instance's version, its completed and active elements marked."""
    instance = await runtime.get(instance_id)
    history = await runtime.history(instance_id)
    version = history[0].data.get("version") if history else None
    loaded = loaded_process(instance.workflow, version)
    if loaded is None:
        raise DiagramNotFound(
            f"instance {instance_id!r} runs {instance.workflow!r}, which is not a loaded "
            "BPMN process"
        )
    view: Any = await runtime.query(instance_id)
    if not isinstance(view, dict):
        view = {}
    completed = [*view.get("completed", ()), *view.get("flows", ())]
    incidents = [item["element_id"] for item in instance.incidents]
    return _render(
        loaded,
        completed=completed,
        active=list(view.get("active", ())),
        incidents=incidents,
        links=_child_links(view.get("called", {})),
        counts={
            element_id: f"{loop['completed']}/{loop['instances']}"
            for element_id, loop in view.get("multi_instance", {}).items()
        },
    )


def _child_links(called: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Each call activity's link to its child in the viewer: the first still running (a
    multi-instance call has several), else the latest."""
    links: dict[str, str] = {}
    running: set[str] = set()
    for child_id, call in called.items():
        element_id = call["element_id"]
        if element_id in running or call["status"] == "not started":
            continue
        links[element_id] = "/ui/instances/" + urllib.parse.quote(child_id, safe="")
        if call["status"] == "active":
            running.add(element_id)
    return links
