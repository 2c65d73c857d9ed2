"""Plain JSON data into annotated types, exactly.

Theory of operation
-------------------
``StructureHooks.hook(T)`` builds, once per type, a function ``hook(data, T)`` that
turns JSON data into a ``T`` or raises. Building is where a type is judged: one with no
JSON form, or a union whose members cannot be told apart, raises ``TypeError`` then,
which is when ``@workflow`` and ``@activity`` decorate a function. Running a hook only
checks data: each JSON kind (null, boolean, number, string, array, object) goes where
the type says, nothing is converted on the way (``"12"`` is not an ``int``, ``1`` is not
``True``). Mismatches raise ``Mismatch``; arrays, objects and classes collect every
problem of their items in cattrs' validation errors, which carry the path.

attrs classes and dataclasses are structured by cattrs' generated functions
(``forbid_extra_keys``, detailed validation) with our hook for every field, and unions
of classes are told apart by cattrs' disambiguator. Unions are otherwise dispatched by
the JSON kind of the data: each kind may go to one member only (an integer goes to
``int`` before ``float``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import inspect
import json
import re
import types
import typing
import uuid
from collections.abc import (
    Callable,
    Iterable,
    Mapping,
    MutableMapping,
    MutableSequence,
    MutableSet,
    Sequence,
)
from collections.abc import Set as AbstractSet
from typing import Annotated, Any, Literal, Union

import attrs
import cattrs
from cattrs.disambiguators import create_default_dis_func
from cattrs.errors import IterableValidationError, IterableValidationNote
from cattrs.gen import make_dict_structure_fn, override

from ._unstructure import MAX_DEPTH, text_problem

NoneType = type(None)
Hook = Callable[[Any, Any], Any]


class Mismatch(ValueError):
    """JSON data that does not fit its type; the message says what was expected and what came."""


class TooDeep(Mismatch):
    """Nested deeper than ``MAX_DEPTH``: named where the check began."""


_KIND_NAMES = {NoneType: "null", bool: "a boolean", int: "a number", float: "a number"}
_KIND_NAMES |= {str: "a string", list: "an array", dict: "an object"}


def kind_of(data: Any) -> str:
    """What JSON calls ``data``'s kind ("an object"), or its Python type when it is not JSON."""
    return _KIND_NAMES.get(type(data)) or f"a {type(data).__name__} (not JSON data)"


def show(data: Any) -> str:
    """A scalar as JSON text (cut short), anything else by its kind."""
    if type(data) in (str, int, float, bool, NoneType):
        text = json.dumps(data)
        return text if len(text) <= 40 else text[:37] + "..."
    return kind_of(data)


# --- JSON kinds, for unions -----------------------------------------------------------

# A JSON value's kind as unions dispatch on it: an integer may go to ``int`` or ``float``.
_DISPATCH_KIND = {NoneType: "null", bool: "boolean", int: "integer", float: "fraction"}
_DISPATCH_KIND |= {str: "string", list: "array", dict: "object"}
_ALL_KINDS = frozenset(_DISPATCH_KIND.values())
_KIND_TEXT = {"null": "null", "boolean": "booleans", "integer": "integers"}
_KIND_TEXT |= {"fraction": "numbers", "string": "strings", "array": "arrays"}
_KIND_TEXT |= {"object": "objects"}


def _unwrap(type_: Any) -> Any:
    """The type behind ``Annotated[T, ...]`` and ``NewType``."""
    while True:
        if typing.get_origin(type_) is Annotated:
            type_ = typing.get_args(type_)[0]
        elif hasattr(type_, "__supertype__"):
            type_ = type_.__supertype__
        else:
            return type_


_STRING_TYPES = (str, dt.datetime, dt.date, dt.time, uuid.UUID, decimal.Decimal)
_ARRAY_ORIGINS = (list, tuple, set, frozenset, Sequence, MutableSequence, AbstractSet, MutableSet)
_OBJECT_ORIGINS = (dict, Mapping, MutableMapping)


def _is_class(type_: Any) -> bool:
    return isinstance(type_, type) and (attrs.has(type_) or dataclasses.is_dataclass(type_))


def _is_enum(type_: Any) -> bool:
    return isinstance(type_, type) and issubclass(type_, enum.Enum)


