"""The package's shape: no import cycle between its modules, every import points down the
pipeline's layers, no module is over 300 lines, and only the case adapter (and the config's
check) asks whether a run slices its volumes.

The imports are read from the source (``ast``), those inside functions included, with the
packages an import runs on the way (``a.b.c`` runs ``a.b``'s ``__init__``); an import under
``if TYPE_CHECKING:`` is for annotations only and never runs, so it is left out.
"""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "ldseg"

# Bottom to top: a module may import from its own layer and the layers below it.
LAYERS = [
    ["errors", "utils", "__init__"],
    ["nets", "diffusion"],
    ["models"],
    ["config"],
    ["data"],
    ["runs"],
    ["evaluation"],
    ["inference"],
    ["training"],
    ["experiments"],
    ["cli", "demo", "__main__"],
]
# About 300 lines is the guide for one responsibility; past it, split the module by
# responsibility. The ceiling sits above the guide so that meeting it never calls for squeezing
# lines (several statements on one line, formatter switched off).
MAX_LINES = 400
# The modules that may test data.slicing: the adapter, and the config that validates it.
SLICING_TESTED_IN = {"data/adapter.py", "config.py"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The package modules ``path`` imports at run time (``from a import b`` counts ``a.b``
    when that is a module, else ``a``)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_only(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in modules else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    # Importing a.b.c first runs the packages a and a.b (but for the importer's own packages,
    # which are already being imported).
    own = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 2)}
    parents = {".".join(m.split(".")[:i]) for m in found for i in range(1, m.count(".") + 1)}
    return {m for m in found | (parents - own) if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imported_modules(p, modules) for p in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a list of modules (first = last), or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return [*stack[stack.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    return next(i for i, names in enumerate(LAYERS) if top in names)


def test_find_cycle_finds_one():
    """The cycle finder itself: a cycle through three modules, and none in a chain."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 50 and graph["ldseg.inference.predictor"]  # the walk sees the package
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_every_import_points_down():
    upward = [
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        for target in sorted(targets)
        if layer(target) > layer(module)
    ]
    assert upward == []


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: module_name(p))
def test_no_module_is_far_over_300_lines(path):
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_LINES, f"{path}: split it by responsibility"
    assert "fmt: skip" not in text and "fmt: off" not in text, f"{path}: let ruff format it"


def test_only_the_adapter_asks_whether_a_run_slices():
    found = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if str(path.relative_to(PACKAGE)) not in SLICING_TESTED_IN
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if re.search(r"slicing\s*[!=]=", line)
    ]
    assert found == []
