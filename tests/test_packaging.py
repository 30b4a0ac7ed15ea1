"""The first five minutes: the package metadata and the Makefile's install step."""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pydantic-settings brings tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_setuptools_reads_the_pyproject_without_deprecation_warnings(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    monkeypatch.chdir(ROOT)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "`project.license` as a TOML table is deprecated"
        dist = apply_configuration(Distribution(), ROOT / "pyproject.toml")
    assert dist.metadata.license_expression == "MIT"


def test_the_build_needs_a_setuptools_that_understands_spdx_licenses() -> None:
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]
    [setuptools] = [Requirement(r) for r in build["requires"] if r.startswith("setuptools")]
    assert not setuptools.specifier.contains("76.1.0")  # PEP 639 support arrived in 77.0
    assert setuptools.specifier.contains("77.0.0")


def dry_install(tmp_path: Path, *variables: str) -> list[str]:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    result = subprocess.run([make, "-n", "install", f"VENV={tmp_path / 'venv'}", *variables],
                            cwd=ROOT, capture_output=True, text=True, check=True)
    return result.stdout.splitlines()


def test_make_says_what_it_builds_and_how_long_before_the_compile(tmp_path: Path) -> None:
    lines = dry_install(tmp_path)
    install = next(i for i, line in enumerate(lines) if "-e '.[dev]'" in line)
    announced = " ".join(lines[:install])
    assert "llama-cpp-python" in announced and "7 minutes" in announced
    assert "LLAMA_WHEELS" in announced
    # pip's progress and errors stay visible for the two long steps.
    assert " -q " not in lines[install]
    assert not any(" -q " in line for line in lines if "TORCH" not in line and "torch" in line)
    assert "--extra-index-url" not in lines[install]  # PyPI only unless asked


def test_llama_wheels_points_the_install_at_prebuilt_wheels(tmp_path: Path) -> None:
    url = "https://abetlen.github.io/llama-cpp-python/whl/cpu"
    lines = dry_install(tmp_path, f"LLAMA_WHEELS={url}")
    install = next(line for line in lines if "-e '.[dev]'" in line)
    assert f"--extra-index-url {url}" in install and "--prefer-binary" in install


def test_the_wheel_holds_every_module_and_the_data(tmp_path: Path) -> None:
    """What the Dockerfile installs (``pip install .``, not editable) holds only what
    ``packages.find`` and ``package-data`` name; the editable install the tests run on sees
    the whole tree, so a subpackage or data file left out would pass every other test."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):  # the Dockerfile's COPY lines
        shutil.copy(ROOT / name, source / name)
    for package in ("bot", "config", "retrieval"):
        shutil.copytree(ROOT / package, source / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps",
                    "--no-build-isolation", "--disable-pip-version-check", "-q",
                    "-w", str(tmp_path / "wheel")], check=True, capture_output=True)
    [wheel] = (tmp_path / "wheel").glob("*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    sources = {p.relative_to(ROOT).as_posix() for package in ("bot", "config", "retrieval")
               for p in (ROOT / package).rglob("*.py")}
    assert {"retrieval/answer/__init__.py", "retrieval/ingest/documents/pdf.py",
            "retrieval/llm/llama_server.py", "retrieval/evaluation/benchmark.py"} <= sources
    assert sources - shipped == set()
    assert {"retrieval/sample/china-us-trade-talks.txt", "config/default.toml"} <= shipped
