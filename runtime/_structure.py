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
import enum
import types
import typing
from collections.abc import (
    Iterable,
    MutableSequence,
    MutableSet,
    Sequence,
)
from collections.abc import Set as AbstractSet
from typing import Any, Literal, Union

import attrs
import cattrs
from cattrs.disambiguators import create_default_dis_func
from cattrs.errors import IterableValidationError, IterableValidationNote
from cattrs.gen import make_dict_structure_fn, override

from ._structure_leaves import (
    DISPATCH_KIND,
    INT_KEY,
    KIND_TEXT,
    LEAVES,
    OBJECT_ORIGINS,
    Hook,
    Mismatch,
    NoneType,
    at_index,
    describe,
    hashable,
    is_class,
    is_enum,
    kind_of,
    kinds,
    name_of,
    pass_through,
    show,
    structure_any_str,
    structure_int,
    structure_str,
    unwrap,
)

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
        leaf = LEAVES.get(type_)
        if leaf is not None:
            return leaf
        if isinstance(type_, str | typing.ForwardRef):
            raise TypeError(f"the annotation {type_!r} is not resolved")
        if isinstance(type_, typing.TypeVar):
            raise TypeError(f"the type variable {type_!r} has no JSON form")
        if unwrap(type_) is not type_:
            return self.hook(unwrap(type_))
        origin = typing.get_origin(type_)
        args = typing.get_args(type_)
        if origin is Literal or is_enum(type_):
            return self._choice(type_)
        if origin is Union or origin is types.UnionType:
            return self._union(type_, args)
        if is_class(type_):
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
        if base in OBJECT_ORIGINS:
            return self._dict(*(args or (str, Any)))
        raise TypeError(f"{name_of(type_)} has no JSON form (see the types in README.md)")

    # --- choices and unions

    def _choice(self, type_: Any) -> Hook:
        values = list(type_) if is_enum(type_) else list(typing.get_args(type_))
        options: dict[tuple[type, Any], Any] = {}
        for value in values:
            data = value.value if isinstance(value, enum.Enum) else value
            if type(data) not in DISPATCH_KIND or type(data) in (list, dict):
                raise TypeError(f"{name_of(type_)}: {value!r} has no JSON scalar value")
            if type(data) is float and data - data != 0.0:
                raise TypeError(f"{name_of(type_)}: {value!r} is not a JSON number")
            options.setdefault((type(data), data), value)
        if not options:
            raise TypeError(f"{name_of(type_)} has no values")
        expected = describe(type_)

        def structure_choice(data: Any, _: Any) -> Any:
            try:
                return options[(type(data), data)]
            except (KeyError, TypeError):
                pass
            raise Mismatch(f"expected {expected}, got {show(data)}")

        return structure_choice

    def _union(self, type_: Any, members: tuple[Any, ...]) -> Hook:
        if any(unwrap(m) is Any or unwrap(m) is object for m in members):
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
            elif kind == "integer" and {unwrap(t) for t in those} == {int, float}:
                table[kind] = (structure_int, int)
            elif kind == "object" and all(is_class(unwrap(t)) for t in those):
                table[kind] = (self._classes([unwrap(t) for t in those]), None)
            else:
                names = ", ".join(name_of(t) for t in those)
                raise TypeError(f"{type_!r} is ambiguous: {names} all take JSON {KIND_TEXT[kind]}")
        expected = describe(type_)
        if len(members) == 2 and takers.get("null") == [NoneType]:
            other = next(m for m in members if m is not NoneType)
            inner = self.hook(other)

            def structure_optional(data: Any, _: Any) -> Any:
                if data is None:
                    return None
                if DISPATCH_KIND.get(type(data)) in table:
                    return inner(data, other)
                raise Mismatch(f"expected {expected}, got {kind_of(data)}")

            return structure_optional

        def structure_union(data: Any, _: Any) -> Any:
            entry = table.get(DISPATCH_KIND.get(type(data)))
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
        if not hashable(item):
            raise TypeError(f"set items of type {name_of(item)} are not hashable")
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
                        raise at_index(Mismatch("a repeated item (a set holds each once)"), i, item)
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
                raise Mismatch(f"two keys stand for the same {name_of(key)}")
            return out

        return structure_dict

    def _key(self, key: Any) -> Hook:
        key_kinds = kinds(key)
        if key is Any or key_kinds == {"string"}:
            return structure_str if key is Any else self.hook(key)
        if key_kinds == {"integer"}:
            hook = self.hook(key)

            def structure_int_key(data: Any, _: Any) -> Any:
                if type(data) is str and INT_KEY.fullmatch(data):
                    return hook(int(data), key)
                raise Mismatch(f"expected an integer, got {show(data)}")

            return structure_int_key
        raise TypeError(
            f"dict keys of type {name_of(key)} have no JSON form (keys are strings, "
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
