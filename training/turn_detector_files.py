"""Files of a trained turn detector: the artefact out and back in.

The artefact is a directory ``<trained-models>/turn-detectors/<parent>@<revision>/`` with
``model.pkl`` (the fitted per-code models), ``detector.json`` (identity, codes, the model
file's sha256) and ``lineage.json`` (also appended to the trained-models index, so
``models status`` lists it). The revision *is* the model file's hash: a retrained or edited
model is a different detector, with no validation record. Loading checks the hash before
unpickling and refuses a file that does not match. The model file is a pickle: trust an
artefact directory as you trust a model directory. Never logs turn text.

A ``hidden``/``both`` detector's models carry the scoring model's identity (name, revision, layer),
so the hash, and with it the identity, covers them: the same codes learnt from another model's
states are another detector. ``detector.json`` and the lineage name the feature kind and the model.
"""

from __future__ import annotations

__layer__ = "shell"

import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

from validation.detectors import Detector

from . import lineage as lineage_files
from .errors import TrainingError
from .turn_detector import feature_kind, hidden_model, parent_detector, trained_detector

MODEL_FILE = "model.pkl"
DETECTOR_JSON = "detector.json"
SUBDIR = "turn-detectors"


def default_dir(detector: Detector, root: str | Path | None = None) -> Path:
    base = Path(root) if root is not None else lineage_files.trained_root()
    return base / SUBDIR / f"{detector.name}@{detector.version}"


def save(models: dict[str, Any], parent: str, codes: tuple[str, ...], *, out: str | Path | None, data_source: str,
         data_fingerprint: str, train_sessions: frozenset[str], n_held_out: int, params: dict[str, Any],
         root: str | Path | None = None) -> tuple[Detector, Path]:
    """Write the artefact; its identity's revision is the model file's hash (first 12 hex)."""
    blob = pickle.dumps(models, protocol=pickle.HIGHEST_PROTOCOL)
    sha = hashlib.sha256(blob).hexdigest()
    detector = trained_detector(parent_detector(parent), sha[:12], codes)
    d = Path(out) if out is not None else default_dir(detector, root)
    d.mkdir(parents=True, exist_ok=True)
    (d / MODEL_FILE).write_bytes(blob)
    kind, hm = feature_kind(models), hidden_model(models)
    reads = {"features": kind, **({"hidden_model": {"name": hm.name, "revision": hm.revision, "states": hm.salt}}
                                  if hm is not None else {})}
    (d / DETECTOR_JSON).write_text(json.dumps({"identity": detector.key, "parent": parent, "codes": list(codes),
                                               "revision": detector.version, "model_sha256": sha, **reads,
                                               "train_sessions": sorted(train_sessions)}, indent=2))
    rule = parent_detector(parent)
    # a hidden-state detector's base is the scoring model it reads; a lexical one's, the rules it stands in for
    base_name, base_revision = (hm.name, hm.revision) if hm is not None else (f"rules.{rule.name}", rule.version)
    lineage_files.write(lineage_files.Lineage(
        method="turn-detector", identity=detector.key, base_name=base_name, base_revision=base_revision,
        data_fingerprint=data_fingerprint, data_source=data_source, n_train=len(train_sessions), n_eval=n_held_out,
        shared_counselors=0, path=str(d),
        params={**params, "codes": list(codes), "stands_in_for": rule.key, **reads}), d, root)
    return detector, d


def resolve(spec: str, root: str | Path | None = None) -> Path:
    """An artefact directory from ``--detector``: a path, or ``trained.<parent>@<revision>`` in the models dir."""
    p = Path(spec)
    if p.is_dir():
        return p
    if spec.startswith("trained."):
        d = (Path(root) if root is not None else lineage_files.trained_root()) / SUBDIR / spec[len("trained."):]
        if d.is_dir():
            return d
    raise TrainingError(f"no trained detector {spec!r} (give its directory, or trained.NAME@REVISION as "
                        "train-turns printed it)")


def load(path: str | Path) -> tuple[Detector, dict[str, Any], frozenset[str]]:
    """The detector, its models and its training sessions (which an evaluation must leave out); TrainingError if
    the model file is not the one its identity names."""
    d = Path(path)
    try:
        meta = json.loads((d / DETECTOR_JSON).read_text())
        blob = (d / MODEL_FILE).read_bytes()
        parent, codes, revision = str(meta["parent"]), tuple(meta["codes"]), str(meta["revision"])
        trained_on = frozenset(str(s) for s in meta["train_sessions"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise TrainingError(f"{d}: not a trained turn detector ({err.__class__.__name__}: {err})") from None
    sha = hashlib.sha256(blob).hexdigest()
    if sha[:12] != revision or sha != meta.get("model_sha256"):
        raise TrainingError(f"{d / MODEL_FILE} was changed after training (its hash is not the identity's "
                            f"revision {revision}): refused; retrain with train-turns")
    models = pickle.loads(blob)  # hash-checked against the identity above
    if not isinstance(models, dict) or set(models) != set(codes):
        raise TrainingError(f"{d}: the model file does not hold the codes {', '.join(codes)}")
    return trained_detector(parent_detector(parent), revision, codes), models, trained_on
