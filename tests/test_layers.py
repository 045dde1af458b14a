"""No import cycle between the shipped packages' parts.

The parts are `connectors` and each direct child of `bot` (a subpackage such as `bot.answering`,
or a module such as `bot.config`). Every import counts, including the ones inside functions: a
lazy import hides a cycle from the interpreter, not from the next reader. A cycle fails with the
files that make each step of it, so the fix (move the shared piece below both) is easy to find.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "connectors")


def part(module: str) -> str | None:
    """The part a dotted module name belongs to (None: outside the shipped packages)."""
    names = module.split(".")
    if names[0] == "connectors":
        return "connectors"
    if names[0] != "bot" or len(names) == 1:
        return None
    return f"bot.{names[1]}"


def module_name(path: Path) -> str:
    names = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(names[:-1] if names[-1] == "__init__" else names)


def imported(path: Path) -> set[str]:
    """Every module `path` imports (`from bot import store` counts as `bot.store`)."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def part_graph() -> dict[str, dict[str, set[str]]]:
    """part -> {part it imports: the files that do}."""
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            source = part(module_name(path)) or package
            for target in filter(None, map(part, imported(path))):
                if target != source:
                    graph[source][target].add(str(path.relative_to(ROOT)))
    return graph


def cycles(graph: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    """One cycle (as a closed path) through each strongly connected group of parts."""
    found, seen = [], set()
    for start in sorted(graph):
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in sorted(graph.get(node, {})):
                if nxt == start:
                    loop = path + [start]
                    key = frozenset(loop)
                    if key not in seen:
                        seen.add(key)
                        found.append(loop)
                elif nxt not in path and nxt > start:  # each cycle once, from its least part
                    stack.append((nxt, path + [nxt]))
    return found


def test_the_shipped_packages_have_no_import_cycle():
    graph = part_graph()
    assert graph["bot.answering"] and graph["connectors"] == {}  # the scan sees the tree
    problems = [" -> ".join(loop) + "\n" + "\n".join(
        f"    {a} -> {b}: {', '.join(sorted(graph[a][b]))}" for a, b in zip(loop, loop[1:]))
        for loop in cycles(graph)]
    assert not problems, "import cycles between parts of the package:\n" + "\n".join(problems)


def test_the_cycle_finder_finds_a_lazy_import_cycle(tmp_path, monkeypatch):
    """The check itself can fail: a function-level import that closes a loop is reported."""
    (tmp_path / "bot" / "a").mkdir(parents=True)
    (tmp_path / "connectors").mkdir()
    (tmp_path / "bot" / "__init__.py").write_text("")
    (tmp_path / "bot" / "a" / "__init__.py").write_text("from . import b\n")
    (tmp_path / "bot" / "a" / "b.py").write_text("from bot import config\n")
    (tmp_path / "bot" / "config.py").write_text("def f():\n    from connectors.x import y\n")
    (tmp_path / "connectors" / "x.py").write_text("from bot.a.b import c\n")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert cycles(part_graph()) == [["bot.a", "bot.config", "connectors", "bot.a"]]
