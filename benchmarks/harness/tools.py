"""The programs the benchmarks run: curl and nginx (Debian), copyparty and py-spy (PyPI).

The full run installs what is missing (apt-get as root, PyPI packages into
``benchmarks/.venv-tools``) and needs all of them. ``--quick`` and ``--smoke`` install nothing
but py-spy for ``--profile``: a peer that is not installed is left out of the run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

from harness.common import REPO, TOOLS_VENV, log

SYSTEM_PACKAGES = ("curl", "nginx")  # Debian package = executable


@dataclass(frozen=True)
class Tools:
    """Paths of the programs found; None for a peer that is left out."""

    curl: str
    nginx: str | None
    copyparty: str | None
    py_spy: str | None


def find_tools(install: bool, peers: bool, profile: bool) -> Tools:
    """The tools of one run: installed first when ``install``, peers looked up when ``peers``."""
    if install:
        install_system_packages()
    install_into_tools_venv((["copyparty"] if install else []) + (["py-spy"] if profile else []))
    curl = which("curl")
    if curl is None:
        sys.exit("missing curl: install with apt-get install curl")
    tools = Tools(
        curl=curl,
        nginx=which("nginx") if peers else None,
        copyparty=tools_venv_program("copyparty") if peers else None,
        py_spy=tools_venv_program("py-spy"),
    )
    if install and (tools.nginx is None or tools.copyparty is None):
        sys.exit(f"nginx or copyparty still missing after installing them: {tools}")
    if profile and tools.py_spy is None:
        sys.exit(f"py-spy still missing after installing it into {TOOLS_VENV}")
    return tools


def install_system_packages() -> None:
    """apt-get install curl and nginx when missing; as another user than root, say so and exit."""
    missing = [name for name in SYSTEM_PACKAGES if not which(name)]
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit(f"missing {', '.join(missing)}: install with apt-get install {' '.join(missing)}")
    log(f"installing {' '.join(missing)} with apt-get")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", *missing],
        check=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )


def install_into_tools_venv(wanted: list[str]) -> None:
    """pip install ``wanted`` (those not there yet) into benchmarks/.venv-tools."""
    absent = [name for name in wanted if tools_venv_program(name) is None]
    if not absent:
        return
    python = TOOLS_VENV / "bin" / "python"
    if not python.exists():
        log(f"creating {TOOLS_VENV.relative_to(REPO)}")
        subprocess.run([sys.executable, "-m", "venv", str(TOOLS_VENV)], check=True)
    log(f"installing {' '.join(absent)} into {TOOLS_VENV.relative_to(REPO)}")
    subprocess.run([str(python), "-m", "pip", "install", "-q", *absent], check=True)


def tools_venv_program(name: str) -> str | None:
    path = TOOLS_VENV / "bin" / name
    return str(path) if path.exists() else None


def which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


def left_out_notes(tools: Tools, mode: str) -> list[str]:
    """One report line per peer left out of a quick or smoke run, saying why."""
    if mode == "smoke":
        return [
            "smoke run: our server only; nginx and copyparty are left out "
            "(rows comparing with them say SKIP)"
        ]
    notes = []
    if tools.nginx is None:
        notes.append(
            f"nginx is not installed: left out of this {mode} run, rows comparing with it say "
            "SKIP (apt-get install nginx; the full run installs it)"
        )
    if tools.copyparty is None:
        notes.append(
            f"copyparty is not installed in {TOOLS_VENV.relative_to(REPO)}: left out of this "
            f"{mode} run, rows comparing with it say SKIP (the full run installs it)"
        )
    return notes
