"""Unit test of heal's layering: no import circle inside ``heal/`` (module-level and in-function imports alike).

The graph is built from the source with :mod:`ast` (nothing is imported, no engine runs). An edge ``a -> b``
means module ``a`` imports ``b`` or a name from it; ``from heal.x import y`` where ``y`` is a submodule counts
as an edge to ``heal.x.y``. A package's ``__init__`` counts as the package itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import heal

ROOT = Path(heal.__file__).resolve().parent


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    files = {module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            for t in targets:
                while t and t not in files:  # heal.a.b.func -> heal.a.b
                    t = t.rpartition(".")[0]
                if t and t != mod:
                    graph[mod].add(t)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_real_imports():
    g = import_graph()
    assert "heal.fsutil" in g["heal.loop.stages"]
    assert "heal.errors" in g["heal.fsutil"]


def test_a_circle_is_found(tmp_path):
    pkg = tmp_path / "heal"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from heal.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..a import x\n")
    (pkg / "c.py").write_text("import heal.a\n")
    assert cycles(import_graph(pkg)) == [["heal.a", "heal.sub.b"]]


def test_no_import_circle_inside_heal():
    found = cycles(import_graph())
    assert not found, "import circles inside heal/ (untie them: " + "; ".join(" <-> ".join(c) for c in found) + ")"
