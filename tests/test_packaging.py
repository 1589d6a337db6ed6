"""The library is a package: its wheel holds explorer/ with the weights, and nothing else."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # worker processes or training: not in the fast lane

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_holds_the_library_and_its_weights(tmp_path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("forward_pass_explorer-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"explorer"}
    assert {
        f"explorer/weights/{p.name}" for p in (ROOT / "explorer" / "weights").glob("*.pt")
    } <= set(names)
    assert "explorer/sandbox/worker.py" in names and "explorer/py.typed" in names


def test_every_requirement_is_pinned_with_its_whole_environment() -> None:
    """requirements*.txt name the direct dependencies; constraints.txt pins each of them and
    everything they pull in, so a fresh machine gets the set the tests ran with."""
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[_norm(name)] = version.strip()
    for req in ("requirements.txt", "requirements-dev.txt"):
        for line in (ROOT / req).read_text().splitlines():
            line = line.split("#")[0].strip()
            if not line or line.startswith("-"):
                continue
            name, version = line.split("==")
            assert pins.get(_norm(name)) == version.strip(), f"{req}: {line}"
    assert "scikit-learn" in pins and "scipy" in pins  # imported by explorer/


def test_pyproject_names_what_the_library_imports() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {_norm(d.split(">")[0].split("=")[0]) for d in project["dependencies"]}
    assert {"torch", "numpy", "pillow", "scipy", "plotly"} <= names


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def test_no_module_of_the_library_imports_streamlit() -> None:
    """explorer/ is a library: every module imports in a process where streamlit cannot."""
    modules = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in (ROOT / "explorer").rglob("*.py")
        if "__main__" not in p.name
    )
    probe = (
        "import importlib, sys\n"
        "class Refuse:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'streamlit' or name.startswith('streamlit.'):\n"
        "            raise ImportError('explorer/ must not import ' + name)\n"
        "sys.meta_path.insert(0, Refuse())\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(modules) > 60
