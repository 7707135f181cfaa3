"""The layering, beyond import-linter's contracts (pyproject.toml): no import circles
between modules, and the "only URL confs import API modules" contract names every
module there is (a new module cannot slip past it)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("accounts", "renders", "ai_jobs", "webhooks", "config", "workers")

pytestmark = pytest.mark.engine  # no database, no Redis


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # Type-only imports (under TYPE_CHECKING) do not run: they cannot make a circle.
    return grimp.build_graph(*PACKAGES, cache_dir=None, exclude_type_checking_imports=True)


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    modules = sorted(m for m in graph.modules if ".migrations" not in m)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in modules:
        if module not in index:
            visit(module)
    return found


def test_no_module_imports_itself_through_others(graph):
    assert _cycles(graph) == []


def test_the_api_contract_names_every_module(graph):
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contract = next(c for c in config["contracts"] if c["name"].startswith("Only URL confs"))
    covered = contract["source_modules"] + contract["forbidden_modules"]

    def is_covered(module: str) -> bool:
        return any(module == c or module.startswith(c + ".") for c in covered)

    exempt = (".urls", ".public_urls", ".placeholder_urls", ".migrations", "__init__")
    uncovered = [
        m
        for m in sorted(graph.modules)
        if m not in PACKAGES
        and not is_covered(m)
        and not any(part in m for part in exempt)
        and not m.endswith(("urls",))
    ]
    assert uncovered == []
