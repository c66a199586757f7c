"""The architecture's arrows, checked by walking every import statement (README "Layout").

Each rule names a folder, what it may not import, and why. Imports inside functions count for the
third-party rules (ray, mlflow: the core must run without them) and for the layering rules except
where a rule says "module level": a lazy import that inverts a layer is still a wrong arrow.
A violation names the file, the line and the import, so the fix is obvious.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    module: str  # absolute dotted name, e.g. "energy.models.base" or "ray.train"
    module_level: bool  # False when inside a function (a lazy import)


def _imports(path: Path, package: str | None = None) -> list[Import]:
    """Every import in ``path``; ``package`` is the file's package (derived from its place)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    if package is None:
        package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append(Import(path, child.lineno, alias.name, not in_function))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:  # relative import: resolve against this file's package
                    parts = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                # "from energy import tracking" imports energy.tracking; a class name after the
                # module ("energy.models.base.Forecaster") still matches the module's prefix.
                for a in child.names:
                    found.append(Import(path, child.lineno, f"{base}.{a.name}", not in_function))
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                continue  # typing-only imports are not run
            visit(child, nested)

    visit(tree, False)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _files(folder: str) -> list[Path]:
    return sorted(p for p in (REPO / folder).rglob("*.py") if "__pycache__" not in p.parts)


def _under(imp: Import, folder: str) -> bool:
    return imp.path.is_relative_to(REPO / folder)


def _is(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


@dataclass(frozen=True)
class Rule:
    folder: str  # where the rule applies
    forbidden: tuple[str, ...]  # module prefixes it may not import
    why: str
    module_level_only: bool = False
    exempt: tuple[str, ...] = ()  # sub-folders / files of `folder` the rule does not cover


# What sits above features in the flow (README diagram): nothing below may import it.
DOWNSTREAM_OF_DATA = (
    "energy.models",
    "energy.forecast",
    "energy.evaluation",
    "energy.lifecycle",
    "energy.tracking",
    "energy.distributed",
)

RULES = [
    Rule(
        "energy",
        ("ray",),
        "the core runs and is tested without a cluster: Ray lives in energy/distributed/",
        exempt=("energy/distributed",),
    ),
    Rule(
        "energy",
        ("mlflow",),
        "energy/tracking/ is the only package that imports mlflow",
        exempt=("energy/tracking",),
    ),
    Rule("energy", ("jobs",), "jobs/ are entry points over the library, never the other way"),
    Rule(
        "energy",
        ("serve_app",),
        "the library does not depend on the server (energy serve imports it inside the command)",
        module_level_only=True,
    ),
    Rule(
        "energy",
        ("energy.cli",),
        "the CLI is an edge: parse, call one library function, print",
        exempt=("energy/cli", "energy/__main__.py"),
    ),
    Rule("energy/schema.py", ("energy.",), "the schema is the root every other module builds on"),
    Rule(
        "energy/data",
        (*DOWNSTREAM_OF_DATA, "energy.features"),
        "data knows schemas and files, nothing downstream",
    ),
    Rule(
        "energy/features",
        DOWNSTREAM_OF_DATA,
        "features are fitted on data; models build on them, not the reverse",
    ),
    Rule(
        "energy/models",
        tuple(m for m in DOWNSTREAM_OF_DATA if m != "energy.models"),
        "models say what to fit; running, scoring, tracking and distributing them live above",
    ),
    Rule(
        "energy/forecast",
        ("energy.evaluation", "energy.lifecycle", "energy.tracking", "energy.distributed"),
        "the forecast path answers queries from a package; it does not train or track",
    ),
    Rule(
        "energy/evaluation",
        ("energy.lifecycle", "energy.tracking", "energy.distributed"),
        "backtests score models; registering and tracking them is the lifecycle's job",
    ),
    Rule(
        "energy/tracking",
        ("energy.lifecycle", "energy.distributed"),
        "tracking records what the lifecycle hands it",
    ),
    Rule(
        "energy/monitoring",
        (
            "energy.lifecycle",
            "energy.tracking",
            "energy.distributed",
            "energy.models",
            "energy.features",
            "energy.forecast",
            "energy.evaluation.schemes",
            "energy.evaluation.rolling",
            "energy.evaluation.reporting",
        ),
        "monitoring reads the store and scores what was served; the lifecycle consumes it",
    ),
    Rule(
        "serve_app",
        ("jobs", "energy.lifecycle", "energy.distributed.tune"),
        "the server loads registered packages and answers queries; it does not train",
    ),
]


def _applies(rule: Rule, imp: Import) -> bool:
    if not _under(imp, rule.folder) or any(_under(imp, e) for e in rule.exempt):
        return False
    if rule.module_level_only and not imp.module_level:
        return False
    return any(_is(imp.module, f.rstrip(".")) or imp.module.startswith(f) for f in rule.forbidden)


def _all_imports() -> list[Import]:
    return [
        imp
        for folder in ("energy", "serve_app", "jobs")
        for p in _files(folder)
        for imp in _imports(p)
    ]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: f"{r.folder}-{r.forbidden[0]}")
def test_import_rule(rule: Rule) -> None:
    imports = _all_imports()
    assert len(imports) > 500, "the walker found too few imports: is it looking in the right place?"
    bad = [imp for imp in imports if _applies(rule, imp)]
    lines = [f"{i.path.relative_to(REPO)}:{i.line} imports {i.module}" for i in bad]
    assert not bad, f"{rule.why}:\n  " + "\n  ".join(lines)


def test_network_files_import_only_torch() -> None:
    """nanoGPT's rule: the network file imports nothing from data or training."""
    bad = [
        f"{imp.path.relative_to(REPO)}:{imp.line} imports {imp.module}"
        for p in _files("energy/models")
        if p.name.endswith("_net.py")
        for imp in _imports(p)
        if _is(imp.module, "energy") and not _is(imp.module, "energy.models.level_norm")
    ]
    assert not bad, "\n".join(bad)


def test_the_checker_sees_violations(tmp_path: Path) -> None:
    """The walker finds plain, from-, relative and lazy imports, and skips TYPE_CHECKING blocks."""
    src = tmp_path / "probe.py"
    src.write_text(
        "from typing import TYPE_CHECKING\nimport ray\nfrom . import tracking\n"
        "if TYPE_CHECKING:\n    import mlflow\n"
        "def f():\n    from energy.lifecycle import pipeline\n"
    )
    found = {(i.module, i.module_level) for i in _imports(src, package="energy")}
    assert ("ray", True) in found
    assert ("energy.tracking", True) in found
    assert ("energy.lifecycle.pipeline", False) in found
    assert not any(m == "mlflow" for m, _ in found)
