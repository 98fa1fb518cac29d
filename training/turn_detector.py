"""A turn-level detector trained on a site's codes: feature assembly, session split, fit and predict.

Why: the word rules behind feedback cards and rupture notices miss cues a site's coders
see (issue 23: reflections recall .24, advice .13). A detector that learns from the codes
the site already records (the coded-turn file, the /code page) can find them; it then has
to pass the same turn-level gate as the rules (``eval-turns --detector``) before its
notices reach a counselor. Per code: word 1-2-grams and character 1-3-grams of the turn,
word 1-2-grams of the previous turn (its context), TF-IDF, a class-weighted logistic
regression (scikit-learn). Sessions are split whole: never a session in both training and
held out. Pure: turns in, fitted models and predictions out; files are
``training/turn_detector_files.py``.

Feature kinds (``train-turns --features``): ``lexical`` (the n-grams above), ``hidden`` (the scoring
model's middle-layer states of the turn read after its previous turn, pooled over the turn's own
tokens: ``training/turn_hidden.py``), ``both`` (the two blocks side by side in one regression, the
hidden block standardised and shrunk to unit length so neither block drowns the other). A
``hidden``/``both`` model carries the scoring model's identity: its states mean nothing to another model.
"""

from __future__ import annotations

__layer__ = "core"

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from validation.detectors import DETECTORS, Detector
from validation.turn_agreement import CLIENT_CODES

from .errors import TrainingError

#: Separates a turn from its previous turn inside one feature string (never in chat text: a control character).
SEP = "\x1f"
#: Fewer coded sessions than this cannot give a held-out side with an interval over sessions.
MIN_SESSIONS = 4
#: Rule detectors a trained detector can stand in for (those that read single turns).
PARENTS: tuple[str, ...] = ("counselor-words", "rupture-markers")
#: What a detector reads (``train-turns --features``).
FEATURE_KINDS: tuple[str, ...] = ("lexical", "hidden", "both")


@dataclass(frozen=True)
class LabelledTurn:
    """One coded turn with its text, its previous turn's text ('' for none) and its codes (coders' mean, 0..1)."""

    session_id: str
    turn_id: int
    speaker: str
    text: str
    previous: str
    codes: Mapping[str, float]


def labelled_turns(texts: Mapping[tuple[str, int], tuple[str, str]],
                   codes: Mapping[tuple[str, int], Sequence[Mapping[str, float]]]) -> list[LabelledTurn]:
    """Coded turns with their text and previous turn (every coder's codes of a turn averaged); turns without
    text are left out (a detector learns from the text). ``texts``: (speaker, text) by (session, turn)."""
    out = []
    for (sid, tid), per_coder in sorted(codes.items()):
        if (sid, tid) not in texts:
            continue
        speaker, text = texts[(sid, tid)]
        previous = texts.get((sid, tid - 1), ("", ""))[1]
        names = {k for c in per_coder for k in c}
        mean = {k: sum(c[k] for c in per_coder if k in c) / sum(1 for c in per_coder if k in c) for k in names}
        out.append(LabelledTurn(sid, tid, speaker, text, previous, mean))
    return out


def feature_text(text: str, previous: str) -> str:
    """What the vectorizers read: the turn, then its context."""
    return f"{text}{SEP}{previous}"


def current_part(s: str) -> str:
    """The turn itself (a module-level function so a saved model finds it again)."""
    return s.split(SEP, 1)[0].lower()


def previous_part(s: str) -> str:
    """The previous turn (context)."""
    parts = s.split(SEP, 1)
    return parts[1].lower() if len(parts) > 1 else ""


def speaker_of(code: str) -> str:
    """Client codes are coded on client turns, the others on counselor turns."""
    return "client" if code in CLIENT_CODES else "counselor"


def parent_detector(name: str) -> Detector:
    """The rule detector a trained one stands in for; ValueError names the ones that can be."""
    if name not in PARENTS:
        raise TrainingError(f"no trained detector for {name!r} (these can be trained: {', '.join(PARENTS)})")
    return DETECTORS[name]


