"""``train --method lora``: supervised fine-tuning on the client's item answers (peft LoRA on transformers).

As in the published fine-tune: the training example is exactly the scoring
prompt of one item (``scoring.prompts.render_item``: transcript, instruction,
item, options) and the target is the client's answer ("1".."5"), followed by
the client's reason when the labels carry ``rationales``. The loss is on the
target tokens only. The scorer later reads the option probabilities at that
same answer position, so what is trained is what is read.

Checkpoints (adapter, optimizer, step) go to ``OUT/checkpoints/step-N`` every
``checkpoint_every`` steps; ``resume=True`` continues from the newest one with
the same example order. The result is merged into the base weights and saved as
a full model directory (``OUT/model``) that both engines load like any local
model, with a new identity (base revision + hash of the adapter and the data).
"""

from __future__ import annotations

__layer__ = "shell"

import hashlib
import json
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from streams.contracts import ITEM_IDS

from .dataset import LabelledSession
from .errors import TrainingError

CHECKPOINTS = "checkpoints"
MERGED = "model"
ADAPTER = "adapter"
KEEP_CHECKPOINTS = 2


@dataclass(frozen=True)
class LoraSettings:
    max_steps: int = 100
    #: examples (session, item) per optimizer step (gradient accumulation, one example per forward pass).
    batch_size: int = 4
    learning_rate: float = 5e-4
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    checkpoint_every: int = 25
    seed: int = 0
    #: "auto": cuda when available, else cpu.
    device: str = "auto"

    def __post_init__(self) -> None:
        for name in ("max_steps", "batch_size", "rank", "alpha", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise TrainingError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise TrainingError(f"learning-rate must be positive, got {self.learning_rate}")


def pick_device(requested: str = "auto") -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise TrainingError("--device cuda requested but no CUDA device is available")
    return requested


@dataclass(frozen=True)
class Example:
    prompt_ids: tuple[int, ...]
    target_ids: tuple[int, ...]


def build_examples(tokenizer, sessions: Sequence[LabelledSession]) -> list[Example]:
    """One example per (session, answered item), in session then item order."""
    from scoring.instrument import BY_ID
    from scoring.prompts import render_item

    eos = tokenizer.eos_token or ""
    out: list[Example] = []
    for s in sessions:
        for q in ITEM_IDS:
            if q not in s.answers:
                continue
            prompt = render_item(tokenizer, s.turns, BY_ID[q], s.lang)
            answer = str(int(round(s.answers[q])))
            reason = (s.rationales or {}).get(q)
            target = f"{answer}\n{reason}{eos}" if reason else answer
            out.append(Example(tuple(tokenizer.encode(prompt, add_special_tokens=False)),
                               tuple(tokenizer.encode(target, add_special_tokens=False))))
    if not out:
        raise TrainingError("no labelled items to train on")
    return out


def example_order(n: int, steps: int, batch_size: int, seed: int) -> list[int]:
    """Indices for every step, epoch after epoch, each epoch a seeded shuffle (resume-stable)."""
    need = steps * batch_size
    order: list[int] = []
    epoch = 0
    while len(order) < need:
        idx = list(range(n))
        random.Random(f"{seed}-{epoch}").shuffle(idx)
        order += idx
        epoch += 1
    return order[:need]


def _latest_checkpoint(out: Path) -> Path | None:
    root = out / CHECKPOINTS
    if not root.is_dir():
        return None
    steps = sorted((int(p.name.split("-")[1]), p) for p in root.glob("step-*") if (p / "state.json").is_file())
    return steps[-1][1] if steps else None


@dataclass(frozen=True)
class LoraResult:
    model_dir: Path
    adapter_dir: Path
    name: str
    revision: str
    steps: int
    resumed_from: int
    examples: int
    final_loss: float | None
    seconds: float
    device: str


def train_lora(base_path: Path, base_name: str, base_revision: str, sessions: Sequence[LabelledSession],
               out: Path, settings: LoraSettings, *, data_fingerprint: str, resume: bool = False,
               progress: bool = True, log: Callable[[str], None] = lambda m: None) -> LoraResult:
    import torch
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import load_file
    from tqdm import tqdm
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from scoring.models import MARKER, offline_env

    offline_env()
    started = time.perf_counter()
    device = pick_device(settings.device)
    torch.manual_seed(settings.seed)
    if device == "cpu":
        from scoring.engines.hf_engine import cpu_threads

        torch.set_num_threads(cpu_threads())
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    dtype = torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    model = AutoModelForCausalLM.from_pretrained(base_path, dtype=dtype).to(device)
    config = LoraConfig(r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                        target_modules=list(settings.target_modules), task_type="CAUSAL_LM")
    model = get_peft_model(model, config)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=settings.learning_rate)
    examples = build_examples(tokenizer, sessions)
    order = example_order(len(examples), settings.max_steps, settings.batch_size, settings.seed)

    out.mkdir(parents=True, exist_ok=True)
    step = 0
    if resume:
        ckpt = _latest_checkpoint(out)
        if ckpt is not None:
            state = json.loads((ckpt / "state.json").read_text())
            if state.get("data_fingerprint") != data_fingerprint:
                raise TrainingError(f"checkpoint {ckpt} was trained on other data ({state.get('data_fingerprint')}); "
                                    f"use a new --out or drop --resume")
            set_peft_model_state_dict(model, load_file(str(ckpt / "adapter_model.safetensors")))
            optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", map_location=device))
            step = int(state["step"])
            log(f"resumed from {ckpt} (step {step})")
    resumed_from = step
    model.train()
    bar = tqdm(total=settings.max_steps, initial=step, desc="LoRA fine-tuning", unit="step", disable=not progress)
    loss_value: float | None = None
    while step < settings.max_steps:
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for i in order[step * settings.batch_size:(step + 1) * settings.batch_size]:
            ex = examples[i]
            ids = torch.tensor([list(ex.prompt_ids) + list(ex.target_ids)], device=device)
            labels = ids.clone()
            labels[0, :len(ex.prompt_ids)] = -100  # loss on the answer (and reason) only
            loss = model(input_ids=ids, labels=labels).loss / settings.batch_size
            loss.backward()
            total += float(loss.detach())
        optimizer.step()
        step += 1
        loss_value = total
        bar.update()
        bar.set_postfix(loss=f"{total:.3f}")
        if step % settings.checkpoint_every == 0 or step == settings.max_steps:
            _save_checkpoint(out, step, model, optimizer, data_fingerprint, torch)
    bar.close()

    adapter_dir = out / ADAPTER
    model.save_pretrained(adapter_dir)
    h = hashlib.sha256()
    for k, v in sorted(get_peft_model_state_dict(model).items()):
        h.update(k.encode())
        h.update(v.detach().float().cpu().numpy().tobytes())
    h.update(data_fingerprint.encode())
    revision = f"{base_revision}+lora-{h.hexdigest()[:12]}"
    merged = model.merge_and_unload()
    model_dir = out / MERGED
    tmp = out / (MERGED + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    merged.to(torch.float32).save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / MARKER).write_text(json.dumps({"name": base_name, "revision": revision, "source": "train --method lora",
                                          "base_revision": base_revision, "data_fingerprint": data_fingerprint}))
    if model_dir.exists():
        shutil.rmtree(model_dir)
    tmp.rename(model_dir)
    return LoraResult(model_dir, adapter_dir, base_name, revision, step, resumed_from, len(examples), loss_value,
                      time.perf_counter() - started, device)


def _save_checkpoint(out: Path, step: int, model, optimizer, data_fingerprint: str, torch) -> None:
    root = out / CHECKPOINTS
    d = root / f"step-{step}"
    tmp = root / f".step-{step}.partial"
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(tmp)
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    (tmp / "state.json").write_text(json.dumps({"step": step, "data_fingerprint": data_fingerprint}))
    if d.exists():
        shutil.rmtree(d)
    tmp.rename(d)
    olds = sorted((int(p.name.split("-")[1]), p) for p in root.glob("step-*"))
    for _, p in olds[:-KEEP_CHECKPOINTS]:
        shutil.rmtree(p, ignore_errors=True)
