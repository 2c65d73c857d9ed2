"""How a token's walk stops early: an incident, a thrown BPMN error, or a withdrawal.

Incident: the instance cannot go on (a FEEL error, a missing or failing handler) and
fails, naming the element. Thrown: a BPMN error the diagram models, travelling outwards
to an error boundary event. Withdrawn: the token's scope ended under it.
"""

from __future__ import annotations


class Incident(Exception):
    """The instance cannot go on at ``element_id`` (a FEEL error, a missing handler, ...)."""

    def __init__(self, element_id: str, reason: str) -> None:
        self.element_id = element_id
        self.reason = reason
        super().__init__(f"element {element_id!r}: {reason}")


class Thrown(Exception):
    """A BPMN error on its way to the error boundary event that catches it."""

    def __init__(self, code: str, message: str, element_id: str) -> None:
        self.code = code
        self.message = message
        self.element_id = element_id
        super().__init__(f"error {code!r} thrown by {element_id!r}")


class UncaughtBpmnError(Exception):
    """A BPMN error reached the process level: no error boundary event caught it."""

    def __init__(self, thrown: Thrown) -> None:
        self.code = thrown.code
        detail = f": {thrown.message}" if thrown.message else ""
        super().__init__(
            f"error {thrown.code!r} thrown by {thrown.element_id!r} was not caught by any "
            f"error boundary event{detail}"
        )


class Withdrawn(Exception):
    """The token's scope ended: the token stops where it is."""
