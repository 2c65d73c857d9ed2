"""A FEEL-subset evaluator: a hand-written tokenizer and a recursive-descent parser.

Theory of operation: ``compile`` tokenizes the text (a leading ``=``, as Zeebe writes
expressions, is skipped) and parses it by precedence climbing straight into Python
closures, one per syntax node, so evaluating is calling the root closure with the variables.
No ``eval``/``exec`` anywhere. Syntax errors name the position (0-based, in the text as
written); evaluation never raises: like FEEL, a type mismatch, a missing variable or a
division by zero gives ``null`` (None), which a gateway condition treats as false.

Supported, lowest precedence first:
  ``if c then a else b``; ``or``; ``and``; comparisons ``= != < <= > >=``,
  ``x between a and b``, ``x in <tests>`` (a list, ``(1, 2, > 5)``, ranges ``[1..10]``,
  ``(0..1]``); ``+ -``; ``* /``; ``**`` (left to right, as FEEL: ``2 ** 3 ** 2`` is 64);
  unary ``-`` (binding tighter than ``**``: ``-2 ** 2`` is 4); postfix paths ``a.b.c`` (mapped over
  lists) and filters ``list[cond]`` / ``list[1]`` (1-based, negative from the end);
  literals (numbers, ``"strings"`` with ``\\"``/``\\n``/``\\t``/``\\\\``/``\\uXXXX``,
  true, false, null), lists ``[1, 2]``, contexts ``{a: 1, "b c": a + 1}``, names and
  ```backquoted names```. Numbers are exact decimals (34 digits) and come out as ``int``
  or ``float``. Equality with null follows FEEL (``null = null`` is true, ``1 = null`` false);
  ordering with null, or between different types, is null.

Functions (positional arguments only; ``FUNCTIONS`` in ``_feel_lib``): not, is defined,
get or else, all, any; string length, substring, substring before, substring after,
upper case, lower case, trim, contains, starts with, ends with, string join; string, number,
duration, date and time; abs, floor, ceiling, decimal, modulo; count, sum, mean, min, max,
list contains, append, concatenate. Deliberately left out:
``now()``/``today()`` (not deterministic on replay), regular-expression functions
(``matches``, ``replace``, ``split``), ``for``/``some``/``every``, user-defined functions,
named arguments, ``date``/``time`` values other than ``date and time``.
"""

from __future__ import annotations

import functools
import re
from collections import ChainMap
from collections.abc import Callable, Mapping, MutableMapping
from decimal import Decimal
from typing import Any, NamedTuple, cast

import attrs

from . import _feel_lib as lib
from ._model import BpmnError

Scope = Mapping[str, Any]
Eval = Callable[[Scope], Any]


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


@attrs.frozen
class Expression:
    """A compiled FEEL expression; evaluate it as often as you like."""

    text: str
    _evaluate: Eval = attrs.field(repr=False, eq=False)

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        return lib.export(self._evaluate(variables))

    def is_true(self, variables: Mapping[str, Any]) -> bool:
        """Evaluate as a gateway condition: null is false; a non-boolean is a FeelError."""
        value = self._evaluate(variables)
        if value is None or isinstance(value, bool):
            return value is True
        raise FeelError(
            f"condition gave {lib.describe(value)}, not a boolean",
            expression=self.text,
        )


def compile(expression: str) -> Expression:
    """Parse once (cached); a syntax error is a FeelError naming its position."""
    return _compile_cached(expression)


def evaluate(expression: str, variables: Mapping[str, Any]) -> Any:
    return compile(expression).evaluate(variables)


def evaluate_condition(expression: str, variables: Mapping[str, Any]) -> bool:
    return compile(expression).is_true(variables)


@functools.lru_cache(maxsize=2048)
def _compile_cached(expression: str) -> Expression:
    try:
        return Expression(expression, _Parser(expression).parse())
    except RecursionError:
        raise FeelError("expression is nested too deeply", expression=expression) from None


# --- tokens -------------------------------------------------------------------------


class _Token(NamedTuple):
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
_KEYWORDS = frozenset({"true", "false", "null", "if", "then", "else", "and", "or", "between", "in"})
_UNSUPPORTED = frozenset({"for", "some", "every"})  # when a name follows: iteration


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


