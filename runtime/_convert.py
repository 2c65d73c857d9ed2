"""The one cattrs converter: user values in and out of JSON, and journal records.

Every value that crosses the journal or the API goes out through ``to_json_value``
(``_unstructure``: one JSON form per Python type, checked to be JSON data) and comes
back through ``from_json_value`` (``_structure``: exactly the declared type, or
``InvalidInput`` naming each field that does not fit). ``check_type`` judges an
annotation up front, so ``@workflow`` and ``@activity`` refuse one the converter
cannot handle when they decorate the function.
"""

from __future__ import annotations

import inspect
import pathlib
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import cattrs
from cattrs.v import format_exception

from ._errors import InvalidInput
from ._json import dumps as dumps
from ._json import loads as loads
from ._structure import StructureHooks
from ._structure_leaves import Hook, Mismatch, TooDeep, depth_exceeds
from ._unstructure import MAX_DEPTH, NotJson, unstructure

converter = cattrs.Converter(detailed_validation=True, forbid_extra_keys=True)
_user = StructureHooks(converter)
_journal = StructureHooks(converter, trust_any=True)
converter.register_structure_hook_factory(lambda _: True, _user.hook)
converter.register_unstructure_hook_func(lambda _: True, unstructure)
for _kind in (str, bytes, int, float, bool, pathlib.Path):
    # cattrs looks these (and their subclasses: enums, bool) up before any factory.
    converter.register_structure_hook(_kind, lambda data, t: _user.hook(t)(data, t))
    converter.register_unstructure_hook(_kind, unstructure)


def journal_hook(cls: type) -> Hook:
    """The structure hook of a journal record class: what the runtime wrote itself comes
    back as it was (``Any`` fields and strings unchecked), so no record written by an
    older, more lenient version is refused."""
    return _journal.hook(cls)


def check_type(type_: Any) -> None:
    """Raise ``TypeError`` naming the problem unless values of ``type_`` have a JSON form."""
    _entry(type_)


_ENTRY: dict[Any, Hook] = {}


def _entry(type_: Any) -> Hook:
    hook = _user.hook(type_)
    if type_ in _user.unbounded:  # refers to itself: data may nest past the limit
        inner = hook

        def hook(data: Any, t: Any) -> Any:
            if (type(data) is list or type(data) is dict) and depth_exceeds(data, MAX_DEPTH):
                raise TooDeep(f"nested deeper than {MAX_DEPTH} levels")
            return inner(data, t)

    _ENTRY[type_] = hook
    return hook


def to_json_value(value: Any, *, path: str = "value") -> Any:
    """``value`` (attrs class, dataclass, datetime, set, ...) as plain JSON data.

    Anything that has no JSON form is ``InvalidInput`` naming where it is under ``path``.
    """
    kind = type(value)
    if kind is bool or value is None or (kind is int and value.bit_length() < 64):
        return value
    if kind is str and value.isascii():
        return value
    try:
        return unstructure(value)
    except NotJson as exc:
        raise InvalidInput([exc.at(path)]) from None


def from_json_value(data: Any, type_: Any, *, path: str) -> Any:
    """Structure plain JSON data into ``type_``; a mismatch is ``InvalidInput`` naming the
    path and what was expected at each field that does not fit."""
    hook = _ENTRY.get(type_) or _entry(type_)
    try:
        return hook(data, type_)
    except Exception as exc:
        raise InvalidInput(
            cattrs.transform_error(exc, path=path, format_exception=_format)
        ) from exc


def _format(exc: BaseException, type_: Any) -> str:
    """Our own mismatches as they read; cattrs' wording for the rest, plus the message of
    a failing validator ("amount must be > 0")."""
    if isinstance(exc, Mismatch):
        return str(exc)
    if isinstance(exc, RecursionError):
        return f"nested deeper than {MAX_DEPTH} levels"
    text = format_exception(exc, type_)
    if type(exc) is ValueError and str(exc):
        return f"{text}: {exc}"
    return text


# --- annotations ----------------------------------------------------------------------


def _probe() -> None: ...


