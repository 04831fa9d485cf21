"""The fences of the layout, read from the source: who may import whom, and no import circles.

- the core (everything outside ``_napari/`` and ``_qt/``) imports neither napari nor Qt;
- the napari glue (``_napari/``) imports no Qt (nor napari's own Qt modules, nor ``_qt/``; napari's
  renderer vispy is not Qt);
- no import circle anywhere in the package.

Every import counts, at the top of a module or inside a function (a function-level import is
still an edge: it only hides a circle until the function runs); imports under
``if TYPE_CHECKING:`` do not (they never run). An import of ``a.b.name`` is an edge to the
module ``a.b.name`` if it is one, else to ``a.b``.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "napari_keyskel"
ROOT = Path(__file__).resolve().parents[1]
QT = ("qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "superqt", "napari.qt", "napari._qt")
#: Circles inside the formats, left to the helpers rewriting them (removed at merge when the
#: formats helpers are clean).
KNOWN_FORMAT_CIRCLES = [{"napari_keyskel.formats._checks", "napari_keyskel.formats._jsonio"}]


def _modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for path in (ROOT / PACKAGE).rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return out


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def _imports(name: str, path: Path, is_pkg: bool) -> list[str]:
    """Every module name ``name`` imports at run time (absolute, as written)."""
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.extend(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = name.split(".") if is_pkg else name.split(".")[:-1]
                    base = base[: len(base) - (child.level - 1)]
                    module = ".".join(base + ([child.module] if child.module else []))
                else:
                    module = child.module or ""
                found.extend(f"{module}.{a.name}" for a in child.names)  # (a module, or a name in one)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()

    def resolve(target: str) -> str | None:
        while target and target not in mods:
            target = target.rpartition(".")[0]
        return target or None

    graph: dict[str, set[str]] = {}
    for name, (path, is_pkg) in mods.items():
        edges = set()
        for target in _imports(name, path, is_pkg):
            if target.startswith(PACKAGE):
                resolved = target if target in mods else resolve(target)
                if resolved is not None and resolved != name:
                    edges.add(resolved)
        graph[name] = edges
    return graph


def _circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[set[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = set()
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.add(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(comp)
    return out


def _third_party(prefixes: tuple[str, ...], where) -> dict[str, list[str]]:
    """Modules for which ``where(name)`` holds that import one of ``prefixes``: their offending imports."""
    bad = {}
    for name, (path, is_pkg) in _modules().items():
        if not where(name):
            continue
        hits = sorted({t for t in _imports(name, path, is_pkg) if t.split(".")[0] and t.startswith(prefixes)})
        hits = [t for t in hits if any(t == p or t.startswith(p + ".") for p in prefixes)]
        if hits:
            bad[name] = hits
    return bad


def test_the_core_imports_neither_napari_nor_qt():
    def core(name: str) -> bool:
        return not name.startswith((f"{PACKAGE}._napari", f"{PACKAGE}._qt"))

    assert _third_party(("napari", "vispy", *QT), core) == {}


def test_the_glue_imports_no_qt():
    def glue(name: str) -> bool:
        return name.startswith(f"{PACKAGE}._napari")

    assert _third_party((*QT, f"{PACKAGE}._qt"), glue) == {}
    # (the same check does see the widgets' Qt)
    assert f"{PACKAGE}._qt.dock" in _third_party(QT, lambda name: name.startswith(f"{PACKAGE}._qt"))


def test_no_import_circles():
    circles = [c for c in _circles(_graph()) if c not in KNOWN_FORMAT_CIRCLES]
    assert circles == []


def test_the_circle_check_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(graph) == [{"a", "b", "c"}]
    assert _circles({"a": {"b"}, "b": set()}) == []


def test_the_fence_sees_function_level_imports_and_skips_type_checking(tmp_path):
    src = tmp_path / "m.py"
    src.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from qtpy import QtCore\n"
        "def f():\n    from napari.qt import thread_worker\n"
    )
    found = _imports("napari_keyskel._napari.m", src, False)
    assert "napari.qt.thread_worker" in found and not any(t.startswith("qtpy") for t in found)
