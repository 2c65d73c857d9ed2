"""The layers import downwards only: actors/ <- runtime/ <- api/ (read from the sources)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = ("actors", "runtime", "api")


def imports(folder: str) -> Iterator[tuple[str, int, str, str | None]]:
    """(file, line, module, name) for every import in ``folder``'s sources, ``TYPE_CHECKING``
    blocks and function bodies included; relative imports are made absolute."""
    for path in sorted((ROOT / folder).rglob("*.py")):
        package = path.relative_to(ROOT).with_suffix("").parts[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield where, node.lineno, alias.name, None
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level:
                    base = package[: len(package) - node.level + 1]
                    module = ".".join([*base, *([module] if module else [])])
                for alias in node.names:
                    yield where, node.lineno, module, alias.name


def private(module: str, name: str | None) -> bool:
    parts = module.split(".")[1:] + ([name] if name is not None else [])
    return any(part.startswith("_") and part != "__future__" for part in parts)


def test_api_uses_only_runtime_s_public_face() -> None:
    found = [
        f"{where}: {module} {name or ''}"
        for where, _, module, name in imports("api")
        if module.split(".")[0] == "runtime" and private(module, name)
    ]
    assert found == []


def test_actors_imports_nothing_of_ours() -> None:
    found = [
        f"{where}: {module}"
        for where, _, module, _name in imports("actors")
        if module.split(".")[0] in OURS and module.split(".")[0] != "actors"
    ]
    assert found == []


def test_runtime_imports_nothing_of_api() -> None:
    found = [f"{where}: {module}" for where, _, module, _ in imports("runtime")]
    assert [line for line in found if line.rsplit(": ", 1)[1].split(".")[0] == "api"] == []


def test_the_checks_see_what_they_look_for() -> None:
    assert private("runtime._sqlite", "SqliteStore")
    assert private("runtime", "_sqlite")
    assert not private("runtime", "SqliteStore")
    assert not private("runtime.bpmn", "load")
    seen = {(module, name) for _, _, module, name in imports("api")}
    assert ("runtime", "SqliteStore") in seen  # api/_serve.py
    assert ("api._fast_path", "connection_class") in seen  # a relative import, made absolute
