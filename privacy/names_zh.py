"""Chinese person names by part-of-speech tagging (jieba's ``nr`` tags).

Why jieba: its dictionary and HMM ship inside the package (nothing downloaded at
run time) and its ``nr`` (person name) tag finds most common full names
(张伟, 王芳老师) and nicknames (小红). It misses rare names and names written
in a way its dictionary has not seen, and it can tag an ordinary word as a name.

The dictionary is built in memory on first use (about a second): jieba's own
cache file would live in a shared temporary directory, where another local user
could plant a file that the process then unmarshals.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Iterator

_lock = threading.Lock()
_tagger = None

#: tags jieba gives person names (nr: Chinese, nrfg / nrt: other or transliterated)
NAME_TAGS = frozenset({"nr", "nrfg", "nrt"})
#: a single-character surname becomes a name with one of these before it (小李, 老王)
_FAMILIAR = ("小", "老", "阿")
#: words jieba tags ``nr`` that are not names in the chats this product sees
NOT_NAMES = frozenset({"老师", "医生", "同学", "朋友", "妈妈", "爸爸", "宝宝", "明白", "小时"})
CJK = re.compile(r"[\u4e00-\u9fff]")


def _posseg():
    """The part-of-speech tagger, built once per process without touching the disk cache."""
    global _tagger
    with _lock:
        if _tagger is None:
            import jieba
            import jieba.posseg

            jieba.setLogLevel(logging.WARNING)
            tokenizer = jieba.Tokenizer()
            tokenizer.FREQ, tokenizer.total = tokenizer.gen_pfdict(tokenizer.get_dict_file())
            tokenizer.initialized = True
            _tagger = jieba.posseg.POSTokenizer(tokenizer)
        return _tagger


def has_cjk(text: str) -> bool:
    return CJK.search(text) is not None


#: tags of a word that can be the given name after a lone surname (陈 + 浩然): nouns, adjectives
_GIVEN_TAGS = ("n", "a", "nr", "nz", "ng", "ag")


def find_names(text: str) -> Iterator[tuple[int, int]]:
    """Spans of runs of name-tagged words (刘 + 秀英 is one name; 陈 + 浩然 too)."""
    pairs = [(p.word, p.flag) for p in _posseg().cut(text)]
    pos, run, out = 0, None, []
    for i, (word, flag) in enumerate(pairs):
        start, end = pos, pos + len(word)
        pos = end
        if flag in NAME_TAGS and word not in NOT_NAMES and has_cjk(word):
            if run is None and len(word) == 1 and i and pairs[i - 1][0].endswith(_FAMILIAR):
                start -= 1  # 小李: the familiar prefix belongs to the name
            run = (run[0], end) if run else (start, end)
            continue
        if run and run[1] - run[0] == 1 and 1 <= len(word) <= 2 and has_cjk(word) \
                and flag.startswith(_GIVEN_TAGS) and word not in NOT_NAMES:
            run = (run[0], end)  # a lone surname and its given name, which jieba did not know
            continue
        if run:
            out.append(run)
        run = None
    if run:
        out.append(run)
    for start, end in out:
        if end - start >= 2:  # a lone surname character is too often something else
            yield start, end
