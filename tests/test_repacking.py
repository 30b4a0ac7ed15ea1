"""Weight repacking is off exactly where llama.cpp's AMX path crashes (llama.cpp #20824),
and the decision reaches the parameters the model is loaded with, on any machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import load_settings
from retrieval.llm import repacking
from retrieval.llm.llama_server import split_args
from retrieval.llm.repacking import (
    build_has_amx,
    cpu_has_amx,
    read_cpuinfo,
    resolve_weight_repacking,
    use_weight_repacking,
)
from retrieval.types import DataDir

# Flag lines recorded from real machines (trimmed to one core each).
SAPPHIRE_RAPIDS = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx \
fxsr sse sse2 ss ht syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology nonstop_tsc \
cpuid tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave \
avx f16c rdrand hypervisor lahf_lm abm 3dnowprefetch invpcid_single ssbd ibrs ibpb stibp \
fsgsbase tsc_adjust bmi1 hle avx2 smep bmi2 erms invpcid rtm avx512f avx512dq rdseed adx smap \
avx512ifma clflushopt clwb avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves \
avx_vnni avx512_bf16 arat avx512vbmi umip pku ospke waitpkg avx512_vbmi2 gfni vaes vpclmulqdq \
avx512_vnni avx512_bitalg avx512_vpopcntdq la57 rdpid cldemote movdiri movdir64b fsrm md_clear \
serialize tsxldtrk amx_bf16 avx512_fp16 amx_tile amx_int8 arch_capabilities
bogomips\t: 5399.99
"""
AMD_EPYC = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx \
fxsr sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm rep_good nopl cpuid extd_apicid \
tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave \
avx f16c rdrand hypervisor lahf_lm cmp_legacy cr8_legacy abm sse4a misalignsse 3dnowprefetch \
bmi1 avx2 smep bmi2 erms invpcid avx512f avx512dq rdseed adx smap avx512ifma clflushopt clwb \
avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves avx512_bf16 clzero xsaveerptr \
wbnoinvd arat avx512vbmi umip pku ospke avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni \
avx512_bitalg avx512_vpopcntdq rdpid fsrm
"""
ARM_GRAVITON = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm \
lrcpc dcpop asimddp ssbs
CPU implementer\t: 0x41
"""
# llama.cpp's system-info line for a native build on each kind of CPU.
BUILD_WITH_AMX = ("CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | "
                  "BMI2 = 1 | AVX512 = 1 | AVX512_VBMI = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 1 | "
                  "AMX_INT8 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | ")
BUILD_WITHOUT_AMX = BUILD_WITH_AMX.replace("AMX_INT8 = 1 | ", "")


@pytest.mark.parametrize(("cpuinfo", "expected"), [
    (SAPPHIRE_RAPIDS, True), (AMD_EPYC, False), (ARM_GRAVITON, False), (None, False), ("", False),
])
def test_amx_is_read_from_the_cpu_flags(cpuinfo: str | None, expected: bool) -> None:
    assert cpu_has_amx(cpuinfo) is expected


def test_a_machine_without_proc_has_no_cpuinfo(tmp_path: Path) -> None:
    assert read_cpuinfo(tmp_path / "no-such-proc" / "cpuinfo") is None


def test_auto_turns_repacking_off_on_an_amx_cpu_running_an_amx_build() -> None:
    assert use_weight_repacking("auto", SAPPHIRE_RAPIDS, BUILD_WITH_AMX) is False
    # A build that cannot be asked is assumed to have AMX: the safe side.
    assert use_weight_repacking("auto", SAPPHIRE_RAPIDS, None) is False


def test_auto_keeps_repacking_where_the_amx_path_cannot_run() -> None:
    assert use_weight_repacking("auto", SAPPHIRE_RAPIDS, BUILD_WITHOUT_AMX) is True
    assert use_weight_repacking("auto", AMD_EPYC, BUILD_WITH_AMX) is True
    assert use_weight_repacking("auto", ARM_GRAVITON, None) is True
    assert use_weight_repacking("auto", None, None) is True  # no /proc: no AMX evidence


def test_true_and_false_force_repacking_either_way() -> None:
    assert use_weight_repacking(True, SAPPHIRE_RAPIDS, BUILD_WITH_AMX) is True
    assert use_weight_repacking(False, AMD_EPYC, BUILD_WITHOUT_AMX) is False


def test_build_features_are_read_from_llama_cpp_system_info() -> None:
    assert build_has_amx(BUILD_WITH_AMX) and not build_has_amx(BUILD_WITHOUT_AMX)
    assert build_has_amx("")  # unknown


def test_this_machine_is_decided_from_its_own_cpuinfo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(repacking, "read_cpuinfo", lambda path=None: SAPPHIRE_RAPIDS)
    monkeypatch.setattr(repacking, "llama_system_info", lambda: BUILD_WITH_AMX)
    assert resolve_weight_repacking("auto") is False
    monkeypatch.setattr(repacking, "read_cpuinfo", lambda path=None: AMD_EPYC)
    assert resolve_weight_repacking("auto") is True


@pytest.mark.parametrize(("raw", "expected"), [
    ("auto", "auto"), ("true", True), ("false", False), (True, True), (False, False),
])
def test_the_setting_accepts_auto_true_and_false(raw: object, expected: object) -> None:
    assert load_settings(None, {"llm.repack_weights": raw}).llm.repack_weights == expected


def test_the_setting_rejects_other_values() -> None:
    with pytest.raises(Exception, match="repack_weights"):
        load_settings(None, {"llm.repack_weights": "sometimes"})


def test_the_server_launcher_takes_its_option_and_passes_the_rest() -> None:
    assert split_args(["--model", "m.gguf", "--repack-weights", "false", "--port", "1"]) == (
        False, ["--model", "m.gguf", "--port", "1"])
    assert split_args(["--model", "m.gguf"]) == ("auto", ["--model", "m.gguf"])


@pytest.mark.models
@pytest.mark.parametrize("repack", [False, True])
def test_the_decision_reaches_the_loaded_models_parameters(
    models_dir: Path, repack: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the engine's own model factory: on an AMX machine (recorded cpuinfo) with an
    AMX build, "auto" must load the model with repacking off; elsewhere on."""
    from retrieval.models.cache import build_llm

    if repack and cpu_has_amx(read_cpuinfo()) and build_has_amx(repacking.llama_system_info()):
        pytest.skip("repacking on would take the crashing AMX path on this very machine")
    cpuinfo = AMD_EPYC if repack else SAPPHIRE_RAPIDS
    monkeypatch.setattr(repacking, "read_cpuinfo", lambda path=None: cpuinfo)
    monkeypatch.setattr(repacking, "llama_system_info", lambda: BUILD_WITH_AMX)
    data_dir = models_dir.parent / f"repack-{repack}"
    data_dir.mkdir(exist_ok=True)
    if not DataDir(data_dir).models.exists():
        DataDir(data_dir).models.symlink_to(models_dir, target_is_directory=True)
    llm = build_llm(load_settings(None, {"data_dir": data_dir, "llm.n_ctx": 512}))
    llm.load()
    loaded = llm._llama  # type: ignore[attr-defined]
    # The parameters llama.cpp's model was built from, not only the ones the wrapper holds.
    assert loaded._model.params.use_extra_bufts is repack
    assert loaded.model_params.use_extra_bufts is repack
    if not repack:  # with repacking off the model answers on any CPU, AMX ones included
        assert llm.complete("The capital of France is", max_tokens=4).tokens > 0
