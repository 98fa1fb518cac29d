#!/usr/bin/env bash
# Rehearse the processor/gateway image build without Docker: copy exactly what
# processor.Dockerfile COPYs into a scratch dir, `pip install ".[postgres]"` into
# a fresh venv (non-editable, like the image), then run the image's commands
# from another directory with the image's ALLIANCE_MIGRATIONS_DIR.
# Optional: CHECK_DB_URL=postgresql+psycopg2://... also runs `db upgrade` there.
# Usage: bash docker/check_install.sh          (about 30 s; needs PyPI)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python="${PYTHON:-python3.11}"

mkdir -p "$work/src"
# COPY lines of the build stage (not --from=), sources only.
grep -E '^COPY ' "$root/docker/processor.Dockerfile" | grep -v -- '--from=' | while read -r _ args; do
  set -- $args
  while [ $# -gt 1 ]; do cp -r "$root/$1" "$work/src/"; shift; done
done
find "$work/src" -name __pycache__ -prune -exec rm -rf {} +

"$python" -m venv "$work/venv"
(cd "$work/src" && "$work/venv/bin/pip" install -q --disable-pip-version-check ".[postgres]" 2>&1 | grep -v "is ignored" || true)

export PATH="$work/venv/bin:$PATH" ALLIANCE_MIGRATIONS_DIR="$work/src/migrations"
cd "$work"
status=0
for cmd in "process" "sink" "db upgrade" "topics --create" "gateway"; do
  if alliance-monitor $cmd --help >/dev/null 2>"$work/err"; then echo "ok    alliance-monitor $cmd"
  else echo "FAIL  alliance-monitor $cmd: $(head -c 300 "$work/err")"; status=1; fi
done
python - <<'PY'
import importlib.util, pathlib
pages = pathlib.Path(importlib.util.find_spec("gateway").submodule_search_locations[0]) / "pages"
print("gateway pages in the installed package:", sorted(p.name for p in pages.glob("*")) if pages.is_dir() else "none")
PY
if [ -n "${CHECK_DB_URL:-}" ]; then
  ALLIANCE_DB_URL="$CHECK_DB_URL" alliance-monitor db upgrade && echo "ok    db upgrade" || { echo "FAIL  db upgrade"; status=1; }
fi
exit $status
