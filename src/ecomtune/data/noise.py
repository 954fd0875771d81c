"""Character noise for robustness evaluation: a deterministic, perturbed copy of a set of texts.

English (Latin letters): typos — a neighbouring key on a QWERTY keyboard, two characters swapped, a character
dropped or typed twice. Chinese (CJK characters): a visually or phonetically similar character from a small
built-in table of common confusions (`已/己`, `买/卖`, `的/地/得`, ...), otherwise the character is dropped.
`language: multi` picks per text by its script.

The noise of a text depends only on (seed, text), never on its position or the other texts, so the same review
is perturbed the same way in every run.
"""
from __future__ import annotations

import random
import re

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_LETTER = re.compile(r"[A-Za-z]")

_KEYBOARD = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]


def _neighbours() -> dict[str, str]:
    """Keys left/right in the same row and the two nearest keys in the rows above and below."""
    out: dict[str, str] = {}
    for r, row in enumerate(_KEYBOARD):
        for c, key in enumerate(row):
            near = [row[i] for i in (c - 1, c + 1) if 0 <= i < len(row)]
            for other in (r - 1, r + 1):
                if 0 <= other < len(_KEYBOARD):
                    near += [_KEYBOARD[other][i] for i in (c - 1, c, c + 1) if 0 <= i < len(_KEYBOARD[other])]
            out[key] = "".join(dict.fromkeys(near))
    return out


KEY_NEIGHBOURS = _neighbours()

# Groups of characters often confused in writing (similar shape) or typing with pinyin input (same sound);
# every member of a group can become any other member. Chosen for the words of shop reviews.
CONFUSABLE_GROUPS = [
    "已己巳", "未末", "人入", "大太犬", "土士", "日曰", "天夫", "买卖实", "货贷", "价份", "很狠恨", "好妤",
    "的地得", "在再", "做作", "坐座", "到倒道", "快块筷", "慢漫馒", "质贡", "差羞", "错措", "便更", "宜谊宣",
    "服报", "务各", "物勿", "流留", "包抱泡", "装妆庄", "正证政", "品晶", "发友", "送迭", "退褪腿", "换唤焕",
    "用甩", "喜善", "欢次", "满瞒", "意音", "失矢", "望忘旺", "破坡波", "漂飘瓢", "舒抒", "适话", "穿窗",
    "衣农依", "码马吗妈", "尺尽", "味昧", "本木体", "机几", "屏瓶平", "电申由", "池他", "没设投", "有又",
    "还环怀", "是事时", "这那", "个各", "就旧九", "都部", "说税", "看着", "东车", "西酉", "小少", "贵责",
    "赞攒", "给结", "款欺", "真直", "新亲", "旧归", "鞋蛙", "码玛", "号导", "合含", "适活", "手毛", "线钱",
    "书节", "读渎", "亮高", "绍招", "件伴", "样洋", "清请情晴", "评坪", "价介", "般船", "觉学",
    "感咸", "太泰", "吃乞", "香杳", "甜恬", "酸俊", "辣棘", "热势", "冷玲", "房防", "床庆", "店点", "厅斤",
    "住往", "睡锤", "洗先", "净静", "干千于", "软轨", "硬梗", "厚原", "薄簿", "长张", "短矩", "宽莞", "紧坚",
]


def _confusables() -> dict[str, str]:
    table: dict[str, set[str]] = {}
    for group in CONFUSABLE_GROUPS:
        for ch in group:
            table.setdefault(ch, set()).update(c for c in group if c != ch)
    return {ch: "".join(sorted(others)) for ch, others in table.items()}


CONFUSABLE = _confusables()


def script_of(text: str) -> str:
    """`zh` when the text has more CJK characters than Latin letters, else `en`."""
    return "zh" if len(_CJK.findall(text)) > len(_LETTER.findall(text)) else "en"


def _count(n: int, rate: float, rng: random.Random) -> int:
    # Randomised rounding: the expected number of edits is exactly rate * n, even for short texts.
    whole = rate * n
    return min(n, int(whole) + (rng.random() < whole - int(whole)))


def _typo(ch: str, nxt: str | None, rng: random.Random) -> tuple[str, bool]:
    """One English edit of `ch` -> (replacement, whether the next character was consumed by a swap)."""
    op = rng.choice(("key", "swap", "delete", "double"))
    if op == "swap" and nxt is not None and _LETTER.match(nxt) and nxt.lower() != ch.lower():
        return nxt + ch, True
    if op == "delete":
        return "", False
    if op == "double":
        return ch + ch, False
    sub = rng.choice(KEY_NEIGHBOURS[ch.lower()])
    return (sub.upper() if ch.isupper() else sub), False


def _similar(ch: str, rng: random.Random) -> str:
    """One Chinese edit: a confusable character when the table has one (3 in 4 times), else a deletion."""
    if ch in CONFUSABLE and rng.random() < 0.75:
        return rng.choice(CONFUSABLE[ch])
    return ""


def perturb(text: str, rate: float, seed: int = 42, language: str = "en") -> str:
    """A noisy copy of one text with about `rate` of its letters (en) or CJK characters (zh) edited."""
    script = script_of(text) if language == "multi" else language
    pattern = _CJK if script == "zh" else _LETTER
    rng = random.Random(f"{seed}\x00{text}")  # str seeds hash with SHA-512: stable across processes
    eligible = [m.start() for m in pattern.finditer(text)]
    chosen = set(rng.sample(eligible, _count(len(eligible), rate, rng)))
    if not chosen:
        return text
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if i not in chosen:
            out.append(ch)
            i += 1
            continue
        if script == "zh":
            out.append(_similar(ch, rng))
            i += 1
        else:
            nxt = text[i + 1] if i + 1 < len(text) else None
            edit, consumed = _typo(ch, nxt, rng)
            out.append(edit)
            i += 2 if consumed else 1
    noisy = "".join(out)
    return noisy if noisy.strip() else text  # never turn a review into an empty string


def add_noise(texts: list[str], rate: float, seed: int = 42, language: str = "en") -> list[str]:
    """Noisy copies of `texts` (same order); deterministic for a given (rate, seed, language)."""
    if not 0 < rate < 1:
        raise ValueError(f"noise rate must be between 0 and 1 (exclusive), got {rate} — e.g. 0.1")
    return [perturb(t, rate, seed, language) for t in texts]
