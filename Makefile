# Two commands do all set-up on a fresh machine:
#   make demo   create .venv, install, and answer a question about the bundled sample article
#   make test   create .venv, install, then lint, type-check and run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch; a plain "torch" pulls a multi-GB CUDA build.
TORCH ?= torch==2.13.0
QUESTION ?= Where will the talks take place?
export HF_HUB_OFFLINE ?= 1
# llama-cpp-python compiles llama.cpp for this CPU (-march=native), minus Intel AMX: its AMX
# path crashes on the packaged Q4_K model (llama.cpp #20824), while the ordinary repacking for
# AVX2/AVX-512 stays. Set CMAKE_ARGS yourself for other builds (e.g. -DGGML_CUDA=on). pip
# reuses a wheel it built before whatever the flags; `llm.repack_weights = "auto"` protects
# AMX machines at run time either way.
ifeq ($(shell uname -m),x86_64)
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
export CMAKE_ARGS ?= -DCMAKE_C_FLAGS="$(NO_AMX)" -DCMAKE_CXX_FLAGS="$(NO_AMX)"
endif
# llama-cpp-python's own prebuilt wheels, e.g. https://abetlen.github.io/llama-cpp-python/whl/cpu
# (or .../whl/cu124 for CUDA 12.4): pip takes a wheel from there instead of compiling.
LLAMA_WHEELS ?=
WHEELS := $(if $(LLAMA_WHEELS),--prefer-binary --extra-index-url $(LLAMA_WHEELS))
PIP := $(PY) -m pip --disable-pip-version-check

.PHONY: demo test lint install clean

demo: $(VENV)/.installed
	$(VENV)/bin/articlebot ask "$(QUESTION)"

test: $(VENV)/.installed lint
	$(PY) -m pytest -q $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check bot retrieval config tests
	$(VENV)/bin/mypy

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@echo "==> Creating $(VENV) and installing articlebot into it (one time)."
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	@echo "==> [1/2] $(TORCH) (another build: make TORCH=...)."
	$(PIP) install --progress-bar off "$(TORCH)"
	@echo "==> [2/2] articlebot and its dependencies. llama-cpp-python compiles llama.cpp from"
	@echo "    source unless a prebuilt wheel is found: about 7 minutes on 2 cores the first time,"
	@echo "    with no output meanwhile (pip caches the wheel). LLAMA_WHEELS=URL skips the compile"
	@echo "    where that index is reachable (README, Set-up)."
	$(PIP) install --progress-bar off $(WHEELS) -e '.[dev]'
	touch $@

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
