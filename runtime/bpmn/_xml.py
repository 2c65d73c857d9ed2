"""Reading the XML safely, and reporting problems by line.

defusedxml refuses entity declarations and external references before anything expands;
a tree builder notes the line each element starts on, so every problem can say where it
is. ``Report`` collects the problems of a whole file.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

# Typed by types-defusedxml when installed; without it mypy sees Any, which is fine too.
import defusedxml  # type: ignore[import-untyped, unused-ignore]
import defusedxml.ElementTree as DefusedET  # type: ignore[import-untyped, unused-ignore]

from ._layout import BPMNDI, DC, DI
from ._model import BpmnError, UnsafeXmlError

MODEL = "http://www.omg.org/spec/BPMN/20100524/MODEL"
ZEEBE = "http://camunda.org/schema/zeebe/1.0"
STANDARD = frozenset({MODEL, BPMNDI, DC, DI})


def local_name(tag: str) -> tuple[str, str]:
    namespace, _, name = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    return namespace, name


def q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


class _LineRecorder(ET.TreeBuilder):
    """Builds the tree and notes the line each element starts on, for error messages."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[ET.Element, int] = {}
        self.expat: Any = None

    def start(self, tag: str, attrs: dict[str, str]) -> ET.Element:
        element = super().start(tag, attrs)
        self.lines[element] = self.expat.CurrentLineNumber
        return element


def read_xml(data: bytes) -> tuple[ET.Element, dict[ET.Element, int]]:
    recorder = _LineRecorder()
    parser = DefusedET.DefusedXMLParser(target=recorder)
    recorder.expat = parser.parser  # pyexpat: it knows where the current element starts
    try:
        parser.feed(data)
        root: ET.Element = parser.close()
        return root, recorder.lines
    except defusedxml.EntitiesForbidden as error:
        if error.sysid or error.pubid:
            raise UnsafeXmlError(
                f"the XML declares the external entity {error.name!r} "
                f"(SYSTEM {error.sysid!r}); external entities are refused"
            ) from None
        raise UnsafeXmlError(
            f"the XML declares the entity {error.name!r}; entity declarations are refused "
            "(they allow entity-expansion attacks such as 'billion laughs')"
        ) from None
    except defusedxml.ExternalReferenceForbidden as error:
        raise UnsafeXmlError(
            f"the XML refers to the external resource {error.sysid!r}; external "
            "references are refused"
        ) from None
    except defusedxml.DefusedXmlException as error:
        raise UnsafeXmlError(f"the XML was refused as unsafe: {error}") from None
    except ET.ParseError as error:
        raise BpmnError(f"the file is not well-formed XML: {error}") from None


class Report:
    """The problems found in one file so far, each with the line it is on."""

    def __init__(self, lines: dict[ET.Element, int]) -> None:
        self.lines = lines
        self.problems: list[str] = []
        self.ids: dict[str, int] = {}
        """Every id of a BPMN or BPMNDI element, with its line (extension content excluded)."""
        self.refused: dict[str, str] = {}
        """Elements refused with a problem of their own, by id: their kind."""
        self.here: ET.Element | None = None
        """The element being parsed: where a problem is, unless told otherwise."""

    def problem(self, text: str, at: ET.Element | str | None = None) -> None:
        """Note a problem; ``at`` (an element or an id, else ``here``) gives its line."""
        at = self.here if at is None else at
        line = self.lines.get(at) if isinstance(at, ET.Element) else self.ids.get(at or "")
        self.problems.append(text if line is None else f"line {line}: {text}")

    def unsupported(self, element: ET.Element, owner: str | None = None) -> None:
        _, kind = local_name(element.tag)
        element_id = element.get("id")
        if element_id is not None:
            self.refused[element_id] = kind
            self.problem(f"element {element_id!r} of type {kind!r} is not supported", element)
        elif owner is not None:
            self.problem(f"element {owner!r} has a child {kind!r}, which is not supported", element)
        else:
            self.problem(f"element of type {kind!r} is not supported", element)

    def named(self, element_id: str) -> str:
        """``element 'T' of type 'serviceTask'`` when it is the element being parsed."""
        if self.here is not None and self.here.get("id") == element_id:
            return f"element {element_id!r} of type {local_name(self.here.tag)[1]!r}"
        return f"element {element_id!r}"

    def collect_ids(self, element: ET.Element) -> None:
        """Note every BPMN and BPMNDI id; extension elements are another vendor's business."""
        namespace, name = local_name(element.tag)
        if namespace not in STANDARD or name == "extensionElements":
            return
        element_id = element.get("id")
        if element_id is not None:
            if element_id in self.ids:
                self.problem(
                    f"duplicate id {element_id!r} (first used on line {self.ids[element_id]})",
                    element,
                )
            else:
                self.ids[element_id] = self.lines.get(element, 0)
        for child in element:
            self.collect_ids(child)

    # --- the file -------------------------------------------------------------------