def _choices(type_: Any) -> list[Any]:
    """The JSON values of a Literal or an enum."""
    if _is_enum(type_):
        return [member.value for member in type_]
    return [v.value if isinstance(v, enum.Enum) else v for v in typing.get_args(type_)]


def kinds(type_: Any) -> frozenset[str]:
    """The JSON kinds data of ``type_`` may have (for a type ``hook`` accepts)."""
    type_ = _unwrap(type_)
    if type_ is Any or type_ is object or type_ is inspect.Parameter.empty:
        return _ALL_KINDS
    if type_ is None or type_ is NoneType:
        return frozenset({"null"})
    if type_ is bool:
        return frozenset({"boolean"})
    if type_ is int:
        return frozenset({"integer"})
    if type_ is float:
        return frozenset({"integer", "fraction"})
    if type_ in _STRING_TYPES:
        return frozenset({"string"})
    origin = typing.get_origin(type_)
    if origin is Literal or _is_enum(type_):
        return frozenset(_DISPATCH_KIND.get(type(v), "other") for v in _choices(type_))
    if origin is Union or origin is types.UnionType:
        return frozenset().union(*(kinds(arg) for arg in typing.get_args(type_)))
    base = origin or type_
    if base in _ARRAY_ORIGINS:
        return frozenset({"array"})
    if base in _OBJECT_ORIGINS or _is_class(base):
        return frozenset({"object"})
    return frozenset()


def describe(type_: Any) -> str:
    """What data of ``type_`` looks like, for messages: "a string or null"."""
    type_ = _unwrap(type_)
    origin = typing.get_origin(type_)
    if origin is Union or origin is types.UnionType:
        parts = list(dict.fromkeys(describe(arg) for arg in typing.get_args(type_)))
        if len(parts) == 1:
            return parts[0]
        return ", ".join(parts[:-1]) + " or " + parts[-1]
    if origin is Literal or _is_enum(type_):
        return _one_of(_choices(type_))
    return _DESCRIPTIONS.get(type_) or (
        "an array" if (origin or type_) in _ARRAY_ORIGINS else "an object"
    )


def _one_of(values: list[Any]) -> str:
    shown = [json.dumps(v) for v in values[:10]]
    more = ", ..." if len(values) > 10 else ""
    return shown[0] if len(shown) == 1 else f"one of {', '.join(shown)}{more}"


_DESCRIPTIONS: dict[Any, str] = {
    Any: "JSON data",
    object: "JSON data",
    inspect.Parameter.empty: "JSON data",
    None: "null",
    NoneType: "null",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    dt.datetime: "a date-time string (ISO 8601)",
    dt.date: "a date string (ISO 8601)",
    dt.time: "a time string (ISO 8601)",
    uuid.UUID: "a UUID string (8-4-4-4-12 hex digits)",
    decimal.Decimal: "a decimal number as a string",
}


# --- leaves -------------------------------------------------------------------------


def structure_str(data: Any, _: Any) -> str:
    if type(data) is str:
        if data.isascii():
            return data
        problem = text_problem(data)
        if problem is None:
            return data
        raise Mismatch(problem)
    raise Mismatch(f"expected a string, got {kind_of(data)}")


def structure_int(data: Any, _: Any) -> int:
    if type(data) is int:
        return data
    if type(data) is float:
        raise Mismatch(f"expected an integer, got {data!r}")
    raise Mismatch(f"expected an integer, got {kind_of(data)}")


def structure_float(data: Any, _: Any) -> float:
    kind = type(data)
    if kind is float:
        if data - data == 0.0:
            return float(data)
        raise Mismatch(f"expected a finite number, got {data!r}")
    if kind is int:
        try:
            return float(data)
        except OverflowError:
            raise Mismatch("expected a number, got an integer too large for a float") from None
    raise Mismatch(f"expected a number, got {kind_of(data)}")


def structure_bool(data: Any, _: Any) -> bool:
    if type(data) is bool:
        return data
    raise Mismatch(f"expected a boolean, got {kind_of(data)}")


def structure_none(data: Any, _: Any) -> None:
    if data is None:
        return None
    raise Mismatch(f"expected null, got {kind_of(data)}")


