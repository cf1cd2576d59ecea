"""The part boundaries the package docstrings state, held by reading imports with ``ast``.

Each rule is (who, what they must never import). ``test_checker_catches_a_forbidden_import``
proves the checker itself can fail, so a rule cannot pass by reading nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PARTS = (
    "core",
    "store",
    "ingest",
    "sim",
    "analysis",
    "runtime",
    "api",
    "views",
    "commands",
    "beam",
)

# who (a path prefix, relative to the repository) -> module prefixes it must never import
RULES: dict[str, tuple[str, ...]] = {
    "engine/": ("streamlit", "ui", "pages", "app"),
    "engine/core/": tuple(f"engine.{p}" for p in PARTS if p != "core"),
    "engine/store/": (
        "engine.runtime",
        "engine.ingest",
        "engine.sim",
        "engine.analysis",
        "engine.views",
        "engine.api",
        "engine.commands",
    ),
    "engine/sim/": (
        "engine.store",
        "engine.runtime",
        "engine.views",
        "engine.api",
        "engine.commands",
    ),
    "engine/analysis/": ("engine.runtime", "engine.views", "engine.api", "engine.commands"),
    "engine/ingest/": ("engine.runtime", "engine.views", "engine.api", "engine.commands"),
    "engine/runtime/": ("engine.views", "engine.api", "engine.commands"),
    "engine/views/": ("engine.api", "engine.commands"),
    "engine/beam/": (
        "engine.runtime",
        "engine.ingest",
        "engine.sim",
        "engine.analysis",
        "engine.views",
        "engine.api",
        "engine.commands",
    ),
    "engine/api/": ("engine.commands",),
    "pages/": ("engine.store", "sqlite3", "sqlite_utils"),
    "ui/": ("engine.store", "sqlite3", "sqlite_utils"),
}


def imported_modules(source: str) -> list[tuple[int, str]]:
    """Every module a source file imports (absolute names), with its line number."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            # `from engine import store` imports the package engine.store
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def violations(rel_path: str, source: str) -> list[str]:
    out = []
    for who, banned in RULES.items():
        if not rel_path.startswith(who):
            continue
        for line, module in imported_modules(source):
            for prefix in banned:
                if module == prefix or module.startswith(prefix + "."):
                    out.append(f"{rel_path}:{line} imports {module} ({who} never imports {prefix})")
    return out


def project_files() -> list[Path]:
    roots = [ROOT / "engine", ROOT / "pages", ROOT / "ui"]
    return sorted(p for r in roots for p in r.rglob("*.py"))


@pytest.mark.parametrize("path", project_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_part_boundaries(path: Path) -> None:
    rel = path.relative_to(ROOT).as_posix()
    assert violations(rel, path.read_text(encoding="utf-8")) == []


# The optional Apache Beam extra: only its own part and the command that runs it may
# import it (lazily), so the app never needs apache-beam installed.
OPTIONAL = ("apache_beam", "engine.beam")
OPTIONAL_USERS = ("engine/beam/", "engine/commands/beam.py")


def optional_violations(rel_path: str, source: str) -> list[str]:
    if rel_path.startswith(OPTIONAL_USERS):
        return []
    return [
        f"{rel_path}:{line} imports {module} (only {OPTIONAL_USERS} may)"
        for line, module in imported_modules(source)
        for prefix in OPTIONAL
        if module == prefix or module.startswith(prefix + ".")
    ]


@pytest.mark.parametrize("path", project_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_beam_part_needs_apache_beam(path: Path) -> None:
    rel = path.relative_to(ROOT).as_posix()
    assert optional_violations(rel, path.read_text(encoding="utf-8")) == []


def test_optional_checker_catches_an_import() -> None:
    assert optional_violations("engine/runtime/runtime.py", "import apache_beam as beam\n")
    assert optional_violations("engine/store/db.py", "from engine.beam.panes import PaneBook\n")
    assert not optional_violations("engine/beam/sinks.py", "import apache_beam as beam\n")


def test_every_part_says_what_it_is_and_never_imports() -> None:
    for part in PARTS:
        init = ROOT / "engine" / part / "__init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc, f"engine/{part}/__init__.py has no docstring"
        assert "never" in doc.lower() or "only" in doc.lower(), f"engine/{part} states no boundary"


@pytest.mark.parametrize(
    ("rel_path", "source"),
    [
        ("engine/core/operator.py", "from engine.store.db import Store\n"),
        ("engine/core/windows.py", "import engine.runtime.clock\n"),
        ("engine/core/spec.py", "from engine import store\n"),
        ("engine/store/db.py", "def f():\n    from engine.runtime import runtime\n"),
        ("engine/views/dashboard.py", "import streamlit as st\n"),
        ("engine/analysis/lateness.py", "from ui.format import fmt_money\n"),
        ("engine/beam/sinks.py", "from engine.runtime.runtime import Runtime\n"),
        ("pages/today.py", "from engine.store.queries import DELAY_BUCKETS\n"),
    ],
)
def test_checker_catches_a_forbidden_import(rel_path: str, source: str) -> None:
    assert violations(rel_path, source), f"{source!r} in {rel_path} should break a rule"


def test_checker_allows_the_flow_direction() -> None:
    assert violations("engine/store/db.py", "from engine.core.events import Event\n") == []
    assert violations("pages/today.py", "from engine.views import dashboard\n") == []


def test_test_modules_have_unique_names() -> None:
    """pytest imports test files outside packages by basename: two ``test_x.py`` in
    different folders stop the whole suite at collection (it happened)."""
    seen: dict[str, Path] = {}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        if (path.parent / "__init__.py").exists():
            continue  # inside a package: imported by its dotted name
        assert path.name not in seen, f"{path} and {seen[path.name]} share a name"
        seen[path.name] = path


def test_every_page_file_is_named_as_its_url() -> None:
    """On a fresh server Streamlit first serves ``pages/`` by file name; only after that
    run does app.py's ``st.navigation`` route by url path. A deep link whose path is not
    a file name gets a "Page not found" dialog over the page (it happened to /import;
    tests/e2e/test_browser.py opens /import first on a fresh server)."""
    tree = ast.parse((ROOT / "app.py").read_text())
    pages = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "PAGES" for t in node.targets)
    )
    for _, path, _, url, _ in pages:
        assert Path(path).stem == url, f"{path} is served at /{url}: name it pages/{url}.py"
