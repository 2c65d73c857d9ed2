"""Event definitions and the job, script and decision forms of tasks, read from the XML.

The part of the parser that turns one element's event definition or Zeebe task
extensions into model values, reporting what cannot run. ``_parser`` walks the file and
the scopes; this reads what is inside one element.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from . import _timers
from ._extensions import ExtensionReader
from ._model import (
    BpmnError,
    CompensateEventDefinition,
    ErrorDeclaration,
    ErrorEventDefinition,
    EscalationDeclaration,
    EscalationEventDefinition,
    EventDefinition,
    LinkEventDefinition,
    Message,
    MessageEventDefinition,
    Signal,
    SignalEventDefinition,
    TerminateEventDefinition,
    TimerEventDefinition,
)
from ._xml import MODEL, local_name

#: which event definitions each kind of event accepts (start events in subprocesses: none)
TRIGGERS: dict[str, tuple[str, ...]] = {
    "startEvent": ("messageEventDefinition", "timerEventDefinition", "signalEventDefinition"),
    "endEvent": (
        "terminateEventDefinition", "errorEventDefinition", "messageEventDefinition",
        "escalationEventDefinition", "signalEventDefinition", "compensateEventDefinition",
    ),
    "intermediateCatchEvent": (
        "messageEventDefinition", "timerEventDefinition", "linkEventDefinition",
        "signalEventDefinition",
    ),
    "intermediateThrowEvent": (
        "linkEventDefinition", "messageEventDefinition", "escalationEventDefinition",
        "signalEventDefinition", "compensateEventDefinition",
    ),
    "boundaryEvent": (
        "timerEventDefinition", "messageEventDefinition", "errorEventDefinition",
        "escalationEventDefinition", "signalEventDefinition", "compensateEventDefinition",
    ),
}  # fmt: skip
_EVENT_SUBPROCESS_STARTS = (
    "messageEventDefinition", "timerEventDefinition", "errorEventDefinition",
    "escalationEventDefinition", "signalEventDefinition",
)  # fmt: skip
JOB_EVENTS = ("intermediateThrowEvent", "endEvent")
_NEEDS_TRIGGER = ("intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent")

#: children that describe an element without changing what it does
NODE_CHILDREN = frozenset({"incoming", "outgoing", "documentation", "extensionElements"})


class EventReader(ExtensionReader):
    """Reads event definitions against the file's declarations, and task forms."""

    def __init__(self, lines: dict[ET.Element, int]) -> None:
        super().__init__(lines)
        self.messages: dict[str, Message] = {}
        self.errors: dict[str, ErrorDeclaration] = {}
        self.escalations: dict[str, EscalationDeclaration] = {}
        self.signals: dict[str, Signal] = {}
        self.event_subprocesses: set[str] = set()
        """Ids of the event subprocesses seen so far: their start events may have triggers."""

    def rule_or_script(
        self, extensions: dict[str, ET.Element], node_id: str, kind: str
    ) -> dict[str, Any]:
        """A script task's FEEL script, or either task's job; a DMN decision is refused."""
        if "calledDecision" in extensions:
            self.problem(
                f"business rule task {node_id!r} calls a DMN decision (zeebe:calledDecision), "
                "which is not supported: give it a zeebe:taskDefinition type and register "
                "a handler that decides (bpmn.handler)"
            )
            return {}
        script = extensions.get("script")
        if script is not None and "taskDefinition" in extensions:
            self.problem(
                f"script task {node_id!r} has both a zeebe:script and a zeebe:taskDefinition; "
                "it needs one of them"
            )
            return {}
        if script is not None:
            expression = script.get("expression", "").strip()
            variable = script.get("resultVariable", "").strip()
            if not expression or not variable:
                self.problem(
                    f"the zeebe:script of script task {node_id!r} needs an expression and a "
                    "resultVariable"
                )
                return {}
            self.check_expression(node_id, "script", expression, always=True)
            return {"expression": expression, "result_variable": variable}
        if "taskDefinition" not in extensions:
            what = "a zeebe:script or a" if kind == "scriptTask" else "a"
            self.problem(
                f"element {node_id!r} of type {kind!r} needs {what} zeebe:taskDefinition "
                "(the job type of the handler that runs it), as in Zeebe"
            )
            return {}
        return self.job(extensions, node_id, kind)

    def job_event(
        self, fields: dict[str, Any], extensions: dict[str, ET.Element], kind: str
    ) -> None:
        """A message throw or end event is a job, as in Zeebe: it needs a job type.

        Without one it is refused rather than run as nothing: the message the user meant
        to send would be lost without a word (and Zeebe refuses it too).
        """
        node_id = fields["id"]
        event = "message end event" if kind == "endEvent" else "message throw event"
        if isinstance(fields.get("trigger"), MessageEventDefinition):
            fields.update(self.job(extensions, node_id, kind))
            if "taskDefinition" not in extensions:
                self.problem(
                    f"{event} {node_id!r} needs a zeebe:taskDefinition type: as in Zeebe it "
                    "is a job, run by the handler registered for that type (bpmn.handler)"
                )
        elif "taskDefinition" in extensions:
            self.problem(
                f"element {node_id!r} of type {kind!r} has a zeebe:taskDefinition, which only "
                "message throw and end events have"
            )

    def trigger(
        self, element: ET.Element, kind: str, parent_id: str | None, definitions: list[ET.Element]
    ) -> EventDefinition | bool | None:
        """The event definition, None for a none event, or False after a problem."""
        node_id = element.get("id", "")
        if not definitions:
            if kind in _NEEDS_TRIGGER:
                self.problem(
                    f"element {node_id!r} of type {kind!r} without an event definition "
                    "is not supported"
                )
                return False
            return None
        if len(definitions) > 1:
            self.problem(
                f"element {node_id!r} of type {kind!r} has several event definitions, "
                "which is not supported"
            )
            return False
        definition = definitions[0]
        _, name = local_name(definition.tag)
        allowed = TRIGGERS[kind]
        where = ""
        if kind == "startEvent" and parent_id in self.event_subprocesses:
            allowed = _EVENT_SUBPROCESS_STARTS
        elif kind == "startEvent" and parent_id is not None:
            allowed, where = (), " in a subprocess"
        if name not in allowed:
            self.problem(
                f"element {node_id!r} of type {kind!r} with {name}{where} is not supported"
            )
            return False
        if name == "messageEventDefinition" and kind in JOB_EVENTS:
            # A job for a handler: the message is only a name here, and often absent.
            message = self.message_ref(definition, node_id, required=False)
            return MessageEventDefinition(message=message or Message(id="", name=""))
        if name == "messageEventDefinition":
            message = self.message_ref(definition, node_id, required=True)
            return False if message is None else MessageEventDefinition(message=message)
        if name == "timerEventDefinition":
            return self.timer(definition, node_id)
        if name == "errorEventDefinition":
            return self.error_definition(definition, node_id, kind)
        if name == "escalationEventDefinition":
            return self.escalation_definition(definition, node_id, kind)
        if name == "signalEventDefinition":
            return self.signal_definition(definition, node_id)
        if name == "compensateEventDefinition":
            return CompensateEventDefinition(activity_ref=definition.get("activityRef"))
        if name == "linkEventDefinition":
            link = definition.get("name", "").strip()
            if not link:
                self.problem(f"link event {node_id!r} has no name on its linkEventDefinition")
                return False
            return LinkEventDefinition(name=link)
        return TerminateEventDefinition()

    def timer(self, definition: ET.Element, node_id: str) -> TimerEventDefinition | bool:
        found = []
        for child in definition:
            namespace, name = local_name(child.tag)
            kinds = {"timeDuration": "duration", "timeDate": "date", "timeCycle": "cycle"}
            if namespace == MODEL and name in kinds:
                found.append((kinds[name], (child.text or "").strip()))
            elif namespace != MODEL or name not in NODE_CHILDREN:
                self.unsupported(child, node_id)
        if len(found) != 1 or not found[0][1]:
            self.problem(
                f"timer event {node_id!r} needs exactly one non-empty timeDuration, "
                "timeDate or timeCycle"
            )
            return False
        kind, text = found[0]
        timer = TimerEventDefinition(kind=kind, expression=text)  # type: ignore[arg-type]
        try:
            _timers.check_timer(timer)
        except BpmnError as error:
            self.problem(f"timer event {node_id!r}: {error}")
            return False
        return timer

    def error_definition(
        self, definition: ET.Element, node_id: str, kind: str
    ) -> ErrorEventDefinition | bool:
        ref = definition.get("errorRef")
        if ref is None:
            if kind == "endEvent":
                self.problem(f"error end event {node_id!r} needs an errorRef")
                return False
            return ErrorEventDefinition()
        if ref not in self.errors:
            self.problem(f"element {node_id!r} refers to unknown error {ref!r}")
            return False
        error = self.errors[ref]
        if kind == "endEvent" and not error.error_code:
            self.problem(f"error {ref!r} thrown by end event {node_id!r} has no errorCode")
        return ErrorEventDefinition(error=error)

    def escalation_definition(
        self, definition: ET.Element, node_id: str, kind: str
    ) -> EscalationEventDefinition | bool:
        """A thrown escalation needs a code; a caught one without a reference catches any."""
        throws = kind in JOB_EVENTS
        ref = definition.get("escalationRef")
        if ref is None:
            if throws:
                self.problem(f"escalation event {node_id!r} needs an escalationRef")
                return False
            return EscalationEventDefinition()
        if ref not in self.escalations:
            self.problem(f"element {node_id!r} refers to unknown escalation {ref!r}")
            return False
        escalation = self.escalations[ref]
        if throws and not escalation.escalation_code:
            self.problem(f"escalation {ref!r} thrown by {node_id!r} has no escalationCode")
        return EscalationEventDefinition(escalation=escalation)

    def signal_definition(
        self, definition: ET.Element, node_id: str
    ) -> SignalEventDefinition | bool:
        """The referenced signal: it must be declared, with a name that is not FEEL."""
        ref = definition.get("signalRef")
        if ref is None:
            self.problem(f"signal event {node_id!r} needs a signalRef")
            return False
        if ref not in self.signals:
            self.problem(f"element {node_id!r} refers to unknown signal {ref!r}")
            return False
        return SignalEventDefinition(signal=self.signals[ref])

    def signal(self, element: ET.Element) -> None:
        """A ``<signal>`` declaration: its name is what is broadcast and waited for."""
        self.here = element
        signal_id = element.get("id", "")
        name = (element.get("name") or "").strip()
        if not name:
            self.problem(f"signal {signal_id!r} has no name")
        elif name.startswith("="):
            self.problem(
                f"signal {signal_id!r} has the name {name!r}: a FEEL expression as a signal "
                "name is not supported, give it a fixed name"
            )
        self.signals[signal_id] = Signal(id=signal_id, name=name)

    def message_ref(self, element: ET.Element, node_id: str, *, required: bool) -> Message | None:
        """The referenced message; None when absent or unknown (a problem if it mattered)."""
        ref = element.get("messageRef")
        if ref is None:
            if required:
                self.problem(f"element {node_id!r} needs a messageRef")
            return None
        if ref not in self.messages:
            self.problem(f"element {node_id!r} refers to unknown message {ref!r}")
            return None
        return self.messages[ref]
