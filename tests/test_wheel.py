"""The wheel carries templates, static files and migrations, and the app runs from it alone."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import zipfile
from contextlib import closing
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PACKAGE = PROJECT_ROOT / "upload_service"
MIGRATION_FILES = [
    "upload_service/migrations/env.py",
    "upload_service/migrations/script.py.mako",
    "upload_service/migrations/versions/0001_initial_schema.py",
]

pytestmark = pytest.mark.slow

# Runs from the unpacked wheel: builds the app on a fresh DATA_DIR (which applies the
# migrations) and reports what a browser and a probe would get.
RUN_APP = """
import json, pathlib, sys
import upload_service
from upload_service.app import create_app

site, data_dir = pathlib.Path(sys.argv[1]).resolve(), sys.argv[2]
assert pathlib.Path(upload_service.__file__).resolve().is_relative_to(site), upload_service.__file__
app = create_app({"DATA_DIR": data_dir, "SWEEP_INTERVAL": 0})
templates = sorted(app.jinja_env.list_templates())
for name in templates:
    app.jinja_env.get_template(name)
client = app.test_client()
print(json.dumps({
    "templates": templates,
    "template_folder": str(pathlib.Path(app.jinja_loader.searchpath[0]).resolve()),
    "healthz": client.get("/healthz").status_code,
    "readyz": client.get("/readyz").status_code,
    "css": client.get("/static/app.css").status_code,
    "login": client.get("/login").status_code,
}))
"""
RUN_CLI = "from upload_service.cli import main; main()"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out)]
    subprocess.run(
        [*build, str(PROJECT_ROOT)],
        check=True,
        timeout=600,
    )
    (built,) = out.glob("upload_service-*.whl")
    return built


@pytest.fixture(scope="module")
def unpacked(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site


def wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def source_files(folder: str) -> list[str]:
    return sorted(
        path.relative_to(PROJECT_ROOT).as_posix()
        for path in (PACKAGE / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    )


@pytest.mark.parametrize("folder", ["templates", "static"])
def test_wheel_carries_every_template_and_static_file(wheel: Path, folder: str) -> None:
    files = source_files(folder)
    assert files, f"upload_service/{folder} has no files"
    assert set(files) <= wheel_names(wheel)


def test_wheel_carries_the_migrations_and_the_command(wheel: Path) -> None:
    names = wheel_names(wheel)
    assert set(MIGRATION_FILES) <= names
    (entry_points,) = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
    with zipfile.ZipFile(wheel) as archive:
        assert "upload-service=upload_service.cli:main" in (
            archive.read(entry_points).decode().replace(" ", "")
        )


def run_from(site: Path, tmp_path: Path, *args: str, **env: str) -> str:
    """Run Python with only the unpacked wheel (plus our installed dependencies) importable."""
    outside = tmp_path / "elsewhere"  # not the checkout, so it cannot be imported by accident
    outside.mkdir(exist_ok=True)
    result = subprocess.run(
        [sys.executable, *args],
        env={**os.environ, "PYTHONPATH": str(site), **env},
        cwd=outside,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_app_runs_from_the_wheel(unpacked: Path, tmp_path: Path) -> None:
    output = run_from(unpacked, tmp_path, "-c", RUN_APP, str(unpacked), str(tmp_path / "data"))
    report = json.loads(output.strip().splitlines()[-1])
    assert Path(report["template_folder"]).is_relative_to(unpacked.resolve())
    assert "base.html" in report["templates"]
    assert (report["healthz"], report["readyz"], report["css"], report["login"]) == (200,) * 4


def test_db_upgrade_runs_from_the_wheel(unpacked: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "cli-data"
    run_from(unpacked, tmp_path, "-c", RUN_CLI, "db", "upgrade", DATA_DIR=str(data_dir))
    with closing(sqlite3.connect(data_dir / "upload-service.db")) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert {"alembic_version", "users", "files", "blobs"} <= tables
