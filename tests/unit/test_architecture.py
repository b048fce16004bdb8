"""The package's shape, checked: imports only go down the layers, and there are no cycles.

Layers, lowest first (a module may import its own layer's modules and lower layers, never higher):
errors/assets < config, local.state < clients, suites < local < engine < providers, stages < plan, reports
< cli. Imports inside `if TYPE_CHECKING:` count like any other: a type a module is written against is a
dependency of its reader, and a cycle through one is still a cycle.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "devcluster"

LAYERS: list[tuple[str, int]] = [  # longest prefix wins
    ("devcluster.errors", 0), ("devcluster.assets", 0), ("devcluster", 0),
    ("devcluster.config", 1), ("devcluster.local.state", 1),
    ("devcluster.clients", 2), ("devcluster.suites", 2),
    ("devcluster.local", 3),
    ("devcluster.engine", 4),
    ("devcluster.providers", 5), ("devcluster.stages", 5),
    ("devcluster.plan", 6), ("devcluster.reports", 6),
    ("devcluster.cli", 7), ("devcluster.__main__", 8),
]


def layer(module: str) -> int:
    best = max((p for p, _ in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return dict(LAYERS)[best]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, type_only: bool = True) -> set[str]:
    """Project modules imported (module level, inside functions, and, with ``type_only``, under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if not type_only and isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("devcluster"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if (PACKAGE.parent / (candidate.replace(".", "/") + ".py")).exists()
                          or (PACKAGE.parent / candidate.replace(".", "/")).is_dir() else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("devcluster"))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports(p) for p in PACKAGE.rglob("*.py")
            if "suites" not in p.relative_to(PACKAGE).parts[:1] or p.name == "__init__.py"}


def test_no_module_imports_a_higher_layer() -> None:
    upward = [f"{mod} (layer {layer(mod)}) imports {dep} (layer {layer(dep)})"
              for mod, deps in graph().items() for dep in deps
              if dep != mod and not dep.startswith(mod + ".") and layer(dep) > layer(mod)]
    assert not upward, "\n".join(upward)


def test_no_import_cycles() -> None:
    edges = graph()
    # a package's __init__ re-exporting its own modules is not a dependency cycle
    edges = {m: {d for d in deps if not d.startswith(m + ".") and d != m} for m, deps in edges.items()}
    state: dict[str, int] = {}
    cycle: list[str] = []

    def walk(node: str, path: list[str]) -> bool:
        state[node] = 1
        for dep in sorted(edges.get(node, ())):
            if state.get(dep) == 1:
                cycle.extend(path[path.index(dep):] + [dep] if dep in path else [node, dep])
                return True
            if state.get(dep) is None and walk(dep, [*path, dep]):
                return True
        state[node] = 2
        return False

    for start in sorted(edges):
        if state.get(start) is None and walk(start, [start]):
            break
    assert not cycle, " -> ".join(cycle)


@pytest.mark.parametrize("pattern", ["isinstance(", "getattr("])
def test_nobody_outside_providers_asks_which_provider_it_is(pattern: str) -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "providers":
            continue
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if pattern in line and "provider" in line.lower():
                offenders.append(f"{rel}:{lineno}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_nobody_but_a_distribution_asks_which_distribution_it_is() -> None:
    """The Vagrant provider asks its Distribution (providers/vagrant/distribution.py), never its name."""
    asks = re.compile(r"distribution\s*(==|!=|\bin\b)|(==|!=)\s*[\"'](kubeadm|k3s)[\"']")
    offenders = [f"{path.relative_to(PACKAGE)}:{lineno}: {line.strip()}"
                 for path in PACKAGE.rglob("*.py") if path.name not in ("k3s.py", "kubeadm.py")
                 for lineno, line in enumerate(path.read_text().splitlines(), 1) if asks.search(line)]
    assert not offenders, "\n".join(offenders)


def test_the_step_engine_has_no_project_imports_but_errors() -> None:
    deps = imports(PACKAGE / "engine" / "steps.py", type_only=False)
    # the client is made lazily; engine.events (what an observer is told) imports nothing of the project
    assert deps <= {"devcluster.errors", "devcluster.clients.kube", "devcluster.engine.events"}, deps
    assert not imports(PACKAGE / "engine" / "events.py")


def test_the_engine_knows_no_provider_not_even_as_a_type() -> None:
    """The engine declares what it uses of a provider (engine.steps.Target); it never imports one."""
    deps = {f"{p.name}: {d}" for p in (PACKAGE / "engine").glob("*.py") for d in imports(p)
            if d.startswith("devcluster.providers")}
    assert not deps, deps


def test_type_only_imports_are_counted(tmp_path: Path) -> None:
    """The cycle and layer checks see what sits under `if TYPE_CHECKING:`."""
    module = tmp_path / "probe.py"
    module.write_text("from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
                      "    from devcluster.plan import up_steps\n")
    assert imports(module) == {"devcluster.plan"}
    assert imports(module, type_only=False) == set()