def structure_any(data: Any, _: Any) -> Any:
    """JSON data passes as it is, once checked to be JSON data."""
    kind = type(data)
    if kind is str:
        if not data.isascii() and (problem := text_problem(data)):
            raise Mismatch(problem)
    elif kind is not int and kind is not bool and data is not None:
        check_plain(data, 0)
    return data


def pass_through(data: Any, _: Any) -> Any:
    return data


def structure_any_str(data: Any, _: Any) -> str:
    if type(data) is str:
        return data
    raise Mismatch(f"expected a string, got {kind_of(data)}")


def check_plain(data: Any, depth: int) -> None:
    """Raise ``Mismatch`` unless ``data`` is JSON data (as ``json.loads`` gives), naming where."""
    kind = type(data)
    if kind is str:
        if not data.isascii() and (problem := text_problem(data)):
            raise Mismatch(problem)
    elif kind is int or kind is bool or data is None:
        return
    elif kind is float:
        if data - data != 0.0:
            raise Mismatch(f"{data!r} is not a JSON number")
    elif kind is list or kind is dict:
        if depth >= MAX_DEPTH:
            raise TooDeep(f"nested deeper than {MAX_DEPTH} levels")
        items: Iterable[tuple[Any, Any]] = enumerate(data) if kind is list else data.items()
        for key, item in items:
            try:
                if type(key) is not int:
                    if type(key) is not str:
                        raise Mismatch(f"expected a string key, got {kind_of(key)}")
                    if not key.isascii() and (problem := text_problem(key)):
                        raise Mismatch(f"a key: {problem}")
                check_plain(item, depth + 1)
            except TooDeep:
                raise
            except Exception as exc:
                raise _at(exc, key, Any) from None
    else:
        raise Mismatch(f"expected JSON data, got {kind_of(data)}")


def _at(exc: Exception, index: Any, type_: Any) -> IterableValidationError:
    """``exc`` as the one problem of a container at ``index`` (cattrs then names the path)."""
    note = IterableValidationNote(f"Structuring @ index {index!r}", index, type_)
    exc.__notes__ = [*getattr(exc, "__notes__", []), note]
    return IterableValidationError("While structuring JSON data", [exc], type_)


def _parser(parse: Callable[[str], Any], type_: Any) -> Hook:
    expected = _DESCRIPTIONS[type_]

    def structure_text(data: Any, _: Any) -> Any:
        if type(data) is not str:
            raise Mismatch(f"expected {expected}, got {kind_of(data)}")
        try:
            return parse(data)
        except ValueError:
            pass
        raise Mismatch(f"expected {expected}, got {show(data)}")

    return structure_text


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _parse_uuid(text: str) -> uuid.UUID:
    if not _UUID.fullmatch(text):
        raise ValueError(text)
    return uuid.UUID(text)


def _parse_decimal(text: str) -> decimal.Decimal:
    if not _DECIMAL.fullmatch(text):
        raise ValueError(text)
    return decimal.Decimal(text)


_INT_KEY = re.compile(r"-?(?:0|[1-9][0-9]*)")

_LEAVES: dict[Any, Hook] = {
    Any: structure_any,
    object: structure_any,
    inspect.Parameter.empty: structure_any,
    None: structure_none,
    NoneType: structure_none,
    str: structure_str,
    int: structure_int,
    float: structure_float,
    bool: structure_bool,
    dt.datetime: _parser(dt.datetime.fromisoformat, dt.datetime),
    dt.date: _parser(dt.date.fromisoformat, dt.date),
    dt.time: _parser(dt.time.fromisoformat, dt.time),
    uuid.UUID: _parser(_parse_uuid, uuid.UUID),
    decimal.Decimal: _parser(_parse_decimal, decimal.Decimal),
}


def _name(type_: Any) -> str:
    return getattr(type_, "__qualname__", None) or repr(type_)


# --- the builder ----------------------------------------------------------------------


