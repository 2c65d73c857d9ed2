"""FEEL text to tokens, and the error every FEEL problem is reported as."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, NamedTuple

from ._model import BpmnError


class FeelError(BpmnError):
    """An expression could not be compiled, or a condition did not give a boolean.

    ``position`` is the 0-based offset of the problem in ``expression`` (None when the
    problem is the value, not the text).
    """

    def __init__(self, message: str, *, expression: str, position: int | None = None) -> None:
        self.reason = message
        self.expression = expression
        self.position = position
        where = "" if position is None else f" at position {position}"
        super().__init__(f"{message}{where} in expression {expression!r}")


class Token(NamedTuple):
    kind: str  # "number", "string", "name", "op", "end"
    text: str
    position: int
    value: Any = None


_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<number>\d+(?:\.\d+)?)
      | (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<quoted>`[^`]*`)
      | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
      | (?P<op>\*\*|<=|>=|!=|\.\.|[-+*/=<>(),.\[\]{}:])""",
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "'": "'"}
KEYWORDS = frozenset({"true", "false", "null", "if", "then", "else", "and", "or", "between", "in"})


def _unescape(body: str, expression: str, position: int) -> str:
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        code = body[index + 1]
        if code in _ESCAPES:
            out.append(_ESCAPES[code])
            index += 2
        elif code == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[index + 2 : index + 6]):
            out.append(chr(int(body[index + 2 : index + 6], 16)))
            index += 6
        else:
            raise FeelError(
                f"unknown escape '\\{code}'", expression=expression, position=position + index + 1
            )
    return "".join(out)


def tokenize(expression: str, start: int) -> list[Token]:
    tokens: list[Token] = []
    position = start
    while position < len(expression):
        match = _TOKEN.match(expression, position)
        if match is None:
            char = expression[position]
            reason = "unterminated string" if char == '"' else f"unexpected character {char!r}"
            reason = "unterminated name" if char == "`" else reason
            raise FeelError(reason, expression=expression, position=position)
        kind, text = match.lastgroup or "", match.group()
        if kind == "number":
            tokens.append(Token(kind, text, position, Decimal(text) if "." in text else int(text)))
        elif kind == "string":
            value = _unescape(text[1:-1], expression, position + 1)
            tokens.append(Token(kind, text, position, value))
        elif kind == "quoted":
            tokens.append(Token("name", text, position, text[1:-1]))
        elif kind in ("name", "op"):
            tokens.append(Token(kind, text, position, text))
        position = match.end()
    tokens.append(Token("end", "", len(expression)))
    return tokens