def choose_codes(parent: Detector, asked: Sequence[str], turns: Sequence[LabelledTurn]) -> tuple[str, ...]:
    """The codes to train: those asked for (each must be the parent's), else the parent's codes the turns carry."""
    for code in asked:
        if code not in parent.codes:
            raise TrainingError(f"{parent.name} has no code {code!r} (its codes: {', '.join(parent.codes)})")
    present = {c for t in turns for c in t.codes}
    codes = tuple(asked) if asked else tuple(c for c in parent.codes if c in present)
    missing = [c for c in codes if c not in present]
    if missing:
        raise TrainingError(f"no coded turn carries {', '.join(missing)}")
    if not codes:
        raise TrainingError(f"no coded turn carries any code of {parent.name} ({', '.join(parent.codes)})")
    return codes


def split_sessions(session_ids: Sequence[str], held_out_share: float, seed: int) -> tuple[frozenset[str], frozenset[str]]:
    """Sessions in training and held out, whole, by a seeded hash order (stable when sessions are added)."""
    sessions = sorted(set(session_ids))
    if len(sessions) < MIN_SESSIONS:
        raise TrainingError(f"{len(sessions)} coded session(s): at least {MIN_SESSIONS} are needed "
                            "(sessions are split whole between training and held out)")
    order = sorted(sessions, key=lambda s: hashlib.sha256(f"{seed}:{s}".encode()).hexdigest())
    n_held = min(len(order) - 2, max(2, round(len(order) * held_out_share)))
    return frozenset(order[n_held:]), frozenset(order[:n_held])


def data_hash(turns: Sequence[LabelledTurn]) -> str:
    """A fingerprint of the coded data (texts and codes), for the lineage."""
    h = hashlib.sha256()
    for t in sorted(turns, key=lambda t: (t.session_id, t.turn_id)):
        h.update(json.dumps([t.session_id, t.turn_id, t.speaker, t.text, t.previous, sorted(t.codes.items())],
                            ensure_ascii=False).encode())
    return h.hexdigest()[:16]


def _lexical_union() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_union

    return make_union(
        TfidfVectorizer(analyzer="word", ngram_range=(1, 2), min_df=2, sublinear_tf=True, preprocessor=current_part),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2, sublinear_tf=True,
                        preprocessor=current_part),
        TfidfVectorizer(analyzer="word", ngram_range=(1, 2), min_df=2, sublinear_tf=True, preprocessor=previous_part))


def _classifier() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000, class_weight="balanced", C=4.0)


def _pipeline() -> Any:
    from sklearn.pipeline import make_pipeline

    return make_pipeline(_lexical_union(), _classifier())


@dataclass(frozen=True)
class HiddenModel:
    """Which scoring model's states a ``hidden``/``both`` detector reads (the pooling salt names the layer)."""

    name: str
    revision: str
    salt: str

    @property
    def key(self) -> str:
        return f"{self.name}@{self.revision}"


class HiddenTurnModel:
    """One code's classifier on the hidden block (``hidden``) or the hidden and lexical blocks (``both``).

    Why one regression over both blocks: the hidden block is standardised and divided by the square root of
    its width, so a turn's hidden row has about unit length, as each TF-IDF block's row has; the penalty then
    treats the blocks alike and no per-block weighting has to be tuned."""

    def __init__(self, kind: str, model: HiddenModel):
        if kind not in ("hidden", "both"):
            raise TrainingError(f"a hidden-state model reads hidden or both, not {kind!r}")
        self.kind, self.model = kind, model
        self.lexical: Any = _lexical_union() if kind == "both" else None
        self.classifier: Any = _classifier()
        self.mean = np.zeros(0)
        self.scale = np.ones(0)

    def _x(self, texts: Sequence[str], hidden: np.ndarray) -> Any:
        z = (np.asarray(hidden, dtype=float) - self.mean) / self.scale / np.sqrt(max(1, self.mean.size))
        if self.lexical is None:
            return z
        from scipy.sparse import csr_matrix, hstack

        return hstack([csr_matrix(z), self.lexical.transform(texts)]).tocsr()

    def fit(self, texts: Sequence[str], hidden: np.ndarray, y: Sequence[int]) -> HiddenTurnModel:
        h = np.asarray(hidden, dtype=float)
        self.mean = h.mean(axis=0)
        self.scale = np.where(h.std(axis=0) > 1e-8, h.std(axis=0), 1.0)
        if self.lexical is not None:
            self.lexical.fit(texts)
        self.classifier.fit(self._x(texts, h), list(y))
        return self

    def predict(self, texts: Sequence[str], hidden: np.ndarray) -> np.ndarray:
        return np.asarray(self.classifier.predict(self._x(texts, np.atleast_2d(hidden))))


