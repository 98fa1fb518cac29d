# syntax=docker/dockerfile:1
# Gateway image: websockets server + the supervisor board / counselor pages.
#
# Build from the repository root:  docker build -f docker/gateway.Dockerfile .
# ALLIANCE_GATEWAY_SECRET must be supplied at run time (never baked in); the
# gateway refuses to start without a secret of at least 16 bytes.
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
# postgres: history and validation records come from the store.
# DL3013 (pin versions) does not apply: the wheel is this project, its deps are ranged in pyproject.toml.
# hadolint ignore=DL3013
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install "$(ls /wheels/alliance_monitor-*.whl)[postgres]"

# ---- runtime: the venv only (pages ship inside the wheel)
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    ALLIANCE_GATEWAY_PORT=8765 \
    ALLIANCE_STATE_DIR=/home/alliance/state \
    ALLIANCE_LOG_FORMAT=json
RUN groupadd --system --gid 10001 alliance \
 && useradd --system --uid 10001 --gid alliance --home-dir /home/alliance --create-home alliance
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
WORKDIR /home/alliance
RUN alliance-monitor gateway --help >/dev/null
EXPOSE 8765
# GET /healthz on the gateway's own port (slim has no curl: use the stdlib).
# urlopen raises on a non-2xx answer or no answer, so the exit code is the verdict.
# with --tls-cert the probe speaks https to loopback (the certificate names the public host, not 127.0.0.1)
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, ssl, urllib.request; tls = bool(os.environ.get('ALLIANCE_GATEWAY_TLS_CERT')); urllib.request.urlopen('%s://127.0.0.1:%s/healthz' % ('https' if tls else 'http', os.environ.get('ALLIANCE_GATEWAY_PORT', '8765')), timeout=4, context=ssl._create_unverified_context() if tls else None)"]
ENTRYPOINT ["alliance-monitor"]
# Bind all interfaces inside the container; publish/port-map outside.
CMD ["gateway", "--host", "0.0.0.0", "--port", "8765"]