@attrs.define(eq=False)
class StructureHooks:
    """Hooks by type, built once; ``trust_any``: ``Any`` passes unchecked (our own journal)."""

    _converter: cattrs.Converter
    trust_any: bool = False
    _hooks: dict[Any, Hook] = attrs.field(factory=dict)
    _building: list[Any] = attrs.field(factory=list)
    unbounded: set[Any] = attrs.field(factory=set)
    """Types whose data may nest without end (they refer to themselves)."""

    def hook(self, type_: Any) -> Hook:
        """The hook of ``type_``; ``TypeError`` when it has no JSON form."""
        try:
            found = self._hooks.get(type_)
        except TypeError:
            raise TypeError(f"{type_!r} is not a type") from None
        if found is not None:
            if type_ in self.unbounded:
                self.unbounded.update(self._building)
            return found
        if type_ in self._building:  # a type that refers to itself: bind late
            self.unbounded.update(self._building)
            return lambda data, t: self._hooks[type_](data, t)
        before = set(self._hooks) if not self._building else None
        self._building.append(type_)
        try:
            made = self._make(type_)
        except BaseException:
            if before is not None:  # forget what refers to the type that failed
                for built in set(self._hooks) - before:
                    del self._hooks[built]
                    self.unbounded.discard(built)
            raise
        finally:
            self._building.pop()
        self._hooks[type_] = made
        return made

    def _make(self, type_: Any) -> Hook:
        if self.trust_any and (type_ is Any or type_ is object):
            return pass_through
        if self.trust_any and type_ is str:
            return structure_any_str
        leaf = _LEAVES.get(type_)
        if leaf is not None:
            return leaf
        if isinstance(type_, str | typing.ForwardRef):
            raise TypeError(f"the annotation {type_!r} is not resolved")
        if isinstance(type_, typing.TypeVar):
            raise TypeError(f"the type variable {type_!r} has no JSON form")
        if _unwrap(type_) is not type_:
            return self.hook(_unwrap(type_))
        origin = typing.get_origin(type_)
        args = typing.get_args(type_)
        if origin is Literal or _is_enum(type_):
            return self._choice(type_)
        if origin is Union or origin is types.UnionType:
            return self._union(type_, args)
        if _is_class(type_):
            return self._class(type_)
        base = origin or type_
        if base in (list, Sequence, MutableSequence):
            return self._list(args[0] if args else Any)
        if base is tuple:
            if args and args[-1] is Ellipsis:
                return self._tuple(args[0])
            if not args and type_ in (tuple, typing.Tuple):  # noqa: UP006
                return self._tuple(Any)
            return self._fixed_tuple(args)
        if base in (set, MutableSet):
            return self._set(args[0] if args else Any, set)
        if base in (frozenset, AbstractSet):
            return self._set(args[0] if args else Any, frozenset)
        if base in _OBJECT_ORIGINS:
            return self._dict(*(args or (str, Any)))
        raise TypeError(f"{_name(type_)} has no JSON form (see the types in README.md)")

    # --- choices and unions

    def _choice(self, type_: Any) -> Hook:
        values = list(type_) if _is_enum(type_) else list(typing.get_args(type_))
        options: dict[tuple[type, Any], Any] = {}
        for value in values:
            data = value.value if isinstance(value, enum.Enum) else value
            if type(data) not in _DISPATCH_KIND or type(data) in (list, dict):
                raise TypeError(f"{_name(type_)}: {value!r} has no JSON scalar value")
            if type(data) is float and data - data != 0.0:
                raise TypeError(f"{_name(type_)}: {value!r} is not a JSON number")
            options.setdefault((type(data), data), value)
        if not options:
            raise TypeError(f"{_name(type_)} has no values")
        expected = describe(type_)

        def structure_choice(data: Any, _: Any) -> Any:
            try:
                return options[(type(data), data)]
            except (KeyError, TypeError):
                pass
            raise Mismatch(f"expected {expected}, got {show(data)}")

        return structure_choice

    def _union(self, type_: Any, members: tuple[Any, ...]) -> Hook:
        if any(_unwrap(m) is Any or _unwrap(m) is object for m in members):
            return self.hook(Any)
        takers: dict[str, list[Any]] = {}
        for member in members:
            self.hook(member)  # refuses a member with no JSON form, by its name
            for kind in kinds(member):
                takers.setdefault(kind, []).append(member)
        table: dict[str | None, tuple[Hook, Any]] = {}
        for kind, those in takers.items():
            if len(those) == 1:
                table[kind] = (self.hook(those[0]), those[0])
            elif kind == "integer" and {_unwrap(t) for t in those} == {int, float}:
                table[kind] = (structure_int, int)
            elif kind == "object" and all(_is_class(_unwrap(t)) for t in those):
                table[kind] = (self._classes([_unwrap(t) for t in those]), None)
            else:
                names = ", ".join(_name(t) for t in those)
                raise TypeError(f"{type_!r} is ambiguous: {names} all take JSON {_KIND_TEXT[kind]}")
        expected = describe(type_)
        if len(members) == 2 and takers.get("null") == [NoneType]:
            other = next(m for m in members if m is not NoneType)
            inner = self.hook(other)

            def structure_optional(data: Any, _: Any) -> Any:
                if data is None:
                    return None
                if _DISPATCH_KIND.get(type(data)) in table:
                    return inner(data, other)
                raise Mismatch(f"expected {expected}, got {kind_of(data)}")

            return structure_optional

        def structure_union(data: Any, _: Any) -> Any:
            entry = table.get(_DISPATCH_KIND.get(type(data)))
            if entry is None:
                raise Mismatch(f"expected {expected}, got {kind_of(data)}")
            return entry[0](data, entry[1])

        return structure_union

    def _classes(self, classes: list[type]) -> Hook:
        hooks = {cl: self.hook(cl) for cl in classes}
        names = " or ".join(cl.__qualname__ for cl in classes)
        try:
            tell = create_default_dis_func(self._converter, *classes, overrides={})
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{names} cannot be told apart: {exc}") from None

        def structure_classes(data: Any, _: Any) -> Any:
            try:
                which = tell(data)
            except Exception:
                which = None
            if which is None:
                raise Mismatch(f"expected an object of {names}: no field tells which")
            hook = hooks.get(which) or self.hook(which)
            return hook(data, which)

        return structure_classes

    # --- classes

    def _class(self, cl: type) -> Hook:
        if getattr(cl, "__parameters__", ()):
            raise TypeError(f"{cl.__qualname__} is generic: give a class without type variables")
        try:
            hints = typing.get_type_hints(cl)
        except Exception as exc:
            raise TypeError(f"{cl.__qualname__}: an annotation is not resolved ({exc})") from None
        fields: Iterable[Any] = attrs.fields(cl) if attrs.has(cl) else dataclasses.fields(cl)
        overrides: dict[str, Any] = {}
        for field in fields:
            if not field.init:
                continue
            try:
                hook = self.hook(hints.get(field.name, Any))
            except TypeError as exc:
                raise TypeError(f"{cl.__qualname__}.{field.name}: {exc}") from None
            overrides[field.name] = override(struct_hook=hook)
        made: Hook = make_dict_structure_fn(
            cl,
            self._converter,
            _cattrs_forbid_extra_keys=True,
            _cattrs_detailed_validation=True,
            **overrides,
        )

        def structure_class(data: Any, _: Any) -> Any:
            if type(data) is dict:
                return made(data, cl)
            raise Mismatch(f"expected an object, got {kind_of(data)}")

        return structure_class

    # --- containers

    def _list(self, item: Any) -> Hook:
        hook = self.hook(item)

        def structure_list(data: Any, _: Any) -> list[Any]:
            if type(data) is not list:
                raise Mismatch(f"expected an array, got {kind_of(data)}")
            try:
                return [hook(x, item) for x in data]
            except RecursionError:
                raise
            except Exception:
                raise _problems(enumerate(data), hook, item, list) from None

        return structure_list

    def _tuple(self, item: Any) -> Hook:
        structure_list = self._list(item)
        return lambda data, t: tuple(structure_list(data, t))

    def _fixed_tuple(self, items: tuple[Any, ...]) -> Hook:
        hooks = [(self.hook(t), t) for t in items]
        n = len(items)

        def structure_tuple(data: Any, _: Any) -> tuple[Any, ...]:
            if type(data) is not list:
                raise Mismatch(f"expected an array, got {kind_of(data)}")
            if len(data) != n:
                raise Mismatch(f"expected an array of {n} items, got {len(data)}")
            out = []
            errors = []
            for i, ((hook, t), x) in enumerate(zip(hooks, data, strict=True)):
                try:
                    out.append(hook(x, t))
                except RecursionError:
                    raise
                except Exception as exc:
                    exc.__notes__ = [
                        *getattr(exc, "__notes__", []),
                        IterableValidationNote(f"Structuring @ index {i}", i, t),
                    ]
                    errors.append(exc)
            if errors:
                raise IterableValidationError("While structuring an array", errors, tuple)
            return tuple(out)

        return structure_tuple

    def _set(self, item: Any, make: type[set[Any]] | type[frozenset[Any]]) -> Hook:
        if not _hashable(item):
            raise TypeError(f"set items of type {_name(item)} are not hashable")
        structure_list = self._list(item)

        def structure_set(data: Any, _: Any) -> Any:
            items = structure_list(data, _)
            try:
                out = make(items)
            except TypeError:
                raise Mismatch("expected an array of strings, numbers, booleans or null") from None
            if len(out) != len(items):
                seen: list[Any] = []
                for i, x in enumerate(items):
                    if x in seen:
                        raise _at(Mismatch("a repeated item (a set holds each once)"), i, item)
                    seen.append(x)
            return out

        return structure_set

    def _dict(self, key: Any, value: Any) -> Hook:
        key_hook = self._key(key)
        value_hook = self.hook(value)

        def structure_dict(data: Any, _: Any) -> dict[Any, Any]:
            if type(data) is not dict:
                raise Mismatch(f"expected an object, got {kind_of(data)}")
            try:
                out = {key_hook(k, key): value_hook(v, value) for k, v in data.items()}
            except RecursionError:
                raise
            except Exception:
                raise _dict_problems(data, key_hook, key, value_hook, value) from None
            if len(out) != len(data):
                raise Mismatch(f"two keys stand for the same {_name(key)}")
            return out

        return structure_dict

    def _key(self, key: Any) -> Hook:
        key_kinds = kinds(key)
        if key is Any or key_kinds == {"string"}:
            return structure_str if key is Any else self.hook(key)
        if key_kinds == {"integer"}:
            hook = self.hook(key)

            def structure_int_key(data: Any, _: Any) -> Any:
                if type(data) is str and _INT_KEY.fullmatch(data):
                    return hook(int(data), key)
                raise Mismatch(f"expected an integer, got {show(data)}")

            return structure_int_key
        raise TypeError(
            f"dict keys of type {_name(key)} have no JSON form (keys are strings, "
            "or integers, enums, UUIDs, dates and decimals written as strings)"
        )


