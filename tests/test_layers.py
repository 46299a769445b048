"""The package's layers: each folder is one layer and imports only point down; no import cycle.

Every import counts, including those inside functions (that is where cycles hide); imports under
``if TYPE_CHECKING:`` do not (they never run). docs/architecture.md describes the layers.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import prefjudge

ROOT = Path(prefjudge.__file__).resolve().parent

# Layer -> the layers it may import (besides itself). "core" is the package's top-level modules
# (errors, types, content, io, judgments, result...), which every layer may import.
CORE = {"core"}
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "stats": CORE,
    "formatting": CORE,
    "backends": CORE,
    "aggregation": CORE | {"stats"},
    "judging": CORE | {"stats", "backends", "aggregation"},
    "audit": CORE | {"stats", "aggregation"},  # pure: a judgments table in, numbers out; never calls a judge
    "probing": CORE | {"stats", "backends", "aggregation", "judging", "audit"},  # calls judges on variants
    "curate": CORE | {"stats", "formatting", "backends", "aggregation", "judging", "audit", "probing"},
    "train": CORE | {"stats", "formatting"},  # never curate, audit, judging or testing
    "testing": CORE | {"stats", "formatting", "backends", "aggregation", "judging", "train"},
    "recipes": CORE | {"stats", "formatting", "backends", "aggregation", "judging", "audit", "probing", "curate", "train",
                       "testing"},
    "integrations": CORE | {"stats", "formatting", "backends", "aggregation", "judging", "audit", "probing", "curate",
                            "train"},
    "cli": CORE | {"stats", "formatting", "backends", "aggregation", "judging", "audit", "probing", "curate", "train",
                   "testing", "recipes", "integrations"},
}
# Imports by name (importlib), which the graph below cannot see, are allowed only here, each with its reason.
BY_NAME = {
    ("judging", "integrations"): "Judge.judge(), deprecated for one release, reaches the TRL adapter by name",
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = ["prefjudge", *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) == 1:
        return None  # the root package: lazy exports of every layer's public names
    return parts[1] if parts[1] in ALLOWED else "core"


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skip


def _target(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> set[str]:
    """The prefjudge modules ``module`` imports, anywhere in the file, TYPE_CHECKING blocks aside."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_nodes(tree)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            if not base.startswith("prefjudge"):
                continue
            for alias in node.names:
                found.add(_target(f"{base}.{alias.name}") or base)
        elif isinstance(node, ast.Import):
            found.update(t for a in node.names if a.name.startswith("prefjudge") and (t := _target(a.name)))
    found.discard(module)
    return {m for m in found if m in MODULES}


GRAPH = {m: imports_of(m) for m in MODULES}


def test_the_graph_sees_function_level_imports():
    # the check is only as good as its parser: it must see an import inside a function
    assert "prefjudge.judging.rank_pairs" in GRAPH["prefjudge.integrations.trl"]
    assert "prefjudge.aggregation.frame" in GRAPH["prefjudge.aggregation.jury"]  # inside Jury.aggregate_table
    assert "prefjudge.aggregation.jury" not in GRAPH["prefjudge.aggregation.frame"]  # TYPE_CHECKING only


def test_every_folder_is_a_known_layer():
    folders = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == set(ALLOWED) - {"core"}


def test_imports_point_down():
    wrong = []
    for module, targets in GRAPH.items():
        here = _layer(module)
        for target in targets:
            there = _layer(target)
            if here is None or there is None or there == here:
                continue
            if there not in ALLOWED[here]:
                wrong.append(f"{module} ({here}) imports {target} ({there})")
    assert not wrong, "imports that point up or sideways:\n" + "\n".join(sorted(wrong))


def test_no_import_cycle():
    # Tarjan's strongly connected components over every module (the root package aside: its
    # lazy exports are strings)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w == "prefjudge":
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for m in GRAPH:
        if m not in index:
            visit(m)
    assert not cycles, f"import cycles: {cycles}"


def test_imports_by_name_are_listed():
    """``importlib.import_module("prefjudge...")`` with a literal is an import the graph cannot see."""
    wrong = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and ast.unparse(node.func).endswith("import_module") and node.args
                    and isinstance(node.args[0], ast.Constant) and str(node.args[0].value).startswith("prefjudge.")):
                here, there = _layer(module), _layer(_target(node.args[0].value) or "prefjudge")
                if here and there and there != here and there not in ALLOWED[here] and (here, there) not in BY_NAME:
                    wrong.append(f"{module} imports {node.args[0].value} by name")
    assert not wrong, wrong


@pytest.mark.parametrize("module", sorted(m for m in MODULES if ".builtin." not in m and not m.endswith("__main__")))
def test_every_module_imports(module):
    """Every module still imports after the moves (a stale path in a lazy import would fail here or in its own tests)."""
    assert importlib.import_module(module).__name__ == module


def test_the_check_catches_an_upward_import(tmp_path, monkeypatch):
    # a module in train importing curate must be reported
    fake = tmp_path / "x.py"
    fake.write_text("def f():\n    from prefjudge.curate.export import export\n")
    monkeypatch.setitem(MODULES, "prefjudge.train._fake", fake)
    targets = imports_of("prefjudge.train._fake")
    assert targets == {"prefjudge.curate.export"}
    assert "curate" not in ALLOWED[_layer("prefjudge.train._fake")]


def test_walk_packages_matches_the_files():
    walked = {m.name for m in pkgutil.walk_packages([str(ROOT)], "prefjudge.") if ".builtin" not in m.name}
    assert walked == {m for m in MODULES if m != "prefjudge" and ".builtin." not in m}


def test_every_layer_is_documented_in_the_readme_layout_and_the_architecture_page():
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout"):]
    arch = (root / "docs" / "architecture.md").read_text(encoding="utf-8")
    packages = sorted(p.name for p in (root / "prefjudge").iterdir() if (p / "__init__.py").exists())
    assert packages, "no subpackages found"
    assert [p for p in packages if f"  {p}/" not in layout] == []
    assert [p for p in packages if f"`{p}/`" not in arch] == []
    assert set(ALLOWED) - {"core"} == set(packages), "a layer without a package, or a package without a layer"