def _tokenize(expression: str, start: int) -> list[_Token]:
    tokens: list[_Token] = []
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
            tokens.append(_Token(kind, text, position, Decimal(text) if "." in text else int(text)))
        elif kind == "string":
            value = _unescape(text[1:-1], expression, position + 1)
            tokens.append(_Token(kind, text, position, value))
        elif kind == "quoted":
            tokens.append(_Token("name", text, position, text[1:-1]))
        elif kind in ("name", "op"):
            tokens.append(_Token(kind, text, position, text))
        position = match.end()
    tokens.append(_Token("end", "", len(expression)))
    return tokens


# --- parser -------------------------------------------------------------------------


class _PathEval:
    """A variable or a path on one: kept apart so ``is defined`` can check existence."""

    __slots__ = ("path",)

    def __init__(self, path: tuple[str, ...]) -> None:
        self.path = path

    def __call__(self, scope: Scope) -> Any:
        value = scope.get(self.path[0])
        for name in self.path[1:]:
            value = lib.member(value, name)
        return value

    def exists(self, scope: Scope) -> bool:
        value: Any = scope
        for name in self.path:
            if not isinstance(value, Mapping) or name not in value:
                return False
            value = value[name]
        return True


UnaryTest = Callable[[Any, Scope], bool | None]


