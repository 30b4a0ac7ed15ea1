# articlebot images.
#   CPU (default):  docker build -t articlebot .
#   NVIDIA CUDA:    docker build --target cuda -t articlebot:cuda .
# Both bake in the packaged models, run as a non-root user, keep all state in the /data
# volume and read the Discord token from the environment (DISCORD_TOKEN) only.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG CUDA_DEVEL_IMAGE=nvidia/cuda:12.4.1-devel-ubuntu22.04
ARG CUDA_RUNTIME_IMAGE=nvidia/cuda:12.4.1-runtime-ubuntu22.04
# llama.cpp is compiled for a portable x86-64 baseline, not for the build host's CPU
# (-march=native would make an image that dies with "illegal instruction" on older hosts and
# compiles the AMX path that crashes on Intel AMX hosts, llama.cpp #20824): AVX2, FMA, F16C
# and BMI2 (x86-64-v3: Intel Haswell 2013+, AMD Zen 2017+), no AVX-512, no AMX. For an older
# CPU build with --build-arg LLAMA_CPU_FLAGS="-DGGML_NATIVE=OFF -DGGML_AVX2=OFF -DGGML_FMA=OFF
# -DGGML_F16C=OFF -DGGML_BMI2=OFF" (SSE4.2/AVX only, slower).
ARG LLAMA_CPU_FLAGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"

# ---------------------------------------------------------------------------------------
# CUDA build: llama-cpp-python with -DGGML_CUDA=on, torch with CUDA.
FROM ${CUDA_DEVEL_IMAGE} AS cuda-build
ARG LLAMA_CPU_FLAGS
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv python3-dev \
        build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/venv/bin:$PATH
RUN python3 -m venv /opt/venv && pip install torch==2.13.0
# Link against the driver stub at build time; the real libcuda comes from the host at run time.
# GGML_NATIVE=OFF (in LLAMA_CPU_FLAGS) also builds CUDA code for every GPU generation CUDA 12
# supports (Maxwell to Hopper) instead of the build host's GPU, which the builder lacks anyway.
RUN ln -s /usr/local/cuda/lib64/stubs/libcuda.so /usr/local/cuda/lib64/stubs/libcuda.so.1 \
    && LD_LIBRARY_PATH=/usr/local/cuda/lib64/stubs \
       CMAKE_ARGS="-DGGML_CUDA=on ${LLAMA_CPU_FLAGS}" FORCE_CMAKE=1 \
       pip install --no-binary llama-cpp-python llama-cpp-python==0.3.36
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY config ./config
COPY retrieval ./retrieval
# With the PostgreSQL client (a few MB), so that one image serves one host or several.
# DL3013 mistakes the local project and its extra for an unpinned registry package.
# hadolint ignore=DL3013
RUN pip install ".[postgres]"
COPY docker/bake-models.sh /usr/local/bin/bake-models
RUN bake-models /opt/articlebot/models

# ---------------------------------------------------------------------------------------
# CUDA runtime: run with `docker run --gpus all ...`.
FROM ${CUDA_RUNTIME_IMAGE} AS cuda
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 articlebot \
    && mkdir /data && chown articlebot /data
COPY --from=cuda-build /opt/venv /opt/venv
COPY --from=cuda-build /opt/articlebot /opt/articlebot
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    ARTICLEBOT_DATA_DIR=/data \
    ARTICLEBOT_LLM__MODEL=/opt/articlebot/models/gemma-3-270m-q4_k_m.gguf \
    ARTICLEBOT_LLM__N_GPU_LAYERS=-1 \
    ARTICLEBOT_EMBEDDING__DEVICE=auto
VOLUME ["/data"]
USER 10001
ENTRYPOINT ["articlebot"]
CMD ["run"]

# ---------------------------------------------------------------------------------------
# CPU build: compile llama-cpp-python, install the CPU build of torch, assemble the GGUF.
FROM ${PYTHON_IMAGE} AS cpu-build
ARG LLAMA_CPU_FLAGS
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/venv/bin:$PATH
# The CPU wheel of torch; the default one on PyPI bundles several GB of CUDA libraries.
RUN python -m venv /opt/venv \
    && pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY config ./config
COPY retrieval ./retrieval
# With the PostgreSQL client (a few MB), so that one image serves one host or several.
# DL3013 mistakes the local project and its extra for an unpinned registry package.
# hadolint ignore=DL3013
RUN CMAKE_ARGS="${LLAMA_CPU_FLAGS}" pip install ".[postgres]"
COPY docker/bake-models.sh /usr/local/bin/bake-models
RUN bake-models /opt/articlebot/models

# ---------------------------------------------------------------------------------------
# CPU runtime: the last stage, so the default target.
FROM ${PYTHON_IMAGE} AS cpu
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 articlebot \
    && mkdir /data && chown articlebot /data
COPY --from=cpu-build /opt/venv /opt/venv
COPY --from=cpu-build /opt/articlebot /opt/articlebot
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    ARTICLEBOT_DATA_DIR=/data \
    ARTICLEBOT_LLM__MODEL=/opt/articlebot/models/gemma-3-270m-q4_k_m.gguf
VOLUME ["/data"]
USER 10001
ENTRYPOINT ["articlebot"]
CMD ["run"]