def _problems(items: Iterable[tuple[int, Any]], hook: Hook, type_: Any, cl: type) -> Exception:
    errors = []
    for i, x in items:
        try:
            hook(x, type_)
        except Exception as exc:
            exc.__notes__ = [
                *getattr(exc, "__notes__", []),
                IterableValidationNote(f"Structuring @ index {i}", i, type_),
            ]
            errors.append(exc)
    return IterableValidationError("While structuring an array", errors, cl)


def _dict_problems(
    data: dict[Any, Any], key_hook: Hook, key: Any, value_hook: Hook, value: Any
) -> Exception:
    errors = []
    for k, v in data.items():
        try:
            try:
                key_hook(k, key)
            except Mismatch as exc:
                raise Mismatch(f"invalid key: {exc}") from None
            value_hook(v, value)
        except Exception as exc:
            exc.__notes__ = [
                *getattr(exc, "__notes__", []),
                IterableValidationNote(f"Structuring @ key {k!r}", k, value),
            ]
            errors.append(exc)
    return IterableValidationError("While structuring an object", errors, dict)


def _hashable(type_: Any) -> bool:
    """False for item types whose values could never be in a set."""
    type_ = _unwrap(type_)
    origin = typing.get_origin(type_)
    if origin is Union or origin is types.UnionType or origin is tuple:
        return all(_hashable(arg) for arg in typing.get_args(type_) if arg is not Ellipsis)
    base = origin or type_
    if base in (list, set, dict, MutableSequence, MutableSet, Mapping, MutableMapping):
        return False
    if _is_class(base):
        return base.__hash__ is not None
    return True


def depth_exceeds(data: Any, limit: int) -> bool:
    """Whether ``data`` nests arrays and objects deeper than ``limit``, without recursion."""
    stack = [(data, 1)]
    while stack:
        value, level = stack.pop()
        if level > limit:
            return True
        for item in value.values() if type(value) is dict else value:
            if type(item) is list or type(item) is dict:
                stack.append((item, level + 1))
    return False