class _Parser:
    def __init__(self, expression: str) -> None:
        self.expression = expression
        stripped = len(expression) - len(expression.lstrip())
        start = stripped + 1 if expression[stripped : stripped + 1] == "=" else stripped
        self.tokens = _tokenize(expression, start)
        self.index = 0

    # helpers

    def error(self, reason: str, token: _Token | None = None) -> FeelError:
        token = token or self.peek()
        return FeelError(reason, expression=self.expression, position=token.position)

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def at(self, *texts: str) -> bool:
        token = self.peek()
        return token.kind in ("op", "name") and token.text in texts

    def take(self) -> _Token:
        token = self.peek()
        self.index += 1
        return token

    def accept(self, text: str) -> bool:
        if self.at(text):
            self.index += 1
            return True
        return False

    def expect(self, text: str, context: str) -> _Token:
        if not self.at(text):
            found = self.peek()
            what = repr(found.text) if found.kind != "end" else "the end"
            raise self.error(f"expected '{text}' {context}, found {what}")
        return self.take()

    # grammar

    def parse(self) -> Eval:
        if self.peek().kind == "end":
            raise self.error("empty expression")
        result = self.expression_()
        if self.peek().kind != "end":
            raise self.error(f"unexpected {self.peek().text!r}")
        return result

    def expression_(self) -> Eval:
        if self.accept("if"):
            return self.if_()
        return self.disjunction()

    def if_(self) -> Eval:
        condition = self.expression_()
        self.expect("then", "after the condition of 'if'")
        then = self.expression_()
        self.expect("else", "after the 'then' branch")
        otherwise = self.expression_()
        return lambda s: then(s) if condition(s) is True else otherwise(s)

    def disjunction(self) -> Eval:
        left = self.conjunction()
        while self.accept("or"):
            right = self.conjunction()
            left = _logic(lib.any_true, left, right)
        return left

    def conjunction(self) -> Eval:
        left = self.comparison()
        while self.accept("and"):
            right = self.comparison()
            left = _logic(lib.all_true, left, right)
        return left

    def comparison(self) -> Eval:
        left = self.additive()
        if self.at("=", "!=", "<", "<=", ">", ">="):
            op = self.take().text
            right = self.additive()
            return lambda s: lib.compare(op, left(s), right(s))
        if self.accept("between"):
            low = self.additive()
            self.expect("and", "in 'between ... and ...'")
            high = self.additive()

            def between(s: Scope) -> bool | None:
                value = left(s)
                above = lib.compare(">=", value, low(s))
                return lib.all_true((above, lib.compare("<=", value, high(s))))

            return between
        if self.accept("in"):
            test = self.unary_tests()
            return lambda s: test(left(s), s)
        return left

    def unary_tests(self) -> UnaryTest:
        """After ``in``: one positive unary test, or several in parentheses."""
        if self.at("("):
            self.take()
            if self.at("<", "<=", ">", ">=", "=", "!=", "[", "]", "("):
                tests = [self.unary_test()]
            else:
                first = self.expression_()
                if self.accept(".."):
                    return self.interval("(", first)
                tests = [_value_test(first)]
            while self.accept(","):
                tests.append(self.unary_test())
            self.expect(")", "to close the list of tests")
            return lambda value, s: lib.any_true(test(value, s) for test in tests)
        return self.unary_test()

    def unary_test(self) -> UnaryTest:
        if self.at("<", "<=", ">", ">=", "=", "!="):
            op = self.take().text
            endpoint = self.additive()
            return lambda value, s: lib.compare(op, value, endpoint(s))
        if self.at("[", "]", "("):
            opening = self.take().text
            first = self.expression_()
            if self.accept(".."):
                return self.interval(opening, first)
            if opening == "]":
                raise self.error("expected '..' in a range")
            if opening == "(":
                self.expect(")", "to close the parenthesis")
                return _value_test(first)
            items = [first]
            while self.accept(","):
                items.append(self.expression_())
            self.expect("]", "to close the list")
            return _value_test(lambda s: [item(s) for item in items])
        return _value_test(self.additive())

    def interval(self, opening: str, low: Eval) -> UnaryTest:
        high = self.expression_()
        closing = self.peek()
        if not self.at("]", ")", "["):
            raise self.error("expected ']' or ')' to close the range")
        self.take()
        low_op = ">=" if opening == "[" else ">"
        high_op = "<=" if closing.text == "]" else "<"
        return lambda value, s: lib.all_true(
            (lib.compare(low_op, value, low(s)), lib.compare(high_op, value, high(s)))
        )

    def additive(self) -> Eval:
        left = self.multiplicative()
        while self.at("+", "-"):
            op = lib.add if self.take().text == "+" else lib.sub
            left = _binary(op, left, self.multiplicative())
        return left

    def multiplicative(self) -> Eval:
        left = self.power()
        while self.at("*", "/"):
            op = lib.mul if self.take().text == "*" else lib.div
            left = _binary(op, left, self.power())
        return left

    def power(self) -> Eval:
        left = self.unary()
        while self.accept("**"):
            left = _binary(lib.power, left, self.unary())
        return left

    def unary(self) -> Eval:
        if self.accept("-"):
            operand = self.unary()
            return lambda s: lib.neg(operand(s))
        return self.postfix()

    def postfix(self) -> Eval:
        value = self.primary()
        while True:
            if self.accept("."):
                token = self.take()
                if token.kind != "name":
                    raise self.error("expected a name after '.'", token)
                value = _path(value, token.value)
            elif self.accept("["):
                condition = self.expression_()
                self.expect("]", "to close the filter")
                value = _filter(value, condition)
            else:
                return value

    def primary(self) -> Eval:
        token = self.peek()
        if token.kind in ("number", "string"):
            self.take()
            constant = token.value
            return lambda s: constant
        if token.kind == "end":
            raise self.error("unexpected end of expression")
        if token.kind == "op":
            return self.bracketed(token)
        call = self.function_call()
        if call is not None:
            return call
        self.take()
        if token.text in ("true", "false", "null") and token.text == token.value:
            constant = {"true": True, "false": False, "null": None}[token.text]
            return lambda s: constant
        if token.text == "if":
            return self.if_()
        if token.text in _UNSUPPORTED and token.text == token.value and self.peek().kind == "name":
            raise self.error(f"'{token.text}' expressions are not supported", token)
        if token.text in _KEYWORDS and token.text == token.value:
            raise self.error(f"unexpected {token.text!r}", token)
        if self.at("("):
            raise self.error(f"unknown function {token.value!r}", token)
        return _PathEval((token.value,))

    def bracketed(self, token: _Token) -> Eval:
        self.take()
        if token.text == "(":
            inner = self.expression_()
            self.expect(")", "to close the parenthesis")
            return inner
        if token.text == "[":
            items: list[Eval] = []
            if not self.accept("]"):
                items.append(self.expression_())
                while self.accept(","):
                    items.append(self.expression_())
                self.expect("]", "to close the list")
            return lambda s: [item(s) for item in items]
        if token.text == "{":
            return self.context()
        raise self.error(f"unexpected {token.text!r}", token)

    def context(self) -> Eval:
        entries: list[tuple[str, Eval]] = []
        keys: set[str] = set()
        if not self.accept("}"):
            while True:
                key_token = self.peek()
                if key_token.kind == "string":
                    key = self.take().value
                elif key_token.kind == "name":
                    words = [self.take().value]
                    while self.peek().kind == "name":
                        words.append(self.take().value)
                    key = " ".join(words)
                else:
                    raise self.error("expected a key in the context", key_token)
                if key in keys:
                    raise self.error(f"duplicate key {key!r} in the context", key_token)
                keys.add(key)
                self.expect(":", f"after the key {key!r}")
                entries.append((key, self.expression_()))
                if not self.accept(","):
                    break
            self.expect("}", "to close the context")

        def build(s: Scope) -> dict[str, Any]:
            result: dict[str, Any] = {}
            inner = _layer(result, s)
            for key, value in entries:
                result[key] = value(inner)
            return result

        return build

    def function_call(self) -> Eval | None:
        """A call of a built-in, whose name may be several words (``string length``)."""
        for name, words in _NAMES_BY_LENGTH:
            if (
                all(
                    self.peek(i).kind == "name" and self.peek(i).text == word
                    for i, word in enumerate(words)
                )
                and self.peek(len(words)).text == "("
                and self.peek(len(words)).kind == "op"
            ):
                start = self.peek()
                self.index += len(words) + 1
                args: list[Eval] = []
                if not self.accept(")"):
                    args.append(self.expression_())
                    while self.accept(","):
                        args.append(self.expression_())
                    self.expect(")", f"to close the arguments of '{name}'")
                return self.bind(name, args, start)
        return None

    def bind(self, name: str, args: list[Eval], start: _Token) -> Eval:
        low, high, function = lib.FUNCTIONS[name]
        if len(args) < low or (high is not None and len(args) > high):
            if high is None:
                expected = f"at least {low}"
            elif low == high:
                expected = str(low)
            else:
                expected = f"{low} to {high}"
            plural = "" if expected in ("1", "at least 1") else "s"
            raise self.error(
                f"function '{name}' takes {expected} argument{plural}, got {len(args)}", start
            )
        if name == "is defined":
            (arg,) = args
            if isinstance(arg, _PathEval):
                return arg.exists
            return lambda s: True
        return lambda s: function([arg(s) for arg in args])


