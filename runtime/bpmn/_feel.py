"""A FEEL evaluator: a hand-written tokenizer and a recursive-descent parser.

Theory of operation: ``compile`` tokenizes the text (a leading ``=``, as Zeebe writes
expressions, is skipped) and parses it by precedence climbing straight into Python
closures, one per syntax node, so evaluating is calling the root closure with the variables.
No ``eval``/``exec`` anywhere. Syntax errors name the position (0-based, in the text as
written); evaluation never raises: like FEEL, a type mismatch, a missing variable or a
division by zero gives ``null`` (None), which a gateway condition treats as false.

Supported, lowest precedence first:
  ``if c then a else b``, ``for x in xs, y in 1..3 return ...`` (``partial`` is the list
  so far), ``some``/``every x in xs satisfies ...``; ``or``; ``and``; comparisons
  ``= != < <= > >=``, ``x between a and b``, ``x in <tests>`` (a list, ``(1, 2, > 5)``,
  ranges ``[1..10]``, ``(0..1]``), ``x instance of <type>`` (``number``, ``date and time``,
  ``list<string>``, ``Any``, ``Null``, ...); ``+ -``; ``* /``; ``**`` (left to right, as
  FEEL: ``2 ** 3 ** 2`` is 64); unary ``-`` (binding tighter than ``**``: ``-2 ** 2`` is 4);
  postfix paths ``a.b.c`` (mapped over lists; ``date.year``, ``duration.hours``...) and
  filters ``list[cond]`` / ``list[1]`` (1-based, negative from the end); literals
  (numbers, ``"strings"`` with ``\\"``/``\\n``/``\\t``/``\\\\``/``\\uXXXX``, true, false,
  null), lists ``[1, 2]``, contexts ``{a: 1, "b c": a + 1}``, function literals
  ``function(a, b) a < b`` (for ``sort``), names and ```backquoted names```. Numbers are
  exact decimals (34 digits) and come out as ``int`` or ``float``. Equality with null
  follows FEEL (``null = null`` is true, ``1 = null`` false); ordering with null, or
  between different types, is null.

Functions: positional arguments only, listed in ``_feel_lib`` (boolean, context and
conversion functions) and its families ``_feel_text``, ``_feel_numbers``, ``_feel_lists``
and ``_feel_dates``. ``now()`` and ``today()`` read the clock passed to ``evaluate``
(the instance's deterministic clock, so replay sees the same instant). Left out: named
arguments, calling a function held in a variable, user-defined functions other than
literals passed to a built-in.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from . import _feel_values as values
from ._feel_eval import (
    Eval,
    PathEval,
    Scope,
    UnaryTest,
    binary,
    filter_,
    layer,
    logic,
    path,
    value_test,
)
from ._feel_iteration import Iteration, iterate, type_test
from ._feel_lib import FUNCTIONS
from ._feel_temporal import CLOCK
from ._feel_tokens import KEYWORDS, Token, tokenize
from ._feel_tokens import FeelError as FeelError


@attrs.frozen
class Expression:
    """A compiled FEEL expression; evaluate it as often as you like."""

    text: str
    _evaluate: Eval = attrs.field(repr=False, eq=False)

    def evaluate(self, variables: Mapping[str, Any], *, now: dt.datetime | None = None) -> Any:
        """The value for ``variables``; ``now`` is what ``now()`` gives (None: null)."""
        return values.export(self._run(variables, now))

    def is_true(self, variables: Mapping[str, Any], *, now: dt.datetime | None = None) -> bool:
        """Evaluate as a gateway condition: null is false; a non-boolean is a FeelError."""
        value = self._run(variables, now)
        if value is None or isinstance(value, bool):
            return value is True
        raise FeelError(
            f"condition gave {values.describe(value)}, not a boolean",
            expression=self.text,
        )

    def _run(self, variables: Mapping[str, Any], now: dt.datetime | None) -> Any:
        token = CLOCK.set(now)
        try:
            return self._evaluate(variables)
        finally:
            CLOCK.reset(token)


def compile(expression: str) -> Expression:
    """Parse once (cached); a syntax error is a FeelError naming its position."""
    return _compile_cached(expression)


def evaluate(
    expression: str, variables: Mapping[str, Any], *, now: dt.datetime | None = None
) -> Any:
    return compile(expression).evaluate(variables, now=now)


def evaluate_condition(
    expression: str, variables: Mapping[str, Any], *, now: dt.datetime | None = None
) -> bool:
    return compile(expression).is_true(variables, now=now)


@functools.lru_cache(maxsize=2048)
def _compile_cached(expression: str) -> Expression:
    try:
        return Expression(expression, _Parser(expression).parse())
    except RecursionError:
        raise FeelError("expression is nested too deeply", expression=expression) from None


# --- parser -------------------------------------------------------------------------


class _Parser:
    def __init__(self, expression: str) -> None:
        self.expression = expression
        stripped = len(expression) - len(expression.lstrip())
        start = stripped + 1 if expression[stripped : stripped + 1] == "=" else stripped
        self.tokens = tokenize(expression, start)
        self.index = 0

    # helpers

    def error(self, reason: str, token: Token | None = None) -> FeelError:
        token = token or self.peek()
        return FeelError(reason, expression=self.expression, position=token.position)

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def at(self, *texts: str) -> bool:
        token = self.peek()
        return token.kind in ("op", "name") and token.text in texts

    def take(self) -> Token:
        token = self.peek()
        self.index += 1
        return token

    def accept(self, text: str) -> bool:
        if self.at(text):
            self.index += 1
            return True
        return False

    def expect(self, text: str, context: str) -> Token:
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
        if self.at_iteration("for"):
            return self.for_()
        if self.at_iteration("some") or self.at_iteration("every"):
            return self.quantified()
        return self.disjunction()

    def at_iteration(self, word: str) -> bool:
        """``for x in``, ``some x in``...: the keyword, a name, then ``in``."""
        first, name, within = self.peek(), self.peek(1), self.peek(2)
        return (
            (first.kind, first.text) == ("name", word)
            and first.value == word
            and (name.kind == "name" and (within.kind, within.text) == ("name", "in"))
        )

    def iterations(self) -> list[Iteration]:
        """``x in xs, y in 1..3``: each name with its list or range."""
        found = []
        while True:
            name = self.take()
            if name.kind != "name":
                raise self.error("expected a name to iterate with", name)
            self.expect("in", f"after {name.value!r}")
            source = self.disjunction()
            high = self.disjunction() if self.accept("..") else None
            found.append(Iteration(name.value, source, high))
            if not self.accept(","):
                return found

    def for_(self) -> Eval:
        self.take()
        contexts = self.iterations()
        self.expect("return", "after the lists of 'for'")
        body = self.expression_()

        def evaluate(s: Scope) -> list[Any] | None:
            results: list[Any] = []
            for local in iterate(contexts, s, {"partial": results}):
                if local is None:
                    return None
                results.append(body(layer(local, s)))
            return results

        return evaluate

    def quantified(self) -> Eval:
        every = self.take().text == "every"
        contexts = self.iterations()
        self.expect("satisfies", f"after the lists of '{'every' if every else 'some'}'")
        condition = self.expression_()

        def evaluate(s: Scope) -> bool | None:
            for local in iterate(contexts, s, {}):
                if local is None:
                    return None
                if (condition(layer(local, s)) is True) is not every:
                    return not every
            return every

        return evaluate

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
            left = logic(values.any_true, left, right)
        return left

    def conjunction(self) -> Eval:
        left = self.comparison()
        while self.accept("and"):
            right = self.comparison()
            left = logic(values.all_true, left, right)
        return left

    def comparison(self) -> Eval:
        left = self.additive()
        if self.at("=", "!=", "<", "<=", ">", ">="):
            op = self.take().text
            right = self.additive()
            return lambda s: values.compare(op, left(s), right(s))
        if self.accept("between"):
            low = self.additive()
            self.expect("and", "in 'between ... and ...'")
            high = self.additive()

            def between(s: Scope) -> bool | None:
                value = left(s)
                above = values.compare(">=", value, low(s))
                return values.all_true((above, values.compare("<=", value, high(s))))

            return between
        if self.accept("in"):
            test = self.unary_tests()
            return lambda s: test(left(s), s)
        if self.at("instance") and self.peek(1).kind == "name" and self.peek(1).text == "of":
            self.index += 2
            check = self.type_()
            return lambda s: check(left(s))
        return left

    def type_(self) -> Callable[[Any], bool]:
        """A type name after ``instance of``: the longest one the words spell."""
        start = self.peek()
        words: list[str] = []
        while self.peek(len(words)).kind == "name":
            words.append(self.peek(len(words)).text)
        for length in range(len(words), 0, -1):
            check = type_test(" ".join(words[:length]))
            if check is not None:
                self.index += length
                break
        else:
            raise self.error("expected a type name after 'instance of'", start)
        if words[:length] in (["list"], ["context"]) and self.accept("<"):
            inner = self.type_()
            self.expect(">", "to close the type")
            outer = check
            return lambda value: (
                outer(value)
                and all(
                    inner(item) for item in (value if isinstance(value, list) else value.values())
                )
            )
        return check

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
                tests = [value_test(first)]
            while self.accept(","):
                tests.append(self.unary_test())
            self.expect(")", "to close the list of tests")
            return lambda value, s: values.any_true(test(value, s) for test in tests)
        return self.unary_test()

    def unary_test(self) -> UnaryTest:
        if self.at("<", "<=", ">", ">=", "=", "!="):
            op = self.take().text
            endpoint = self.additive()
            return lambda value, s: values.compare(op, value, endpoint(s))
        if self.at("[", "]", "("):
            opening = self.take().text
            first = self.expression_()
            if self.accept(".."):
                return self.interval(opening, first)
            if opening == "]":
                raise self.error("expected '..' in a range")
            if opening == "(":
                self.expect(")", "to close the parenthesis")
                return value_test(first)
            items = [first]
            while self.accept(","):
                items.append(self.expression_())
            self.expect("]", "to close the list")
            return value_test(lambda s: [item(s) for item in items])
        return value_test(self.additive())

    def interval(self, opening: str, low: Eval) -> UnaryTest:
        high = self.expression_()
        closing = self.peek()
        if not self.at("]", ")", "["):
            raise self.error("expected ']' or ')' to close the range")
        self.take()
        low_op = ">=" if opening == "[" else ">"
        high_op = "<=" if closing.text == "]" else "<"
        return lambda value, s: values.all_true(
            (values.compare(low_op, value, low(s)), values.compare(high_op, value, high(s)))
        )

    def additive(self) -> Eval:
        left = self.multiplicative()
        while self.at("+", "-"):
            op = values.add if self.take().text == "+" else values.sub
            left = binary(op, left, self.multiplicative())
        return left

    def multiplicative(self) -> Eval:
        left = self.power()
        while self.at("*", "/"):
            op = values.mul if self.take().text == "*" else values.div
            left = binary(op, left, self.power())
        return left

    def power(self) -> Eval:
        left = self.unary()
        while self.accept("**"):
            left = binary(values.power, left, self.unary())
        return left

    def unary(self) -> Eval:
        if self.accept("-"):
            operand = self.unary()
            return lambda s: values.neg(operand(s))
        return self.postfix()

    def postfix(self) -> Eval:
        value = self.primary()
        while True:
            if self.accept("."):
                token = self.take()
                if token.kind != "name":
                    raise self.error("expected a name after '.'", token)
                value = path(value, token.value)
            elif self.accept("["):
                condition = self.expression_()
                self.expect("]", "to close the filter")
                value = filter_(value, condition)
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
        if token.text == "function" and self.peek(1).text == "(" and self.peek(1).kind == "op":
            return self.function_literal()
        call = self.function_call()
        if call is not None:
            return call
        self.take()
        if token.text in ("true", "false", "null") and token.text == token.value:
            constant = {"true": True, "false": False, "null": None}[token.text]
            return lambda s: constant
        if token.text == "if":
            return self.if_()
        if token.text in KEYWORDS and token.text == token.value:
            raise self.error(f"unexpected {token.text!r}", token)
        if self.at("("):
            raise self.error(f"unknown function {token.value!r}", token)
        return PathEval((token.value,))

    def function_literal(self) -> Eval:
        """``function(a, b) body``: a value that built-ins such as ``sort`` call."""
        self.index += 2
        names: list[str] = []
        if not self.accept(")"):
            while True:
                name = self.take()
                if name.kind != "name":
                    raise self.error("expected a parameter name", name)
                names.append(name.value)
                if not self.accept(","):
                    break
            self.expect(")", "to close the parameters")
        body = self.expression_()
        parameters = tuple(names)

        def make(s: Scope) -> values.Function:
            return values.Function(
                parameters, lambda args: body(layer(dict(zip(parameters, args, strict=True)), s))
            )

        return make

    def bracketed(self, token: Token) -> Eval:
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
            inner = layer(result, s)
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

    def bind(self, name: str, args: list[Eval], start: Token) -> Eval:
        low, high, function = FUNCTIONS[name]
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
            if isinstance(arg, PathEval):
                return arg.exists
            return lambda s: True
        return lambda s: function([arg(s) for arg in args])


_NAMES_BY_LENGTH: list[tuple[str, tuple[str, ...]]] = sorted(
    ((name, tuple(name.split())) for name in FUNCTIONS), key=lambda entry: -len(entry[1])
)
