"""The Docker image and the nix flake stay in step with pyproject.toml (neither builds here)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _pyproject_dependencies() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[\s\[<>=(]", spec, maxsplit=1)[0] for spec in project["dependencies"]}
    return {name.lower().replace("_", "-") for name in names}


def _flake_dependencies() -> set[str]:
    flake = (ROOT / "flake.nix").read_text()
    block = re.search(r"dependencies = with python\.pkgs; \[(.*?)\];", flake, re.DOTALL)
    assert block, "flake.nix lists no dependencies"
    return set(block.group(1).split())


def test_flake_lists_exactly_the_main_dependencies() -> None:
    assert _flake_dependencies() == _pyproject_dependencies()


def test_dockerfile_installs_from_the_lock_file_and_runs_the_installed_wheel() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "poetry install --only main" in dockerfile
    assert "poetry.lock" in dockerfile
    assert "pip install --no-deps dist/*.whl" in dockerfile
    assert 'CMD ["upload-service", "serve"]' in dockerfile
    pinned = re.search(r"poetry==([\d.]+)", dockerfile)
    dev = (ROOT / "dev").read_text()
    assert pinned and f"POETRY_VERSION={pinned.group(1)}" in dev