def resolved_annotations(fn: Callable[..., Any]) -> dict[str, Any]:
    """``fn``'s annotations, resolved; one that does not resolve stays a string (or
    ``ForwardRef``), which ``check_type`` refuses by name."""
    try:
        return typing.get_type_hints(fn)
    except Exception:
        pass
    hints: dict[str, Any] = {}
    namespace = getattr(fn, "__globals__", {})
    for name, annotation in getattr(fn, "__annotations__", {}).items():
        probe = types.FunctionType(_probe.__code__, namespace)
        probe.__annotations__ = {name: annotation}
        try:
            hints.update(typing.get_type_hints(probe))
        except Exception:
            hints[name] = annotation
    return hints


def parameter_types(fn: Callable[..., Any]) -> list[inspect.Parameter]:
    """The parameters of ``fn`` with annotations resolved (``empty`` where there is none)."""
    hints = resolved_annotations(fn)
    return [
        p.replace(annotation=hints.get(p.name, inspect.Parameter.empty))
        for p in inspect.signature(fn).parameters.values()
    ]


def return_type(fn: Callable[..., Any]) -> Any:
    return resolved_annotations(fn).get("return", Any)


def check_signature(what: str, params: list[inspect.Parameter], result: Any) -> None:
    """Raise ``TypeError`` naming ``what`` (``workflow 'charge'``) and the parameter, or the
    return type, whose annotation has no JSON form."""
    for p in params:
        try:
            check_type(p.annotation)
        except TypeError as exc:
            raise TypeError(f"{what}: parameter {p.name!r}: {exc}") from None
    try:
        check_type(result)
    except TypeError as exc:
        raise TypeError(f"{what}: return type: {exc}") from None


@attrs.frozen
class Arguments:
    """A function's arguments to and from JSON, each by its parameter's annotation and
    named in messages as ``function.parameter``."""

    _owner: str
    _positional: tuple[tuple[str, Any], ...]
    _rest: Any
    _keywords: dict[str, tuple[str, Any]]
    _extra: Any

    @classmethod
    def of(cls, owner: str, params: list[inspect.Parameter]) -> Arguments:
        kinds = inspect.Parameter
        return cls(
            owner,
            tuple(
                (f"{owner}.{p.name}", p.annotation)
                for p in params
                if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)
            ),
            next((p.annotation for p in params if p.kind is kinds.VAR_POSITIONAL), Any),
            {
                p.name: (f"{owner}.{p.name}", p.annotation)
                for p in params
                if p.kind in (kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY)
            },
            next((p.annotation for p in params if p.kind is kinds.VAR_KEYWORD), Any),
        )

    def _at(self, i: int) -> tuple[str, Any]:
        if i < len(self._positional):
            return self._positional[i]
        return f"{self._owner}.args[{i}]", self._rest

    def _named(self, name: str) -> tuple[str, Any]:
        return self._keywords.get(name) or (f"{self._owner}.{name}", self._extra)

    def encode(
        self, args: Sequence[Any], kwargs: dict[str, Any]
    ) -> tuple[list[Any], dict[str, Any]]:
        """The arguments as JSON data, each checked to fit its parameter: ``InvalidInput``
        otherwise, before anything is journaled."""
        json_args = []
        for i, value in enumerate(args):
            path, type_ = self._at(i)
            data = to_json_value(value, path=path)
            from_json_value(data, type_, path=path)
            json_args.append(data)
        json_kwargs = {}
        for name, value in kwargs.items():
            path, type_ = self._named(name)
            data = to_json_value(value, path=path)
            from_json_value(data, type_, path=path)
            json_kwargs[name] = data
        return json_args, json_kwargs

    def decode(
        self, args: Sequence[Any], kwargs: dict[str, Any]
    ) -> tuple[list[Any], dict[str, Any]]:
        """Journaled arguments structured into the parameters' types."""
        values = []
        for i, data in enumerate(args):
            path, type_ = self._at(i)
            values.append(from_json_value(data, type_, path=path))
        named = {}
        for name, data in kwargs.items():
            path, type_ = self._named(name)
            named[name] = from_json_value(data, type_, path=path)
        return values, named
