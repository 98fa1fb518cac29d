"""A tiny random-weight model of the demo model's architecture, built at test time.

Tests whose property does not depend on what the model *knows* — the same requests give
the same scores, a killed worker loses nothing, a re-run scores nothing twice — run the
real engine code (transformers or vLLM) on this model instead of the 135M demo model:
the same tokenizer, chat template and Llama architecture, 2 layers of width 128 instead of
30 of width 576, so a phase scores in a fraction of the time. Its scores carry no signal
at all; tests that need signal (a trained head passing the gate) keep the demo model.

Built once per machine from the converted demo model's tokenizer (a fixed seed, so the
weights are the same every time) into the model cache beside it, under a lock, so
parallel test workers never build it twice or read it half-written.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
from pathlib import Path

from scoring.models import MARKER, ModelRef, pull_demo, resolve

NAME = "tiny-random-llama"
#: The demo model's architecture, shrunk. Changing it changes the directory (hash in the name).
CONFIG = {
    "hidden_size": 128,
    "intermediate_size": 256,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 32,  # vLLM's CPU attention takes head sizes from 32 up
    "max_position_embeddings": 8192,
}
SEED = 1234


def tiny_model() -> ModelRef:
    """The tiny model's directory (built on first use, then reused)."""
    demo = pull_demo(progress=False)
    tag = hashlib.sha256(json.dumps([CONFIG, SEED, demo.revision], sort_keys=True).encode()).hexdigest()[:10]
    out = demo.path.parent / f"{NAME}-{tag}"
    if (out / MARKER).exists():
        return resolve(out)
    lock = demo.path.parent / f".{NAME}.lock"
    with lock.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            if not (out / MARKER).exists():
                _build(demo.path, out, tag)
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
    return resolve(out)


def _build(demo_dir: Path, out: Path, tag: str) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    cfg = AutoConfig.from_pretrained(demo_dir)
    for key, value in CONFIG.items():
        setattr(cfg, key, value)
    cfg._name_or_path = NAME
    torch.manual_seed(SEED)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    model.save_pretrained(tmp)
    AutoTokenizer.from_pretrained(demo_dir).save_pretrained(tmp)
    template = demo_dir / "chat_template.jinja"
    if template.exists() and not (tmp / template.name).exists():
        shutil.copy(template, tmp / template.name)
    (tmp / MARKER).write_text(json.dumps({"name": NAME, "revision": f"random-{tag}", "source": "tests/tiny_model.py"}))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
