"""Other engines' extensions: which ones are metadata, and which would change what runs.

Files drawn for Camunda 7, Activiti or Flowable carry attributes and extension elements
in those engines' namespaces. Most are metadata (forms, properties, priorities, history
settings, asynchronous continuations, which only move transaction boundaries) and are
ignored, as Zeebe ignores them. The ones listed here tell the other engine to run code,
map variables or retry differently; running the diagram without them would do something
else than its author meant, so they are refused by name.

Zeebe differs: it ignores every non-Zeebe extension, behaviour-changing or not.
Extensions of any other namespace (Signavio, bpmn.io colours, modeler templates) are
ignored: nothing tells what they mean, and none is known to change execution.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

#: Camunda 7, Activiti and Flowable share these names
ENGINE_NAMESPACES = frozenset(
    {
        "http://camunda.org/schema/1.0/bpmn",
        "http://activiti.org/bpmn",
        "http://flowable.org/bpmn",
    }
)
_PREFIXES = {
    "http://camunda.org/schema/1.0/bpmn": "camunda",
    "http://activiti.org/bpmn": "activiti",
    "http://flowable.org/bpmn": "flowable",
}

#: attributes that run code, store results or iterate
BEHAVIOUR_ATTRIBUTES = frozenset(
    {
        "class",
        "delegateExpression",
        "expression",
        "resultVariable",
        "topic",
        "type",
        "collection",
        "elementVariable",
        "initiator",
        "errorCodeVariable",
        "errorMessageVariable",
        "calledElement",
        "variableMappingClass",
        "variableMappingDelegateExpression",
    }
)

#: extension elements that run code, map variables or change retries
BEHAVIOUR_ELEMENTS = frozenset(
    {
        "inputOutput",
        "executionListener",
        "taskListener",
        "connector",
        "field",
        "in",
        "out",
        "script",
        "failedJobRetryTimeCycle",
        "errorEventDefinition",
        "eventListener",
    }
)


def _local(tag: str) -> tuple[str, str]:
    namespace, _, name = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    return namespace, name


def behaviour_extensions(element: ET.Element, extension_blocks: list[ET.Element]) -> list[str]:
    """The engine extensions on ``element`` that change behaviour, as ``camunda:class``."""
    found: list[str] = []
    for key in element.attrib:
        namespace, name = _local(key)
        if namespace in ENGINE_NAMESPACES and name in BEHAVIOUR_ATTRIBUTES:
            found.append(f"{_PREFIXES[namespace]}:{name}")
    for block in extension_blocks:
        for child in block:
            namespace, name = _local(child.tag)
            if namespace in ENGINE_NAMESPACES and name in BEHAVIOUR_ELEMENTS:
                found.append(f"{_PREFIXES[namespace]}:{name}")
    return list(dict.fromkeys(found))
