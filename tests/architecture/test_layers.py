"""The layout is the architecture: which package may import which.

models      schemas and input checks: nothing of ours but models
optimizer   the model and the solve, plain data in and out: models and itself; no process pools,
            futures, Ray, storage, web or job code
runtime     where solves run: models, optimizer and itself
storage     tables and queries: models and itself
workbooks   spreadsheets in and out (backlog workbooks and CSV, the template, the plan workbook): models and itself
reports     amounts as people read them and the HTML reports with their charts: models and itself
"""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from tests.support.paths import ROOT

OURS = {"models", "optimizer", "runtime", "storage", "jobs", "api", "cli", "bench", "tests", "workbooks", "reports"}
ALLOWED = {
    "models": {"models"},
    "optimizer": {"models", "optimizer"},
    "runtime": {"models", "optimizer", "runtime"},
    "storage": {"models", "storage"},
    "workbooks": {"models", "workbooks"},
    "reports": {"models", "reports"},
}
FORBIDDEN_IN_OPTIMIZER = {"multiprocessing", "concurrent", "ray", "sqlalchemy", "alembic", "fastapi", "starlette"}


def imports(package: str) -> dict[str, set[str]]:
    """Module path -> top-level names it imports (absolute imports; the code uses no relative ones)."""
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path}: relative import"
                names.add((node.module or "").split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_the_layers_below_it(package):
    wrong = {
        module: sorted((names & OURS) - ALLOWED[package])
        for module, names in imports(package).items()
        if (names & OURS) - ALLOWED[package]
    }
    assert wrong == {}


def test_the_solver_core_has_no_pools_futures_ray_storage_or_web():
    wrong = {
        module: sorted(names & FORBIDDEN_IN_OPTIMIZER)
        for module, names in imports("optimizer").items()
        if names & FORBIDDEN_IN_OPTIMIZER
    }
    assert wrong == {}


def test_a_parsing_process_imports_none_of_the_web_side():
    """What a parsing process runs (api/bodies.py) needs the models only: FastAPI, storage or a solver there
    would make every parsing process start slower and hold more memory."""
    script = "import sys, api.bodies; print(' '.join(sorted({name.split('.')[0] for name in sys.modules})))"
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
    )
    assert "models" in loaded
    assert loaded & {"fastapi", "starlette", "sqlalchemy", "alembic", "storage", "ortools", "pulp", "openpyxl"} == set()
