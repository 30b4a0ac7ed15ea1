"""The shape of ``bot/`` that keeps it easy to change: small modules, and imports that form no
cycle, counting the ones inside functions (a lazy import must not hide a cycle)."""

from __future__ import annotations

import ast
from pathlib import Path

BOT = Path(__file__).resolve().parents[1] / "bot"
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = path.relative_to(BOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The bot modules that ``path`` imports anywhere, except under ``if TYPE_CHECKING``."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and child.module and not child.level:
                names = [f"{child.module}.{alias.name}" for alias in child.names]
                names.append(child.module)
            else:
                names = []
            found.update(name for name in names if name in modules)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def test_every_bot_module_is_under_400_lines() -> None:
    sizes = {str(p.relative_to(BOT.parent)): len(p.read_text(encoding="utf-8").splitlines())
             for p in BOT.rglob("*.py")}
    assert sizes and all(n < MAX_LINES for n in sizes.values()), sizes


def test_no_import_cycle_in_bot() -> None:
    paths = {_module_name(p): p for p in BOT.rglob("*.py")}
    modules = set(paths)
    graph = {name: _imports(path, modules) - {name} for name, path in paths.items()}
    assert graph["bot.discordbot.client"] >= {"bot.discordbot.commands",
                                              "bot.discordbot.dispatch"}  # the graph is read

    def cycle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    return [*trail, start]
                if nxt not in trail:
                    stack.append((nxt, [*trail, nxt]))
        return None

    cycles = [c for c in map(cycle_from, sorted(graph)) if c is not None]
    assert not cycles, cycles
