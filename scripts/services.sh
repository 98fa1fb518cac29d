#!/usr/bin/env bash
# System pieces the tests need that pip cannot install: Debian's Chromium and a CJK
# font for the browser tests, and a running PostgreSQL (these machines ship one; start it if down).
set -euo pipefail

if ! command -v chromium >/dev/null 2>&1; then
  echo "==> installing Debian's chromium (browser tests)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi
if ! fc-list :lang=zh 2>/dev/null | grep -q .; then
  # without a CJK font Chromium draws the Chinese sessions' text as empty boxes
  echo "==> installing a CJK font (Chinese text in the browser tests and screenshots)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq fonts-wqy-microhei >/dev/null || { apt-get update -qq && apt-get install -y -qq fonts-wqy-microhei >/dev/null; }
fi

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "==> starting PostgreSQL"
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432 >/dev/null || { echo "PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }
