"""Whether llama.cpp may repack the model's weights on this machine.

llama.cpp copies quantised weights into "extra buffer types" at load: layouts tuned for the
CPU's vector units (its ordinary CPU repacking) and, in builds compiled for AMX, Intel's AMX
tile layout. On CPUs with AMX the AMX path crashes at the first matrix multiply with Q4_K
weights (llama.cpp issue #20824), so that layout must not be used there. Two facts decide it:
the CPU reports AMX (``/proc/cpuinfo``) and the llama.cpp build has the AMX backend compiled
in (its system-info line lists ``AMX_INT8``). A build without AMX keeps the ordinary, fast
repacking even on an AMX CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

RepackSetting = Literal["auto"] | bool

AMX_FLAGS = frozenset({"amx_tile", "amx_int8", "amx_bf16"})
CPUINFO = Path("/proc/cpuinfo")


def read_cpuinfo(path: Path = CPUINFO) -> str | None:
    """The kernel's CPU description, or None where there is none (macOS, Windows, sandboxes)."""
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


def cpu_flags(cpuinfo: str) -> set[str]:
    """Every flag named on a ``flags`` line of ``/proc/cpuinfo`` (x86 spells them lower case)."""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "flags":
            flags.update(value.split())
    return flags


def cpu_has_amx(cpuinfo: str | None) -> bool:
    return cpuinfo is not None and bool(cpu_flags(cpuinfo) & AMX_FLAGS)


def build_has_amx(system_info: str | None) -> bool:
    """Whether the llama.cpp build was compiled with its AMX backend. Unknown counts as yes:
    the safe answer when the build cannot be asked."""
    if not system_info:
        return True
    return "AMX_INT8 = 1" in system_info


def llama_system_info() -> str | None:
    """llama.cpp's own summary of the features it was compiled with, e.g. ``AVX2 = 1 | ...``."""
    try:
        import llama_cpp

        raw = llama_cpp.llama_print_system_info()
    except Exception:  # an old or broken build: treat as unknown
        return None
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def use_weight_repacking(setting: RepackSetting, cpuinfo: str | None,
                         system_info: str | None) -> bool:
    """``True``/``False`` force it; ``"auto"`` repacks unless the CPU and the build have AMX."""
    if isinstance(setting, bool):
        return setting
    return not (cpu_has_amx(cpuinfo) and build_has_amx(system_info))


def resolve_weight_repacking(setting: RepackSetting) -> bool:
    """The decision for this machine and the installed llama.cpp."""
    if isinstance(setting, bool):
        return setting
    cpuinfo = read_cpuinfo()
    if not cpu_has_amx(cpuinfo):
        return True  # no need to ask llama.cpp
    return use_weight_repacking(setting, cpuinfo, llama_system_info())
