"""llama-cpp-python's OpenAI-compatible server with articlebot's weight-repacking protection.

    python -m retrieval.llm.llama_server [--repack-weights auto|true|false] --model M.gguf ...

Every other argument goes to ``python -m llama_cpp.server`` unchanged. The server builds its
own ``llama_cpp.Llama``, which would repack the weights on any CPU, crashing on Intel AMX
machines (see ``retrieval.llm.repacking``); this launcher runs the same server in this process
with the repacking decision of ``llm.repack_weights`` applied to every model it loads.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from retrieval.llm import llama_class
from retrieval.llm.repacking import RepackSetting, resolve_weight_repacking


def parse_repack(value: str) -> RepackSetting:
    lowered = value.strip().lower()
    if lowered == "auto":
        return "auto"
    if lowered in ("true", "on", "1", "yes"):
        return True
    if lowered in ("false", "off", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected auto, true or false, not {value!r}")


def split_args(argv: Sequence[str]) -> tuple[RepackSetting, list[str]]:
    """Our one option, and the rest for llama_cpp.server."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--repack-weights", "--repack_weights", type=parse_repack,
                        default="auto")
    ours, rest = parser.parse_known_args(list(argv))
    return ours.repack_weights, rest


def main(argv: Sequence[str] | None = None) -> None:
    setting, rest = split_args(sys.argv[1:] if argv is None else argv)
    import llama_cpp
    from llama_cpp.server import __main__ as server

    # The server looks up llama_cpp.Llama each time it loads a model; in this process only,
    # that name is the class with the repacking decision applied.
    llama_cpp.Llama = llama_class(resolve_weight_repacking(setting))  # type: ignore[misc]
    sys.argv = [f"{sys.argv[0]} (llama_cpp.server)", *rest]
    server.main()


if __name__ == "__main__":
    main()
