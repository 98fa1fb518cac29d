# syntax=docker/dockerfile:1
# Stream processor image (Faust worker). The same image also runs the sink
# (`alliance-monitor sink`), the HTTP ingest endpoint (`alliance-monitor ingest`),
# the migrations job (`alliance-monitor db upgrade`)
# and the topic-init job (`alliance-monitor topics --create`) - see compose.yaml.
#
# Build from the repository root:  docker build -f docker/processor.Dockerfile .
# No model extras: the processor never loads a model. No secrets are baked in;
# every setting comes from the environment at run time (docs/settings.md).
# tests/docker/test_images.py installs exactly what this file installs into a
# fresh venv, lays out its build context, and runs its commands.

# ---- build: the project's wheel, then one install of it with its extras
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# The whole build context (trimmed by the root .dockerignore, see docker/dockerignore.txt): which
# packages and data files ship is decided once, by pyproject.toml's package list, never by a COPY
# list here that can miss a package.
COPY . ./
# postgres: the store driver (sink, migrations, validation records).
# DL3013 (pin versions) does not apply: the wheel is this project, its deps are ranged in pyproject.toml.
# hadolint ignore=DL3013
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install "$(ls /wheels/alliance_monitor-*.whl)[postgres]"

# ---- runtime: the venv only (the migrations ship inside the wheel)
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    ALLIANCE_STATE_DIR=/home/alliance/state \
    ALLIANCE_LOG_FORMAT=json \
    ALLIANCE_HEALTH_PORT=8080
RUN groupadd --system --gid 10001 alliance \
 && useradd --system --uid 10001 --gid alliance --home-dir /home/alliance --create-home alliance
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
WORKDIR /home/alliance
# Fail the build (not the deployment) if a command this image is used for is missing.
RUN alliance-monitor process --help >/dev/null \
 && alliance-monitor sink --help >/dev/null \
 && alliance-monitor ingest --help >/dev/null \
 && alliance-monitor db upgrade --help >/dev/null \
 && alliance-monitor topics --help >/dev/null
# GET /healthz on ALLIANCE_HEALTH_PORT: 200 once ready, 503 while starting or draining after SIGTERM.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('ALLIANCE_HEALTH_PORT', '8080'), timeout=4)"]
# (ingest answers /healthz on its own port; compose overrides the check for it and the jobs)
EXPOSE 8080
ENTRYPOINT ["alliance-monitor"]
CMD ["process"]
