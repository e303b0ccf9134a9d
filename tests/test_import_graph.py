"""The package's folders are its layers: no module imports one that imports it back.

The graph holds every import of a package module, at the top of a file or inside a function,
with relative imports resolved; ``from pkg import name`` counts as importing ``pkg.name`` when
that is a module and ``pkg`` otherwise; importing a module imports the packages above it; a package that imports every module in its folder
(``pkgutil.iter_modules(__path__)``, as ``models`` does to fill the registry) imports each.
"""

from __future__ import annotations

import ast
from pathlib import Path

import robustbench_snn

PACKAGE = Path(robustbench_snn.__file__).parent


def module_name(path: Path) -> str:
    parts = ("robustbench_snn", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules ``name`` imports anywhere in its file."""
    here = name if path.name == "__init__.py" else name.rpartition(".")[0]
    text = path.read_text()
    found = {m for m in known if m.rpartition(".")[0] == name} if "pkgutil.iter_modules(__path__)" in text else set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = here.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.add(target if target in known else base)
    # importing a.b.c runs a/__init__ and a/b/__init__ first
    found |= {".".join(m.split(".")[:i]) for m in found for i in range(2, m.count(".") + 1)}
    return {m for m in found if m in known and m != name and not name.startswith(m + ".")}


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports_of(name, path, set(mods)) for name, path in mods.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
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
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_graph_is_read():
    g = graph()
    assert "robustbench_snn.core.surrogate" in g["robustbench_snn.core.neurons"]
    assert "robustbench_snn.core.streams" in g["robustbench_snn.attacks.norms"]  # from ..core import streams
    assert "robustbench_snn.models.sew_resnet" in g["robustbench_snn.models"]  # the registry's folder scan
    assert "robustbench_snn.attacks.blackbox" in g["robustbench_snn.attacks"]  # the attacks' folder scan


def test_cycles_are_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    assert cycles(graph()) == []


#: The only imports allowed inside a function: an optional dependency a plain install lacks, or a
#: module that costs seconds to import and serves one path (measured: docs/design/imports.md).
LATE_IMPORTS = {
    "ray": "optional: rbsnn sweep --backend ray (the ray extra)",
    "torch._inductor": "2.7 s; only when a graph compiles",
    "torchattacks": "0.9 s; only Square and ta-pgd",
    "foolbox": "0.8 s; only the fb-pgd cross-checks",
    "sklearn": "1.0 s; only when digits are loaded",
    "matplotlib.pyplot": "0.5 s; only when a plot is drawn",
}


def is_late_import(module: str) -> bool:
    return any(module == m or module.startswith(m + ".") for m in LATE_IMPORTS)


def function_level_imports() -> list[tuple[str, int, str]]:
    found = []
    for name, path in modules().items():
        for fn in ast.walk(ast.parse(path.read_text())):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(fn):
                    if isinstance(node, ast.Import):
                        found += [(name, node.lineno, a.name) for a in node.names]
                    elif isinstance(node, ast.ImportFrom):
                        found.append((name, node.lineno, "." * node.level + (node.module or "")))
    return found


def test_function_level_imports_only_for_the_listed_dependencies():
    assert [(name, line, mod) for name, line, mod in function_level_imports() if not is_late_import(mod)] == []


def test_every_late_import_says_why():
    paths = modules()
    for name, line, mod in function_level_imports():
        text = paths[name].read_text().splitlines()[line - 1]
        assert "#" in text, f"{paths[name]}:{line} imports {mod} inside a function without a comment"
