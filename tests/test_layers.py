"""The layers import downwards only: actors/ <- runtime/ <- api/ (read from the sources)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = ("actors", "runtime", "api")
PACKAGES = frozenset({*OURS, "runtime.bpmn"})


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
    assert ("runtime.store", "open_store") in seen  # api/_serve.py
    assert ("api._fast_path", "connection_class") in seen  # a relative import, made absolute


def module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Each of our modules and the modules of ours it imports (``TYPE_CHECKING`` too); a
    package's ``__init__`` is left out, as it only gathers the public face."""
    modules = {
        module_of(path): path for folder in OURS for path in sorted((ROOT / folder).rglob("*.py"))
    }
    graph: dict[str, set[str]] = {}
    for folder in OURS:
        for where, _, module, name in imports(folder):
            source = module_of(ROOT / where.rsplit(":", 1)[0])
            if source in PACKAGES:
                continue
            target = f"{module}.{name}" if f"{module}.{name}" in modules else module
            if target in modules and target != source and target not in PACKAGES:
                graph.setdefault(source, set()).add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_no_import_cycles() -> None:
    """Not even under ``TYPE_CHECKING``: two modules that need each other's types share a
    small module of types below both (``_ports``, ``_messages``, ``_json``, ``bpmn._running``)."""
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_errors_spell_their_http_status_one_way() -> None:
    """An error's HTTP status is ``http_status`` (as in the access log's field); the API reads
    only that name, so an error spelling it otherwise would be answered 500."""
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for folder in OURS
        for path in sorted((ROOT / folder).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Name | ast.Attribute)
        and (node.id if isinstance(node, ast.Name) else node.attr) != "http_status"
        and (node.id if isinstance(node, ast.Name) else node.attr).endswith("status_hint")
    ]
    assert found == []
