"""Chinese person names from jieba's segmentation and its dictionary's ``nr`` tags.

Why jieba: its dictionary and HMM ship inside the package (nothing downloaded at
run time) and its ``nr`` (person name) tag finds most common full names
(张伟, 王芳老师) and nicknames (小红). It misses rare names and names written
in a way its dictionary has not seen, and it can tag an ordinary word as a name.

The dictionary is built in memory on first use (about a second): jieba's own
cache file would live in a shared temporary directory, where another local user
could plant a file that the process then unmarshals.
"""

from __future__ import annotations

__layer__ = "core"

import logging
import re
import threading
from typing import Any, Iterator

_lock = threading.Lock()
_tagger: Any = None  # jieba.posseg.POSTokenizer (jieba is untyped)

#: tags jieba gives person names (nr: Chinese, nrfg / nrt: other or transliterated)
NAME_TAGS = frozenset({"nr", "nrfg", "nrt"})
#: a single-character surname becomes a name with one of these before it (小李, 老王)
_FAMILIAR = ("小", "老", "阿")
#: words jieba tags ``nr`` that are not names in the chats this product sees
NOT_NAMES = frozenset({"老师", "医生", "同学", "朋友", "妈妈", "爸爸", "宝宝", "明白", "小时", "小于", "小白", "老大"})
CJK = re.compile(r"[\u4e00-\u9fff]")


def _posseg() -> Any:
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
#: jieba's dictionary tags many ordinary words ``nr`` (明白, 阳光, 原谅, 银行卡). A name-tagged
#: dictionary word this frequent is read as the word; names jieba did not know (most
#: people's names) come from its HMM and have no dictionary frequency at all.
COMMON_FREQ = 100
SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
    "姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施"
    "文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛"
    "曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席"
    "卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩佘池查麻苑迟邝")
COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "长孙", "宇文",
                     "司徒", "夏侯", "端木")


def _freq(word: str) -> int:
    return _posseg().tokenizer.FREQ.get(word, 0) or 0


def _starts_like_a_name(word: str) -> bool:
    return word[0] in SURNAMES or word.startswith(COMPOUND_SURNAMES) or (len(word) == 2 and word.startswith(_FAMILIAR))


def _close(text: str, run: tuple[int, int] | None, surname_only: bool, out: list[tuple[int, int]]) -> None:
    """Keep a finished run unless it is a compound surname alone (欧阳 is also a word and a place)."""
    if run and not (surname_only and text[run[0]:run[1]] in COMPOUND_SURNAMES):
        out.append(run)


def _tagged(text: str) -> list[tuple[str, str]]:
    """(word, tag) pairs: jieba's segmentation (with its HMM for unknown words) and each
    word's dictionary tag; a word the dictionary does not have is tagged ``new``.

    Why not ``jieba.posseg.cut``: its joint segmentation and tagging HMM costs about
    2 ms per short turn, this about 0.2 ms, and for names it decides the same way:
    most people's names are words the dictionary does not have.
    """
    tagger = _posseg()
    tags = tagger.word_tag_tab
    return [(w, tags.get(w) or ("new" if has_cjk(w) else "x")) for w in tagger.tokenizer.cut(text, HMM=True)]


def _confirmed(word: str) -> bool:
    """An unknown word is a name when jieba's tagger, run on the word alone, tags all of it a name."""
    return all(p.flag in NAME_TAGS for p in _posseg().cut(word))


#: words after which a surname starts a person's name (我室友黄婷婷, 我爸爸吴国平, 我和何欣怡)
_CONTEXT = re.compile(
    "(?:室友|同学|同事|同桌|朋友|男朋友|女朋友|男友|女友|前男友|前女友|老公|老婆|丈夫|妻子|爸爸|妈妈|哥哥|姐姐|弟弟|"
    "妹妹|儿子|女儿|老板|领导|班主任|邻居|和|跟|与|告诉了|告诉)"
    "(" + "|".join(COMPOUND_SURNAMES) + "|[" + "".join(sorted(SURNAMES)) + "])")
#: a surname and the character after it that make an ordinary word this frequent are that word (高中, 周末)
CONTEXT_WORD_FREQ = 300
#: single-character tags that end a given name: verbs, adverbs, prepositions, conjunctions,
#: particles, pronouns, numerals, measure words, directions (刘强|吵了, 司马静|说)
_ENDS_NAME = frozenset({"v", "d", "p", "c", "u", "uj", "ul", "uz", "ug", "uv", "ud", "r", "y", "m", "q", "f", "zg"})
_CJK_CHAR = re.compile(r"[\u4e00-\u9fff]")
#: characters tagged as function words that are common in given names (陈浩然, 李大为, 王可)
_NAME_CHARS = frozenset("然之如若以而亦乃其为可")
#: words that follow a name and that jieba's HMM may glue to it (司马静说): trimmed off a name
_GLUE = frozenset("说是也都就在和跟对把被让给问叫又还却总很真太要会能的了着过")


