"""The direction of imports inside hpcq, read from the source with `ast` (nothing is imported).

    shared library (hpcq/*.py, hpcq/api)  <-  ctld, noded, shims, ctl

The daemons and the commands build on the shared library and never on each other:
when two of them need the same piece, it moves down into hpcq/ once (shared/STYLE.md,
"Layers point one way"). Generated hpcq/api modules import only hpcq.api and
hpcq.protolite. No two hpcq modules import each other, directly or around a cycle.

Every import counts wherever it is written: at the top, inside a function (a lazy
import still ties the packages together), or under `if TYPE_CHECKING:`.
"""
from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
APPLICATIONS = ("ctld", "noded", "shims", "ctl")   # hpcq.<name>: a daemon or the commands
API_MAY_IMPORT = ("hpcq.api", "hpcq.protolite")


@dataclass(frozen=True)
class Import:
    source: str        # the importing module
    target: str        # the hpcq module it names (the most specific one that exists)
    path: Path         # relative to the tree's root
    line: int
    statement: str

    def where(self) -> str:
        return f"{self.path}:{self.line}: {self.source} imports {self.target} (`{self.statement}`)"


# -- the graph ------------------------------------------------------------------------------

def modules_under(root: Path, package: str = "hpcq") -> dict[str, Path]:
    """Module name -> file, for every .py file of the package under `root`."""
    found: dict[str, Path] = {}
    for path in sorted((root / package).rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = path.relative_to(root).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _known(name: str, modules: dict[str, Path]) -> str:
    """The most specific existing module a dotted name falls in (a class or function
    imported from a module counts as that module)."""
    while name not in modules and "." in name:
        name = name.rpartition(".")[0]
    return name


def imports_of(module: str, path: Path, modules: dict[str, Path], root: Path, package: str = "hpcq") -> list[Import]:
    """Every import of a `package` module that `module` makes, anywhere in its source."""
    tree = ast.parse(path.read_text(), filename=str(path))
    shown = path.relative_to(root)
    here = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []

    def add(target: str, node: ast.stmt) -> None:
        if target == package or target.startswith(package + "."):
            found.append(Import(module, _known(target, modules), shown, node.lineno, ast.unparse(node)))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node)
        elif isinstance(node, ast.ImportFrom):
            if node.level:     # from . import x, from ..y import z
                base = ".".join(here.split(".")[:len(here.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                add(submodule if submodule in modules else base, node)
    return found


def import_graph(root: Path, package: str = "hpcq") -> list[Import]:
    modules = modules_under(root, package)
    return [i for name, path in modules.items() for i in imports_of(name, path, modules, root, package)]


# -- the rules ------------------------------------------------------------------------------

def layer(module: str) -> str:
    """"api", one of APPLICATIONS, or "shared" (the top-level modules of hpcq)."""
    parts = module.split(".")
    if len(parts) > 1 and (parts[1] == "api" or parts[1] in APPLICATIONS):
        return parts[1]
    return "shared"


def layer_violations(imports: Iterable[Import]) -> list[str]:
    problems = []
    for i in imports:
        source, target = layer(i.source), layer(i.target)
        if source in ("shared", "api") and target in APPLICATIONS:
            problems.append(f"{i.where()}: the shared library must not depend on hpcq.{target}")
        elif source in APPLICATIONS and target in APPLICATIONS and source != target:
            problems.append(f"{i.where()}: hpcq.{source} must not import hpcq.{target}; move what both "
                            "need into the shared library (hpcq/*.py)")
        if source == "api" and not any(i.target == m or i.target.startswith(m + ".") for m in API_MAY_IMPORT):
            problems.append(f"{i.where()}: generated hpcq/api modules import only hpcq.api and hpcq.protolite")
    return problems


def cycles(imports: Iterable[Import]) -> list[list[Import]]:
    """One shortest cycle through each strongly connected group of modules (Tarjan),
    as the imports that make it."""
    edges: dict[str, dict[str, Import]] = {}
    for i in imports:
        edges.setdefault(i.source, {}).setdefault(i.target, i)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(start: str) -> None:
        # Iterative Tarjan: a deep import chain must not hit the recursion limit.
        work = [(start, iter(sorted(edges.get(start, {}))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, {})))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                if len(group) > 1 or node in edges.get(node, {}):
                    groups.append(group)

    for module in sorted(edges):
        if module not in index:
            visit(module)
    found = []
    for group in groups:
        start = min(group)
        paths: dict[str, list[Import]] = {start: []}
        frontier = [start]
        cycle: list[Import] | None = None
        while frontier and cycle is None:
            following = []
            for node in frontier:
                for target, i in sorted(edges.get(node, {}).items()):
                    if target == start:
                        cycle = paths[node] + [i]
                        break
                    if target in group and target not in paths:
                        paths[target] = paths[node] + [i]
                        following.append(target)
                if cycle is not None:
                    break
            frontier = following
        assert cycle is not None
        found.append(cycle)
    return found


def describe(cycle: list[Import]) -> str:
    return "import cycle " + " -> ".join([cycle[0].source] + [i.target for i in cycle]) + ":\n" + \
        "\n".join(f"    {i.where()}" for i in cycle)


# -- hpcq itself ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hpcq_imports() -> list[Import]:
    return import_graph(REPO)


def test_the_daemons_and_commands_build_on_the_shared_library_only(hpcq_imports):
    problems = layer_violations(hpcq_imports)
    assert not problems, "imports against the layers:\n" + "\n".join(problems)


def test_no_import_cycles_among_hpcq_modules(hpcq_imports):
    found = cycles(hpcq_imports)
    assert not found, "\n".join(describe(c) for c in found)


def test_the_graph_sees_each_kind_of_import(hpcq_imports):
    """The real tree holds each form the rules depend on, so a parser that lost one would show here."""
    edges = {(i.source, i.target) for i in hpcq_imports}
    assert ("hpcq.noded.steptasks", "hpcq.stepexec") in edges                     # lazy, inside a function
    assert ("hpcq.ctld.jobs", "hpcq.ctld.scheduler") in edges                     # from package import submodule
    assert ("hpcq.ctld.backlog", "hpcq.ctld.scheduler") in edges                  # from package import name
    assert ("hpcq.shims.slurm.srun_tasks", "hpcq.stepexec") in edges              # from module import name
    assert ("hpcq.api.lite.jobs_pb2", "hpcq.protolite") in edges                  # generated code
    assert len({i.source for i in hpcq_imports}) > 100


# -- the checker on made-up trees -----------------------------------------------------------

def tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    for directory in {p.parent for p in tmp_path.rglob("*.py")}:
        (directory / "__init__.py").touch()
    return tmp_path


def test_a_lazy_sideways_import_is_named_with_its_file_and_line(tmp_path):
    root = tree(tmp_path, {
        "hpcq/noded/helper.py": """\
            import os


            def run():
                from hpcq.ctld.steps import ranks_on
                return ranks_on
            """,
        "hpcq/ctld/steps.py": "def ranks_on(): ...\n",
        "hpcq/shims/tool.py": "from hpcq.noded import helper\nimport hpcq.steplayout\n",
        "hpcq/steplayout.py": "",
        "hpcq/jobenv.py": "from hpcq.ctld import steps\n",
        "hpcq/api/x_pb2.py": "from hpcq import jobenv\nfrom hpcq.api import y_pb2\nfrom hpcq import protolite\n",
        "hpcq/api/y_pb2.py": "",
        "hpcq/protolite.py": "",
    })
    problems = layer_violations(import_graph(root))
    assert problems == [
        "hpcq/api/x_pb2.py:1: hpcq.api.x_pb2 imports hpcq.jobenv (`from hpcq import jobenv`): generated "
        "hpcq/api modules import only hpcq.api and hpcq.protolite",
        "hpcq/jobenv.py:1: hpcq.jobenv imports hpcq.ctld.steps (`from hpcq.ctld import steps`): the "
        "shared library must not depend on hpcq.ctld",
        "hpcq/noded/helper.py:5: hpcq.noded.helper imports hpcq.ctld.steps (`from hpcq.ctld.steps import "
        "ranks_on`): hpcq.noded must not import hpcq.ctld; move what both need into the shared library (hpcq/*.py)",
        "hpcq/shims/tool.py:1: hpcq.shims.tool imports hpcq.noded.helper (`from hpcq.noded import "
        "helper`): hpcq.shims must not import hpcq.noded; move what both need into the shared library (hpcq/*.py)",
    ]


def test_relative_imports_resolve_to_their_modules(tmp_path):
    root = tree(tmp_path, {
        "hpcq/ctld/scheduler/model.py": "from . import priority\nfrom ..steps import plan\nfrom ...noded import x\n",
        "hpcq/ctld/scheduler/priority.py": "",
        "hpcq/ctld/steps.py": "",
        "hpcq/noded/x.py": "",
    })
    assert {(i.target, i.line) for i in import_graph(root)} == {
        ("hpcq.ctld.scheduler.priority", 1), ("hpcq.ctld.steps", 2), ("hpcq.noded.x", 3)}


def test_a_cycle_is_reported_with_each_import_that_makes_it(tmp_path):
    root = tree(tmp_path, {
        "hpcq/ctld/scheduler/model.py": "from hpcq.ctld.scheduler.priority import Weights\n",
        "hpcq/ctld/scheduler/priority.py": """\
            TYPE_CHECKING = False
            if TYPE_CHECKING:
                from hpcq.ctld.scheduler.model import JobRequest
            Weights = 1
            """,
        "hpcq/a.py": "import hpcq.b\n",
        "hpcq/b.py": "def f():\n    import hpcq.c\n",
        "hpcq/c.py": "from hpcq import a\n",
        "hpcq/d.py": "import hpcq.a\n",      # leads into a cycle, is not in one
    })
    found = [describe(c) for c in cycles(import_graph(root))]
    assert found == [
        "import cycle hpcq.a -> hpcq.b -> hpcq.c -> hpcq.a:\n"
        "    hpcq/a.py:1: hpcq.a imports hpcq.b (`import hpcq.b`)\n"
        "    hpcq/b.py:2: hpcq.b imports hpcq.c (`import hpcq.c`)\n"
        "    hpcq/c.py:1: hpcq.c imports hpcq.a (`from hpcq import a`)",
        "import cycle hpcq.ctld.scheduler.model -> hpcq.ctld.scheduler.priority -> hpcq.ctld.scheduler.model:\n"
        "    hpcq/ctld/scheduler/model.py:1: hpcq.ctld.scheduler.model imports hpcq.ctld.scheduler.priority "
        "(`from hpcq.ctld.scheduler.priority import Weights`)\n"
        "    hpcq/ctld/scheduler/priority.py:3: hpcq.ctld.scheduler.priority imports "
        "hpcq.ctld.scheduler.model (`from hpcq.ctld.scheduler.model import JobRequest`)",
    ]
