"""The shape of ``retrieval/`` that keeps the pipeline readable: packages in layers, every
import (lazy ones inside functions too) pointing down, no cycle, no Discord, the evaluation
off the engine's import path, and small modules. The layers are those of the architecture
(../shared/ARCHITECTURE.md); the README's "How it works" names the same packages."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RETRIEVAL = ROOT / "retrieval"
BOT = ROOT / "bot"
MAX_LINES = 400

# Each unit (a top-level module or package of ``retrieval``) and its layer: a module may
# import its own unit and any lower layer; layer 0 may also import within layer 0.
LAYERS = {
    "retrieval": 0,  # the package's own __init__
    "retrieval.errors": 0,
    "retrieval.types": 0,
    "retrieval.questions": 0,
    "retrieval.text": 0,
    "retrieval.llm": 1,
    "retrieval.models": 2,
    "retrieval.store": 2,
    "retrieval.ingest": 3,
    "retrieval.search": 3,
    "retrieval.answer": 4,
    "retrieval.summary": 4,
    "retrieval.insight": 4,
    "retrieval.engine": 5,
    "retrieval.evaluation": 6,
}
# What the adapters may use: the facade and its records, errors, the question rule and the
# supported-types list; only the CLI's measure commands reach the evaluation.
BOT_MAY_IMPORT = ("retrieval.engine", "retrieval.types", "retrieval.errors",
                  "retrieval.questions", "retrieval.ingest.documents")
BOT_MEASURE = {"bot.measure", "bot.training_cli"}  # the CLI's measuring and training


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(package: Path) -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(package.rglob("*.py"))}


RETRIEVAL_MODULES = _modules(RETRIEVAL)


def _unit(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _imported(path: Path, *, type_checking: bool = False) -> set[str]:
    """Every dotted name ``path`` imports anywhere (``from m import n`` gives ``m`` and
    ``m.n``), skipping ``if TYPE_CHECKING:`` blocks unless ``type_checking``."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if (not type_checking and isinstance(child, ast.If)
                    and "TYPE_CHECKING" in ast.unparse(child.test)):
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:  # relative: resolve against this module's package
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in child.names)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def _graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """The retrieval modules each module imports (a name imported from a module is that
    module, not an edge of its own)."""
    return {name: {n for n in _imported(path) if n in RETRIEVAL_MODULES} - {name}
            for name, path in modules.items()}


GRAPH = _graph(RETRIEVAL_MODULES)


def _with_parents(module: str) -> set[str]:
    """Importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` first."""
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


def _reachable(start: str) -> set[str]:
    seen: set[str] = set()
    todo = sorted(_with_parents(start))
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        for nxt in GRAPH.get(node, ()):
            todo.extend(_with_parents(nxt) - seen)
    return seen


def test_the_graph_is_read() -> None:
    assert GRAPH["retrieval.engine"] >= {"retrieval.answer.answerer",
                                         "retrieval.store.open_collections"}
    assert "retrieval.llm.constrained" in GRAPH["retrieval.llm.llamacpp"]  # a lazy import
    assert len(RETRIEVAL_MODULES) > 40


def test_every_module_belongs_to_a_layer() -> None:
    assert not {_unit(m) for m in RETRIEVAL_MODULES} - set(LAYERS)


def test_every_import_points_down() -> None:
    wrong = []
    for module, imports in GRAPH.items():
        for target in imports:
            here, there = LAYERS[_unit(module)], LAYERS[_unit(target)]
            if _unit(module) == _unit(target) or there < here or here == there == 0:
                continue
            wrong.append(f"{module} (layer {here}) imports {target} (layer {there})")
    assert not wrong, "\n".join(sorted(wrong))


def test_no_import_cycle() -> None:
    def cycle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for nxt in GRAPH[node]:
                if nxt == start:
                    return [*trail, start]
                if nxt not in trail:
                    stack.append((nxt, [*trail, nxt]))
        return None

    cycles = [c for c in map(cycle_from, sorted(GRAPH)) if c is not None]
    assert not cycles, cycles


def test_the_engine_never_reaches_the_evaluation() -> None:
    reached = _reachable("retrieval.engine")
    assert "retrieval.llm.llamacpp" in reached  # through retrieval.llm's __init__
    assert not {m for m in reached if _unit(m) == "retrieval.evaluation"}


def test_retrieval_never_imports_discord() -> None:
    users = [m for m, path in RETRIEVAL_MODULES.items()
             if any(n.split(".")[0] == "discord" for n in _imported(path, type_checking=True))]
    assert not users


def test_the_bot_uses_only_the_facade_and_the_cli_alone_measures() -> None:
    wrong = []
    for module, path in _modules(BOT).items():
        for name in sorted(_imported(path, type_checking=True) & set(RETRIEVAL_MODULES)):
            if name in BOT_MAY_IMPORT:
                continue
            if module in BOT_MEASURE and _unit(name) == "retrieval.evaluation":
                continue
            wrong.append(f"{module} imports {name}")
    assert not wrong, wrong


def test_every_retrieval_module_is_under_400_lines() -> None:
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines())
             for name, path in RETRIEVAL_MODULES.items()}
    assert {n: s for n, s in sizes.items() if s >= MAX_LINES} == {}


def test_the_top_level_holds_only_the_facade_and_shared_records() -> None:
    top = sorted(p.name for p in RETRIEVAL.glob("*.py"))
    assert len(top) <= 5, top


@pytest.mark.parametrize("package", sorted(p.parent for p in RETRIEVAL.rglob("__init__.py")),
                         ids=lambda p: _module_name(p / "__init__.py"))
def test_every_package_says_what_it_holds_and_what_it_may_import(package: Path) -> None:
    doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text(encoding="utf-8")))
    assert doc, package
    if package.parent == RETRIEVAL:  # a layer's package; documents/ sits inside ingest/
        assert f"Layer {LAYERS[_module_name(package / '__init__.py')]}" in doc, doc


def test_module_names_say_what_they_hold() -> None:
    """No ``answer``/``answering`` pair, no ``store/store.py``, no package directory
    without an ``__init__.py`` (a non-editable install would leave it out)."""
    clashes = []
    for directory in [RETRIEVAL, *(p.parent for p in RETRIEVAL.rglob("__init__.py"))]:
        names = sorted({p.stem for p in directory.glob("*.py") if p.stem != "__init__"}
                       | {p.name for p in directory.iterdir() if (p / "__init__.py").exists()})
        clashes += [f"{directory.name}/{a} ~ {b}" for a in names for b in names
                    if a != b and b.startswith(a)]
        clashes += [f"{directory.name}/{directory.name}.py"] * (directory.name in names)
    code_dirs = {p.parent for p in RETRIEVAL.rglob("*.py")}
    clashes += [str(d) for d in code_dirs if not (d / "__init__.py").exists()]
    assert not clashes, clashes
