"""Ray at the edges: the core of ``energy`` (everything outside ``energy/distributed``) imports
neither Ray nor ``serve_app``, MLflow is imported only in ``energy/tracking``, and only
``energy.distributed.cluster.connect`` starts or joins Ray."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]
ENERGY = REPO / "energy"

# in a fresh interpreter: this test process may already hold Ray from other tests
IMPORT_ALL = """
import importlib, json, pkgutil, sys
import energy
names = sorted(
    m.name for m in pkgutil.walk_packages(energy.__path__, "energy.")
    if not m.name.startswith("energy.distributed") and not m.name.endswith("__main__")
)
for name in names:
    importlib.import_module(name)
loaded = [m for m in ("ray", "serve_app") if m in sys.modules]
print(json.dumps({"modules": names, "loaded": loaded}))
"""


def _core_files() -> list[Path]:
    return [p for p in ENERGY.rglob("*.py") if "distributed" not in p.relative_to(ENERGY).parts]


def _imports(tree: ast.AST) -> list[tuple[str, ast.AST]]:
    out: list[tuple[str, ast.AST]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, node))
    return out


def test_importing_every_core_module_loads_neither_ray_nor_serve_app() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "energy.models.xgb" in result["modules"] and "energy.cli.serve" in result["modules"]
    assert result["loaded"] == [], f"imported by the core: {result['loaded']}"


def test_the_core_never_imports_ray_and_mlflow_only_in_tracking() -> None:
    bad = []
    for path in _core_files():
        rel = path.relative_to(REPO)
        for name, node in _imports(ast.parse(path.read_text(), str(path))):
            top = name.split(".")[0]
            if top == "ray":  # not even inside a function: Ray code lives in energy.distributed
                bad.append(f"{rel}:{node.lineno}: imports {name}")
            if top == "mlflow" and rel.parts[1] != "tracking":
                bad.append(f"{rel}:{node.lineno}: imports {name} (only energy/tracking may)")
    assert bad == []


def test_the_core_imports_serve_app_only_inside_cli_functions() -> None:
    bad = []
    for path in _core_files():
        rel = path.relative_to(REPO)
        tree = ast.parse(path.read_text(), str(path))
        top_level = {id(n) for n in tree.body}
        for name, node in _imports(tree):
            if name.split(".")[0] != "serve_app":
                continue
            if id(node) in top_level or rel.parts[1] != "cli":
                bad.append(f"{rel}:{node.lineno}: imports {name}")
    assert bad == []


def test_only_connect_starts_ray() -> None:
    """``ray.init`` appears in energy/, serve_app/ and jobs/ only in ``connect``."""
    calls = []
    for folder in ("energy", "serve_app", "jobs"):
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                f = node.func if isinstance(node, ast.Call) else None
                if (
                    isinstance(f, ast.Attribute)
                    and f.attr == "init"
                    and ast.unparse(f) == "ray.init"
                ):
                    calls.append(str(path.relative_to(REPO)))
    assert set(calls) == {"energy/distributed/cluster.py"}, calls
