"""Ray at the edges, at run time: importing the core of ``energy`` (everything outside
``energy/distributed``) loads neither Ray nor ``serve_app``, and only
``energy.distributed.cluster.connect`` starts or joins Ray. (The import statements themselves
are checked in test_import_boundaries.py.)"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]

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


def test_importing_every_core_module_loads_neither_ray_nor_serve_app() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "energy.models.xgb" in result["modules"] and "energy.cli.serve" in result["modules"]
    assert result["loaded"] == [], f"imported by the core: {result['loaded']}"


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
