"""The package layout (README's Layout section), checked on the source.

* Imports run one way: ``workload <- hardware <- mapping <- cost``; ``workload <-
  compress``; ``{cost, compress} <- {compare, study} <- report <- cli``. The root's own
  helpers (``sedse.errors``, ``sedse._yaml``, ``sedse._numbers``, ``sedse._shipped``,
  ``sedse._progress``) are below every package and import none.
* No module imports another package's private module (``sedse.cost._core`` from
  outside ``sedse/cost/``): what a neighbour needs is re-exported in its ``__init__``.
* Shipped models come through the resolver (``sedse._shipped``, entry points): nothing
  below ``sedse.cli`` imports ``sedse_models``.
* No import cycles among sedse's modules, counting the imports inside functions too (a
  lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "sedse"

#: what each package may import (besides itself and the root helpers)
ALLOWED = {
    "workload": set(),
    "hardware": {"workload"},
    "mapping": {"workload", "hardware"},
    "cost": {"workload", "hardware", "mapping"},
    "compress": {"workload"},
    "compare": {"workload", "hardware", "mapping", "cost", "compress"},
    "study": {"workload", "hardware", "mapping", "cost", "compress"},
    "report": {"workload", "hardware", "mapping", "cost", "compress", "compare", "study"},
}
ROOT_HELPERS = {"errors", "_yaml", "_numbers", "_shipped", "_progress", "__init__",
                "__main__"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in the file, in functions too."""
    tree = ast.parse(path.read_text(), str(path))
    here = _module_name(path)
    pkg = here if path.name == "__init__.py" else here.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((node.lineno, mod))
            # `from sedse.cost import _core` names a module too
            out += [(node.lineno, f"{mod}.{a.name}") for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")]
    return out


def _files() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _package(module: str) -> str:
    """The top package under sedse a module belongs to ("" for the root's modules)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and (SRC / parts[1]).is_dir() else ""


def test_no_private_imports_across_packages():
    bad = []
    for f in _files():
        here = _package(_module_name(f))
        for line, mod in _imports(f):
            parts = mod.split(".")
            if parts[0] != "sedse" or len(parts) < 3:
                continue
            if parts[2].startswith("_") and _package(mod) and _package(mod) != here:
                bad.append(f"{f.relative_to(SRC.parent)}:{line}: {mod}")
    assert not bad, "private modules of other packages imported:\n" + "\n".join(bad)


def test_imports_run_one_way():
    bad = []
    for f in _files():
        mod = _module_name(f)
        here = _package(mod)
        if mod == "sedse.cli" or mod in ("sedse", "sedse.__main__"):
            continue
        for line, target in _imports(f):
            if not target.startswith("sedse.") or target == "sedse":
                continue
            there = _package(target)
            if here == "":        # a root helper imports no package
                ok = there == ""
            else:
                ok = there in ("", here) or there in ALLOWED[here]
            if target == "sedse.cli":
                ok = False
            if not ok:
                bad.append(f"{f.relative_to(SRC.parent)}:{line}: {here or 'root'} -> {target}")
    assert not bad, "imports against the layering:\n" + "\n".join(bad)


def test_sedse_models_only_at_the_top():
    bad = [f"{f.relative_to(SRC.parent)}:{line}" for f in _files()
           if f.name != "cli.py" for line, mod in _imports(f)
           if mod.split(".")[0] == "sedse_models"]
    assert not bad, "sedse_models imported below the CLI:\n" + "\n".join(bad)


def test_no_import_cycles():
    modules = {_module_name(f): f for f in _files()}
    graph: dict[str, set[str]] = {}
    for name, f in modules.items():
        deps = set()
        for _line, target in _imports(f):
            # the longest sedse module the import names
            parts = target.split(".")
            while parts and ".".join(parts) not in modules:
                parts.pop()
            if parts and ".".join(parts) != name:
                deps.add(".".join(parts))
        graph[name] = deps
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


@pytest.mark.parametrize("pkg", sorted(ALLOWED))
def test_every_package_states_its_idea(pkg):
    """Each package's docstring says what it owns (DESIGN.md's one idea per package)."""
    doc = ast.get_docstring(ast.parse((SRC / pkg / "__init__.py").read_text()))
    assert doc and len(doc.split()) >= 6
