"""The ``lexical`` feature source: TF-IDF of word 1–2-grams and character 2–4-grams (scikit-learn).

Why characters too: Chinese has no spaces, so the word analyser sees whole clauses; character
2–4-grams read it without a segmenter (and catch inflections in English). Why TF-IDF with a
ridge: on a few hundred rated sessions it is the read-out that costs nothing to extract and
still carries the client's and counselor's words (issue measurements in docs/training.md).

The vocabulary and the IDF weights are fitted on the training sessions only and stored with
the head (:meth:`LexicalVectoriser.state` / :meth:`from_state`), so a held-out or live session
is read with exactly the training vocabulary. Pure: no I/O.
"""

from __future__ import annotations

__layer__ = "core"

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

#: Most n-grams kept per analyser (by corpus frequency): bounds the head's size and the kernel cost.
MAX_WORD_FEATURES = 20000
MAX_CHAR_FEATURES = 30000


def _vectorisers(min_df: int | float) -> tuple[Any, Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    word = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), min_df=min_df, max_features=MAX_WORD_FEATURES,
                           sublinear_tf=True, lowercase=True, dtype=np.float64)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), min_df=min_df, max_features=MAX_CHAR_FEATURES,
                           sublinear_tf=True, lowercase=True, dtype=np.float64)
    return word, char


@dataclass
class LexicalVectoriser:
    """Word and character TF-IDF side by side; each half L2-normalised, the two scaled by 1/√2."""

    word: Any
    char: Any

    @classmethod
    def fit(cls, texts: Sequence[str], *, min_df: int = 2) -> LexicalVectoriser:
        """Fit on training texts (an n-gram must occur in ``min_df`` sessions; fewer sessions: 1)."""
        md = min_df if len(texts) >= 10 * min_df else 1
        word, char = _vectorisers(md)
        docs = [t if t.strip() else " " for t in texts]
        try:
            word.fit(docs)
        except ValueError:  # no word survives (e.g. only one-character tokens): keep characters only
            word = None
        char.fit(docs)
        return cls(word, char)

    @property
    def dim(self) -> int:
        return (len(self.word.vocabulary_) if self.word is not None else 0) + len(self.char.vocabulary_)

    def transform(self, texts: Sequence[str]) -> Any:
        """A sparse CSR matrix, one row per text (rows of unit length when the text has n-grams)."""
        from scipy import sparse

        docs = [t if t.strip() else " " for t in texts]
        parts = [self.char.transform(docs)]
        if self.word is not None:
            parts.insert(0, self.word.transform(docs))
        scale = 1.0 / np.sqrt(len(parts))
        return sparse.hstack(parts, format="csr") * scale

    # ---------------------------------------------------------------- stored with the head
    def state(self) -> tuple[dict[str, list[str]], dict[str, np.ndarray]]:
        """(vocabularies in column order, IDF weights) — JSON and npz halves of the artefact."""
        vocab: dict[str, list[str]] = {}
        arrays: dict[str, np.ndarray] = {}
        for name, vec in (("word", self.word), ("char", self.char)):
            if vec is None:
                continue
            terms = sorted(vec.vocabulary_, key=lambda t: int(vec.vocabulary_[t]))
            vocab[name] = terms
            arrays[name] = np.asarray(vec.idf_, dtype=float)
        return vocab, arrays

    @classmethod
    def from_state(cls, vocab: dict[str, list[str]], idf: dict[str, np.ndarray]) -> LexicalVectoriser:
        word, char = _vectorisers(1)
        out: dict[str, Any] = {"word": None, "char": None}
        for name, vec in (("word", word), ("char", char)):
            if name not in vocab:
                continue
            vec.set_params(vocabulary={t: i for i, t in enumerate(vocab[name])}, max_features=None)
            vec.fit([" ".join(vocab[name][:1]) or " "])  # builds the fixed vocabulary; the IDF is set next
            vec.idf_ = np.asarray(idf[name], dtype=float)
            out[name] = vec
        if out["char"] is None:
            raise ValueError("a lexical block needs its character vocabulary")
        return cls(out["word"], out["char"])
