"""The package's shape: no import circle, and scoring does not load the training stack."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "src" / "leadscore"


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that `path` imports, at the top or in a function; imports
    for type checking only are left out (they do not run)."""
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for n in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            # "from leadscore.learn import data" names a module; "import x.y" needs x too
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name.startswith("leadscore"):
                found.add(name)
    return found - {_module(path)}


def import_graph() -> dict[str, set[str]]:
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {_module(f) for f in files}
    graph = {_module(f): _imports(f, modules) for f in files}
    # A package's __init__ runs before any of its modules: importing a.b imports a.
    for module in list(graph):
        parent = module.rpartition(".")[0]
        if parent in graph and parent != "leadscore":
            graph[module].add(parent)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_walk_sees_a_circle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
    graph = import_graph()
    assert "leadscore.inputs" in graph["leadscore.batch"]
    assert "leadscore.learn.analysis" in graph["leadscore.learn.binning"]


def test_no_import_circle() -> None:
    # A package importing its own modules in __init__ is no circle: a module of the
    # package needs the package, not the other way round.
    graph = {
        m: {d for d in deps if not (m.startswith(d + ".") and d != "leadscore")}
        for m, deps in import_graph().items()
    }
    graph = {m: {d for d in deps if not d.startswith(m + ".")} for m, deps in graph.items()}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_scoring_a_predictive_model_loads_no_training_library(tmp_path: Path) -> None:
    import lightgbm as lgb
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 1))
    data = lgb.Dataset(x, label=(x[:, 0] > 0).astype(int), params={"verbose": -1})
    lgb.train({"objective": "binary", "verbose": -1}, data, 5).save_model(tmp_path / "m.lgb.txt")
    (tmp_path / "m.yaml").write_text(
        "model: p\nfit:\n  rules:\n    - {name: big, points: 10, if: {employees: {gte: 200}}}\n"
        "predictive:\n  file: m.lgb.txt\n  features:\n    - {column: employees, type: numeric}\n"
        "  calibration: {slope: 1.0, intercept: 0.0}\n"
    )
    pq.write_table(
        pa.table({"lead_id": ["a", "b"], "employees": [500, 10]}), tmp_path / "leads.parquet"
    )
    script = (
        "import sys\n"
        "from leadscore.cli import main\n"
        "sys.argv = ['leadscore', 'score', 'm.yaml', 'leads.parquet', '-o', 's.csv', '-q']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'optbinning'})\n"
        "print('loaded:', loaded)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "loaded: []" in done.stdout, done.stdout
    import csv

    with (tmp_path / "s.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    # The predictive part ran: every lead has its probability and factors.
    assert len(rows) == 2 and all(0 < float(r["probability"]) < 1 for r in rows)
    assert all(r["factors"].startswith("[") for r in rows)


def test_domain_errors_name_fields_and_the_command_line_shows_flags(tmp_path: Path) -> None:
    import pytest

    from leadscore.cli import flags
    from leadscore.errors import UsageError, named
    from leadscore.review import ReviewFiles, review

    files = ReviewFiles(
        model=tmp_path / "m.yaml", leads=tmp_path / "l.csv", target="y",
        reference_events=tmp_path / "e.csv",
    )  # fmt: skip
    with pytest.raises(UsageError) as caught:
        review(files)
    assert named(str(caught.value)) == "reference_events goes with reference (the earlier leads)"
    assert flags(str(caught.value)).startswith("--reference-events goes with --reference ")
    assert flags(named("x")) == "x" and "\x1f" not in flags(str(caught.value))
