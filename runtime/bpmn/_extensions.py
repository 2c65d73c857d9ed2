"""Zeebe's extension elements on BPMN elements, and other engines' that change behaviour."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from . import _feel
from ._model import MultiInstance, VariableMapping
from ._vendor import behaviour_extensions
from ._xml import MODEL, ZEEBE, Report, local_name, q

ZEEBE_METADATA = frozenset(
    {
        "properties",
        "formDefinition",
        "userTaskForm",
        "userTask",
        "versionTag",
        "taskSchedule",
        "priorityDefinition",
        "modelerTemplate",
    }
)
ZEEBE_ALLOWED: dict[str, frozenset[str]] = {
    "serviceTask": frozenset({"taskDefinition", "taskHeaders", "ioMapping"}),
    "sendTask": frozenset({"taskDefinition", "taskHeaders", "ioMapping"}),
    "userTask": frozenset({"assignmentDefinition", "taskHeaders", "ioMapping"}),
    "scriptTask": frozenset({"script", "taskDefinition", "taskHeaders", "ioMapping"}),
    "businessRuleTask": frozenset({"calledDecision", "taskDefinition", "taskHeaders", "ioMapping"}),
    "intermediateThrowEvent": frozenset({"taskDefinition", "taskHeaders", "ioMapping"}),
    "endEvent": frozenset({"taskDefinition", "taskHeaders", "ioMapping"}),
    "callActivity": frozenset({"calledElement", "ioMapping"}),
}
NO_MAPPINGS = frozenset(
    {"exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway", "process"}
)
#: events that only happen: output mappings, yes; input mappings would map into nothing
NO_INPUTS = frozenset({"startEvent", "boundaryEvent"})


class ExtensionReader(Report):
    """Reads extension elements, reporting what cannot be run."""

    def vendor(self, element: ET.Element, owner: str, kind: str) -> None:
        """Refuse another engine's extensions that would change what ``element`` does."""
        blocks = element.findall(q(MODEL, "extensionElements"))
        for name in behaviour_extensions(element, blocks):
            self.problem(
                f"element {owner!r} of type {kind!r} has {name}, which changes what it does "
                "in another engine and is not supported (use Zeebe's extensions)",
                element,
            )

    def extensions(
        self, element: ET.Element, owner: str, kind: str, allowed: frozenset[str]
    ) -> dict[str, ET.Element]:
        found: dict[str, ET.Element] = {}
        for block in element.findall(q(MODEL, "extensionElements")):
            for child in block:
                namespace, name = local_name(child.tag)
                if namespace != ZEEBE or name in ZEEBE_METADATA:
                    continue
                if name in allowed:
                    found[name] = child
                else:
                    self.problem(
                        f"element {owner!r} of type {kind!r} has zeebe:{name}, "
                        "which is not supported"
                    )
        return found

    def mappings(
        self, block: ET.Element, owner: str
    ) -> tuple[tuple[VariableMapping, ...], tuple[VariableMapping, ...]]:
        lists: dict[str, list[VariableMapping]] = {"input": [], "output": []}
        for child in block:
            namespace, name = local_name(child.tag)
            if namespace != ZEEBE or name not in lists:
                self.unsupported(child, owner)
                continue
            source, target = child.get("source", "").strip(), child.get("target", "").strip()
            if not source or not target:
                self.problem(f"zeebe:{name} of {self.named(owner)} needs a source and a target")
                continue
            self.check_expression(owner, f"{name} mapping to {target!r}", source)
            lists[name].append(VariableMapping(source=source, target=target))
        return tuple(lists["input"]), tuple(lists["output"])

    def job(self, extensions: dict[str, ET.Element], owner: str, kind: str) -> dict[str, Any]:
        """A task's job: its type (text or FEEL), retries and headers.

        Without a ``zeebe:taskDefinition`` the handler is found by the element id (Zeebe
        refuses such a task); with one, its type must not be empty, as in Zeebe.
        """
        fields: dict[str, Any] = {"headers": self.headers(extensions)}
        definition = extensions.get("taskDefinition")
        if definition is not None:
            task_type = definition.get("type", "").strip()
            if not task_type:
                self.problem(
                    f"element {owner!r} of type {kind!r} has a zeebe:taskDefinition without "
                    "a type (the job type that picks its handler)"
                )
            self.check_expression(owner, "job type", task_type)
            fields["task_type"] = task_type or None
            retries = definition.get("retries", "3").strip()
            if retries.isdigit():
                fields["retries"] = int(retries)
            elif retries.startswith("="):
                self.check_expression(owner, "retries", retries)
                fields["retries_expression"] = retries
            else:
                self.problem(
                    f"{self.named(owner)}: retries {retries!r} is not a whole number or an "
                    "expression"
                )
        return fields

    def loop(self, element: ET.Element, owner: str) -> MultiInstance | None:
        """A multi-instance marker with Zeebe's loop characteristics (None after a problem)."""
        _, name = local_name(element.tag)
        if name != "multiInstanceLoopCharacteristics":
            self.problem(
                f"{self.named(owner)} has {name}, which is not supported "
                "(as in Zeebe: use multi-instance with zeebe:loopCharacteristics)",
                element,
            )
            return None
        completion: str | None = None
        zeebe: ET.Element | None = None
        for child in element:
            namespace, child_name = local_name(child.tag)
            if namespace == MODEL and child_name == "completionCondition":
                completion = (child.text or "").strip() or None
                if completion is not None:
                    self.check_expression(owner, "completion condition", completion, always=True)
            elif namespace == MODEL and child_name == "extensionElements":
                for extension in child:
                    extension_namespace, extension_name = local_name(extension.tag)
                    if extension_namespace != ZEEBE:
                        continue
                    if extension_name == "loopCharacteristics":
                        zeebe = extension
                    else:
                        self.problem(
                            f"the multi-instance marker of {self.named(owner)} has "
                            f"zeebe:{extension_name}, which is not supported",
                            extension,
                        )
            elif namespace == MODEL and child_name == "loopCardinality":
                self.problem(
                    f"{self.named(owner)} has a loopCardinality, which is not supported "
                    "(as in Zeebe: give zeebe:loopCharacteristics an inputCollection, "
                    "such as '=for i in 1..3 return i')",
                    child,
                )
            elif namespace != MODEL or child_name != "documentation":
                self.unsupported(child, owner)
        fields = {} if zeebe is None else {k: v.strip() for k, v in zeebe.attrib.items()}
        collection = fields.get("inputCollection", "")
        if not collection:
            self.problem(
                f"the multi-instance {self.named(owner)} needs zeebe:loopCharacteristics "
                "with an inputCollection (the list to run it for)",
                element,
            )
            return None
        self.check_expression(owner, "inputCollection", collection, always=True)
        output_element = fields.get("outputElement") or None
        if output_element is not None:
            self.check_expression(owner, "outputElement", output_element, always=True)
        output_collection = fields.get("outputCollection") or None
        if (output_element is None) != (output_collection is None):
            self.problem(
                f"the multi-instance {self.named(owner)} needs both an outputCollection and "
                "an outputElement, or neither",
                element,
            )
        return MultiInstance(
            sequential=element.get("isSequential", "false").strip() == "true",
            input_collection=collection,
            input_element=fields.get("inputElement") or None,
            output_collection=output_collection,
            output_element=output_element,
            completion_condition=completion,
        )

    def headers(self, extensions: dict[str, ET.Element]) -> dict[str, str]:
        block = extensions.get("taskHeaders")
        if block is None:
            return {}
        return {h.get("key", ""): h.get("value", "") for h in block if h.get("key")}

    def check_expression(self, owner: str, what: str, text: str, *, always: bool = False) -> None:
        """Compile a FEEL text now, so a syntax error fails the load and not an instance."""
        if always or text.lstrip().startswith("="):
            try:
                _feel.compile(text)
            except _feel.FeelError as error:
                self.problem(f"{self.named(owner)}: {what}: {error}")
