# syntax=docker/dockerfile:1
# Stream processor image (Faust worker). The same image also runs the sink
# (`alliance-monitor sink`), the migrations job (`alliance-monitor db upgrade`)
# and the topic-init job (`alliance-monitor topics --create`) - see compose.yaml.
#
# Build from the repository root:  docker build -f docker/processor.Dockerfile .
# No model extras: the processor never loads a model. No secrets are baked in;
# every setting comes from the environment at run time (docs/deployment.md).

# ---- build: install the project into a venv (kept out of the runtime image's layers)
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY alliance_monitor ./alliance_monitor
COPY streams ./streams
COPY scoring ./scoring
COPY gateway ./gateway
COPY store ./store
COPY migrations ./migrations
# `pip install .` plus the postgres extra (psycopg2) - one resolver run for both.
# DL3013 (pin versions) does not apply: "." is this project, its deps are ranged in pyproject.toml.
# hadolint ignore=DL3013
RUN pip install ".[postgres]"

# ---- runtime
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    ALLIANCE_MIGRATIONS_DIR=/opt/alliance-monitor/migrations \
    ALLIANCE_STATE_DIR=/home/alliance/state
RUN groupadd --system --gid 10001 alliance \
 && useradd --system --uid 10001 --gid alliance --home-dir /home/alliance --create-home alliance
COPY --from=build /opt/venv /opt/venv
# Alembic scripts: found via ALLIANCE_MIGRATIONS_DIR whether or not the wheel ships them.
COPY --from=build /src/migrations /opt/alliance-monitor/migrations
USER 10001:10001
WORKDIR /home/alliance
# Fail the build (not the deployment) if a command this image is used for is missing.
RUN alliance-monitor process --help >/dev/null \
 && alliance-monitor sink --help >/dev/null \
 && alliance-monitor db upgrade --help >/dev/null \
 && alliance-monitor topics --help >/dev/null
# No HEALTHCHECK: the processor serves no port; a crashed worker exits and the
# orchestrator restarts it (compose: restart: unless-stopped). Kafka keeps the
# uncommitted offsets, so a restart re-reads and nothing is lost.
HEALTHCHECK NONE
ENTRYPOINT ["alliance-monitor"]
CMD ["process"]