def rows_for(code: str, turns: Sequence[LabelledTurn]) -> tuple[list[str], list[int]]:
    """Feature strings and yes/no labels of the turns coded for ``code`` (its speaker's turns)."""
    rows = [t for t in turns if t.speaker == speaker_of(code) and code in t.codes]
    return [feature_text(t.text, t.previous) for t in rows], [int(t.codes[code] >= 0.5) for t in rows]


def fit(codes: Sequence[str], train: Sequence[LabelledTurn], kind: str = "lexical", *,
        hidden: Mapping[tuple[str, int], np.ndarray] | None = None, model: HiddenModel | None = None) -> dict[str, Any]:
    """One fitted model per code; TrainingError when a code's training turns do not have both yes and no.

    ``kind`` ``hidden``/``both`` needs ``hidden`` (each training turn's pooled states, by (session, turn)) and
    ``model`` (whose states they are)."""
    if kind not in FEATURE_KINDS:
        raise TrainingError(f"unknown feature kind {kind!r} (expected one of {', '.join(FEATURE_KINDS)})")
    if kind != "lexical" and (hidden is None or model is None):
        raise TrainingError(f"--features {kind} needs the scoring model's hidden states")
    models: dict[str, Any] = {}
    for code in codes:
        x, y = rows_for(code, train)
        if len(set(y)) < 2 or min(y.count(0), y.count(1)) < 2:
            raise TrainingError(f"{code}: the training sessions have {y.count(1)} yes and {y.count(0)} no turn(s); "
                                "at least 2 of each are needed (code more turns, or leave the code out with --code)")
        if kind == "lexical":
            models[code] = _pipeline().fit(x, y)
        else:
            assert hidden is not None and model is not None
            rows = [t for t in train if t.speaker == speaker_of(code) and code in t.codes]
            h = np.stack([hidden[(t.session_id, t.turn_id)] for t in rows])
            models[code] = HiddenTurnModel(kind, model).fit(x, h, y)
    return models


def feature_kind(models: Mapping[str, Any]) -> str:
    """``lexical``, ``hidden`` or ``both``: what a fitted detector reads."""
    kinds = {m.kind if isinstance(m, HiddenTurnModel) else "lexical" for m in models.values()}
    if len(kinds) != 1:
        raise TrainingError(f"a detector's codes read different features ({', '.join(sorted(kinds))})")
    return kinds.pop()


def hidden_model(models: Mapping[str, Any]) -> HiddenModel | None:
    """The scoring model whose hidden states the detector reads (None for a lexical one)."""
    found = {m.model for m in models.values() if isinstance(m, HiddenTurnModel)}
    if len(found) > 1:
        raise TrainingError("a detector's codes read the hidden states of different models")
    return found.pop() if found else None


def predict(models: Mapping[str, Any], text: str, previous: str, speaker: str,
            hidden: np.ndarray | None = None) -> dict[str, bool]:
    """Yes/no per code for one turn of ``speaker`` (codes of the other speaker's turns are no); ``hidden``: the
    turn's pooled states, needed by a ``hidden``/``both`` detector for the codes of this speaker."""
    x = [feature_text(text, previous)]
    out = {}
    for code, model in models.items():
        if speaker != speaker_of(code):
            out[code] = False
        elif isinstance(model, HiddenTurnModel):
            if hidden is None:
                raise TrainingError(f"{code}: this detector reads hidden states, and none were given")
            out[code] = bool(model.predict(x, hidden)[0])
        else:
            out[code] = bool(model.predict(x)[0])
    return out


def trained_detector(parent: Detector, revision: str, codes: Sequence[str]) -> Detector:
    """The trained detector's identity: ``trained.<parent>@<revision>`` (revision: the model file's hash)."""
    return Detector(parent.name, revision, tuple(codes), f"trained on a site's codes, standing in for {parent.key}",
                    kind="trained")
