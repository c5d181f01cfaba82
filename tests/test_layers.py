"""The layers of docs/architecture.md, read off the import statements of the package.

web/ and api/ are sibling adapters: neither imports the other. services/ and storage/ know
nothing of Flask's request or of either adapter.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "upload_service"


def imported_modules(layer: str) -> dict[str, set[str]]:
    """Each module of ``layer`` and the absolute module names it imports."""
    found: dict[str, set[str]] = {}
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(PACKAGE))] = names
    return found


def offenders(layer: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    return {
        module: sorted(name for name in names if name.startswith(forbidden))
        for module, names in imported_modules(layer).items()
        if any(name.startswith(forbidden) for name in names)
    }


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("web", ("upload_service.api",)),
        ("api", ("upload_service.web",)),
        ("services", ("upload_service.api", "upload_service.web", "flask")),
        ("storage", ("upload_service.api", "upload_service.web", "upload_service.services")),
    ],
)
def test_layer_imports_stay_inside_their_boundary(layer: str, forbidden: tuple[str, ...]) -> None:
    assert imported_modules(layer), f"no modules found under upload_service/{layer}"
    assert offenders(layer, forbidden) == {}


def test_no_reference_points_outside_the_repository() -> None:
    """Comments point at docs/ inside the repository, never at design notes kept elsewhere."""
    root = PACKAGE.parent
    outside = ("DESIGN §", "DESIGN.md", "STYLE.md", "../shared")
    sources = [*PACKAGE.rglob("*.py"), *(root / "tests").rglob("*.py"), root / "README.md"]
    sources += [*(root / "docs").glob("*.md"), *(root / "benchmarks").rglob("*.py")]
    found = {
        str(path.relative_to(root)): word
        for path in sources
        if path != Path(__file__).resolve()
        for word in outside
        if word in path.read_text(errors="replace")
    }
    assert found == {}
    for path in (root / "docs").glob("*.md"):
        for target in re.findall(r"\]\(([\w./-]+\.md)\)", path.read_text()):
            assert (path.parent / target).is_file(), f"{path.name} links to missing {target}"
