"""The layout is the architecture: each layer imports only the layers below it, and no
module imports itself round a cycle (imports inside functions included: none may hide one).

adapters -> lake -> assets (+ their partitions, resources, thresholds) -> orchestration
(definitions, jobs, sensors, live) -> bench -> the CLI; the dashboards read the lake only (the
bench times them too).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("adapters", "lake", "assets", "orchestration", "dashboards", "bench")
#: What each part may import besides itself.
ALLOWED: dict[str, set[str]] = {
    "adapters": set(),
    "lake": {"adapters"},
    "assets": {"adapters", "lake"},
    "orchestration": {"adapters", "lake", "assets"},
    "bench": {"adapters", "lake", "assets", "orchestration", "dashboards"},
    "cli": {"adapters", "lake", "assets", "orchestration", "bench"},
    "dashboards": {"lake"},
}


def part(module: str) -> str:
    """Return the layer of a module: its package, the CLI apart from orchestration."""
    if module == "orchestration.cli" or module.startswith("orchestration.cli."):
        return "cli"
    return module.split(".")[0]


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """Return the project modules ``path`` imports, anywhere in it."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        out |= {n for n in names if n in known}
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, known) - {name} for name, path in known.items()}


def test_each_layer_imports_only_the_layers_below_it() -> None:
    upward = sorted(
        f"{a} imports {b}"
        for a, targets in graph().items()
        for b in targets
        if part(b) != part(a) and part(b) not in ALLOWED[part(a)]
    )
    assert upward == []


def test_no_import_cycles() -> None:
    edges = graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    assert cycles == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The walk finds imports inside functions too (where a cycle would hide)."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from orchestration.definitions import defs\n")
    assert imports(module, modules()) == {"orchestration.definitions"}
