"""The package's layering, checked on the source: imports only point down the data flow.

Layers (docs/architecture.md), lowest first; a module may import its own layer and the ones below:

    base (errors, version, bundled, lazy) < runtime < physics < datasets < response < converters < model
    < infer < validation < outputs < workflows < cli

Also checked: nothing outside ``cli/`` imports ``cli/``; no module imports another module's private
(single-underscore) name; no function-level imports of bayes_xmass modules outside ``cli/`` (which
imports its workflows lazily so that ``--help`` and argument errors answer at once); no import
cycle among modules (module-level imports); no module much over 400 lines except the named ones.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bayes_xmass"

LAYERS = [
    "base",
    "runtime",
    "physics",
    "datasets",
    "response",
    "converters",
    "model",
    "infer",
    "validation",
    "outputs",
    "workflows",
    "cli",
    "api",
]
BASE_MODULES = {"errors", "version", "bundled", "lazy"}
API_MODULES = {"bayes_xmass", "bayes_xmass.__main__"}  # the curated public API sits on top of everything
MAX_LINES = 420  # "about 400"
LONG_MODULES: dict[str, str] = {}  # module -> why it may be longer (none at present)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> int:
    if module in API_MODULES:
        return LAYERS.index("api")
    first = module.split(".")[1]
    return LAYERS.index("base" if first in BASE_MODULES else first)


def resolve(node: ast.ImportFrom | ast.Import) -> list[tuple[str, list[str]]]:
    """(imported bayes_xmass module, names taken from it) for one import statement."""
    out = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.startswith("bayes_xmass"):
                out.append((alias.name, []))
        return out
    assert node.level == 0, "relative imports are not used (absolute imports show the layer)"
    mod = node.module or ""
    if not mod.startswith("bayes_xmass"):
        return out
    names = []
    for alias in node.names:
        sub = f"{mod}.{alias.name}"
        if sub in MODULES:  # `from bayes_xmass.physics import solar`: the submodule itself
            out.append((sub, []))
        else:
            names.append(alias.name)
    if names:
        out.append((mod, names))
    return out


def imports_of(path: Path):
    """Yield (import node, at module level?) for every import in a file."""
    tree = ast.parse(path.read_text())
    function_level = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for sub in ast.walk(node):
                if isinstance(sub, (ast.Import, ast.ImportFrom)):
                    function_level.add(id(sub))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, id(node) not in function_level


def all_edges():
    for mod, path in MODULES.items():
        for node, top in imports_of(path):
            if isinstance(node, ast.ImportFrom) and node.level:
                yield mod, node, top, f"relative import in {mod}", []
                continue
            for target, names in resolve(node):
                yield mod, node, top, target, names


def test_modules_are_found():
    assert {"bayes_xmass.physics.spectra", "bayes_xmass.model.likelihood", "bayes_xmass.cli.main"} <= set(MODULES)
    for mod in MODULES:
        layer(mod)  # every module belongs to a known layer


def test_imports_point_down():
    upward = [
        f"{mod} ({LAYERS[layer(mod)]}) imports {target} ({LAYERS[layer(target)]})"
        for mod, _, _, target, _ in all_edges()
        if target in MODULES and layer(target) > layer(mod)
    ]
    assert not upward, "\n".join(upward)


def test_library_never_imports_cli():
    bad = [
        f"{mod} imports {target}"
        for mod, _, _, target, _ in all_edges()
        if target.startswith("bayes_xmass.cli") and not mod.startswith("bayes_xmass.cli") and mod not in API_MODULES
    ]
    assert not bad, "\n".join(bad)


def test_no_private_names_across_modules():
    bad = [
        f"{mod} imports {name} from {target}"
        for mod, _, _, target, names in all_edges()
        for name in names
        if name.startswith("_") and not name.startswith("__") and target != mod
    ]
    assert not bad, "\n".join(bad)


def test_no_function_level_imports_outside_cli():
    bad = [
        f"{mod}:{node.lineno} imports {target} inside a function"
        for mod, node, top, target, _ in all_edges()
        if not top and not mod.startswith("bayes_xmass.cli") and mod not in API_MODULES
    ]
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for mod, _, top, target, _ in all_edges():
        if (
            top
            and target in MODULES
            and target != mod
            and not (mod.startswith(target + ".") or target.startswith(mod + "."))
        ):
            graph[mod].add(target)  # a package and its own submodules are one unit
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cycles.append(" -> ".join(stack[stack.index(t) :] + [t]))
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "\n".join(cycles)


@pytest.mark.parametrize("mod", sorted(MODULES))
def test_module_size(mod):
    n = len(MODULES[mod].read_text().splitlines())
    assert n <= MAX_LINES or mod in LONG_MODULES, f"{mod} has {n} lines (about 400 at most: split it along a seam)"


def test_every_module_declares_its_public_names():
    missing = [m for m, p in MODULES.items() if "__all__" not in p.read_text() and not m.endswith("__main__")]
    assert not missing, "modules without __all__: " + ", ".join(missing)