def _given_name_end(text: str, start: int) -> int:
    """End of the given name that starts at ``start``: one or two characters, fewer where the
    second is a function word or begins an ordinary word with the one after it."""
    tags = _posseg().word_tag_tab
    end = start
    for i in range(start, min(start + 2, len(text))):
        c = text[i]
        if not _CJK_CHAR.match(c) or (i > start and (c in _GLUE or (tags.get(c) in _ENDS_NAME and c not in _NAME_CHARS)
                                                     or _freq(text[i:i + 2]) >= CONTEXT_WORD_FREQ)):
            break
        if i == start and (tags.get(c) in _ENDS_NAME or _freq(text[i:i + 2]) >= CONTEXT_WORD_FREQ):
            return start  # 王|老师: the title, not a given name
        end = i + 1
    return end


def find_context_names(text: str) -> Iterator[tuple[int, int]]:
    """Names after a relation word or 和/跟 that jieba splits (黄 + 婷婷, 吴国 + 平)."""
    for m in _CONTEXT.finditer(text):
        surname_end = m.end(1)
        if _freq(text[m.start(1):surname_end + 1]) >= CONTEXT_WORD_FREQ:
            continue  # 和高中同学: 高中 is a word, not 高 and a given name
        end = _given_name_end(text, surname_end)
        if end > surname_end:
            yield m.start(1), end


def find_names(text: str) -> Iterator[tuple[int, int]]:
    """Spans of names: a surname and its given name (刘 + 秀英, 陈 + 浩然), an unknown word
    the tagger reads as a name (张伟), a familiar form (小红, 小李)."""
    pairs = _tagged(text)
    nxt = pairs[1:] + [("", "x")]
    pos: int = 0
    run: tuple[int, int] | None = None
    out: list[tuple[int, int]] = []
    surname_only = False  # the run so far is a surname waiting for its given name
    for i, (word, flag) in enumerate(pairs):
        start, end = pos, pos + len(word)
        pos = end
        tagged = flag in NAME_TAGS and has_cjk(word) and word not in NOT_NAMES
        if run is None and (word in COMPOUND_SURNAMES or (word in SURNAMES and (tagged or nxt[i][1] in NAME_TAGS))):
            if len(word) == 1 and i and pairs[i - 1][0].endswith(_FAMILIAR):
                start -= 1  # 小李: the familiar prefix belongs to the name
            run, surname_only = (start, end), True
            continue
        if run is None and len(word) == 2 and word[0] in _FAMILIAR and word[1] in SURNAMES and word not in NOT_NAMES:
            out.append((start, end))  # 小张, 老李: a familiar form jieba keeps as one word
            continue
        new_name = flag == "new" and 2 <= len(word) <= 4 and _starts_like_a_name(word) and _confirmed(word)
        if (tagged and len(word) > 1 and (surname_only or (_freq(word) < COMMON_FREQ and _starts_like_a_name(word)))) \
                or new_name:
            if run is None and new_name and word[0] in SURNAMES and i and pairs[i - 1][0].endswith(_FAMILIAR):
                start -= 1  # 小 + 李说: jieba glued the next character to the surname
            run, surname_only = ((run[0], end) if run else (start, end)), False
            continue
        if surname_only and run is not None and 1 <= len(word) <= 2 and has_cjk(word) and flag.startswith(_GIVEN_TAGS) \
                and word not in NOT_NAMES:
            run, surname_only = (run[0], end), False  # a surname and a given name jieba did not know
            continue
        _close(text, run, surname_only, out)
        run, surname_only = None, False
    _close(text, run, surname_only, out)
    for start, end in out:
        if end - start >= 2:  # a lone surname character is too often something else
            yield start, _reshaped_end(text, start, end)


def _reshaped_end(text: str, start: int, end: int) -> int:
    """Where a surname-led name ends: jieba's HMM guesses the boundary for names it does not
    know and can take the next word's first character (司马|静说) or leave the given name's
    last one out (宋雨|萱); the given name is read again from the surname on."""
    surname = next((c for c in COMPOUND_SURNAMES if text.startswith(c, start)), text[start])
    if surname not in COMPOUND_SURNAMES and surname not in SURNAMES:
        return end  # 小红, 小李: no surname first
    given_end = _given_name_end(text, start + len(surname))
    if given_end <= start + len(surname):
        return end
    if given_end < end and not all(c in _GLUE for c in text[given_end:end]):
        return end  # trim only a word that glues to names, never part of a given name
    return given_end