def _logic(combine: Callable[[Any], bool | None], left: Eval, right: Eval) -> Eval:
    decisive = combine is lib.any_true  # true decides "or", false decides "and"

    def evaluate(s: Scope) -> bool | None:
        first = left(s)
        if first is decisive:
            return bool(decisive)
        return combine((first, right(s)))

    return evaluate


def _binary(op: Callable[[Any, Any], Any], left: Eval, right: Eval) -> Eval:
    return lambda s: op(left(s), right(s))


def _path(value: Eval, name: str) -> Eval:
    if isinstance(value, _PathEval):
        return _PathEval((*value.path, name))
    return lambda s: lib.member(value(s), name)


def _layer(local: dict[str, Any], scope: Scope) -> Scope:
    """The scope seen inside a context literal or a filter: local names first."""
    return ChainMap(local, cast("MutableMapping[str, Any]", scope))


def _filter(target: Eval, condition: Eval) -> Eval:
    def evaluate(s: Scope) -> Any:
        value = target(s)
        if value is None:
            return None
        items: list[Any] = list(value) if isinstance(value, list | tuple) else [value]
        index = lib.to_number(condition(s))
        if index is not None:
            position = int(index)
            if index != position or position == 0 or abs(position) > len(items):
                return None
            return items[position - 1 if position > 0 else position]
        kept = []
        for item in items:
            local: dict[str, Any] = dict(item) if isinstance(item, Mapping) else {}
            local["item"] = item
            if condition(_layer(local, s)) is True:
                kept.append(item)
        return kept

    return evaluate


def _value_test(expected: Eval) -> UnaryTest:
    """A plain expression as a unary test: list membership, or equality."""

    def test(value: Any, s: Scope) -> bool | None:
        candidate = expected(s)
        if isinstance(candidate, list | tuple) and not isinstance(value, list | tuple):
            return any(lib.equal(value, item) is True for item in candidate)
        return lib.equal(value, candidate)

    return test


_NAMES_BY_LENGTH: list[tuple[str, tuple[str, ...]]] = sorted(
    ((name, tuple(name.split())) for name in lib.FUNCTIONS), key=lambda entry: -len(entry[1])
)
