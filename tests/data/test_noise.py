"""Character noise for robustness evaluation: deterministic, about `rate` of the characters, only the right script."""
from __future__ import annotations

import difflib
import re

import pytest

from ecomtune.data.noise import (
    CONFUSABLE,
    KEY_NEIGHBOURS,
    add_noise,
    perturb,
    script_of,
)

EN = ("This dress fits perfectly and the color is even more beautiful in person. I ordered my usual size, "
      "the fabric is soft, and it washed well. Shipping took 3 days; returned the blue one (too long).")
ZH = "衣服质量很好，物流也快，包装完好，颜色和图片一样，穿着舒服，尺码标准，价格便宜，下次还会再买的，推荐购买！"


def levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def test_deterministic_and_independent_of_position():
    texts = [EN, ZH, "ok"]
    assert add_noise(texts, 0.1, seed=7) == add_noise(texts, 0.1, seed=7)
    assert add_noise(texts, 0.1, seed=7, language="multi")[:2] == \
        add_noise([ZH, EN], 0.1, seed=7, language="multi")[::-1]
    assert add_noise([EN], 0.1, seed=7) != add_noise([EN], 0.1, seed=8)


@pytest.mark.parametrize("rate", [0.05, 0.1, 0.3])
def test_english_typos_edit_about_rate_of_the_letters(rate):
    texts = [EN] * 1 + [EN.replace("dress", f"dress{i}") for i in range(40)]  # different seeds per text
    noisy = add_noise(texts, rate, seed=1, language="en")
    letters = sum(len(re.findall(r"[A-Za-z]", t)) for t in texts)
    edits = sum(levenshtein(a, b) for a, b in zip(texts, noisy))
    assert 0.6 * rate < edits / letters < 1.4 * rate, edits / letters
    for a, b in zip(texts, noisy):  # digits, spaces and punctuation are never touched
        assert re.sub(r"[A-Za-z]", "", a) == re.sub(r"[A-Za-z]", "", b)


def test_english_typo_kinds():
    seen = set()
    for seed in range(200):
        a, b = "abcdefgh", perturb("abcdefgh", 0.13, seed)  # exactly one edit per text on average
        if len(b) == 7:
            seen.add("delete")
        elif len(b) == 9:
            seen.add("double")
        elif sorted(a) == sorted(b) and a != b:
            seen.add("swap")
        elif a != b:
            (i,) = [k for k in range(8) if a[k] != b[k]]
            assert b[i] in KEY_NEIGHBOURS[a[i]], (a, b)
            seen.add("key")
    assert seen == {"delete", "double", "swap", "key"}
    assert all(perturb("QUICK", 0.5, seed).isupper() for seed in range(20))  # case is kept


def test_chinese_similar_characters_and_deletions():
    texts = [ZH + str(i) for i in range(30)]
    noisy = add_noise(texts, 0.1, seed=2, language="zh")
    chars = sum(len(re.findall(r"[\u4e00-\u9fff]", t)) for t in texts)
    edits = sum(levenshtein(a, b) for a, b in zip(texts, noisy))
    assert 0.06 < edits / chars < 0.14, edits / chars
    substituted = deleted = 0
    for a, b in zip(texts, noisy):
        assert re.sub(r"[\u4e00-\u9fff]", "", a) == re.sub(r"[\u4e00-\u9fff]", "", b)  # punctuation kept
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
            assert op != "insert", (a, b)
            if op == "replace" and i2 - i1 == j2 - j1:
                assert all(y in CONFUSABLE[x] for x, y in zip(a[i1:i2], b[j1:j2])), (a[i1:i2], b[j1:j2])
                substituted += i2 - i1
        deleted += len(a) - len(b)
    assert substituted > 0 and deleted > 0


def test_script_choice():
    assert script_of(ZH) == "zh" and script_of(EN) == "en" and script_of("衣服 nice 很好看") == "zh"
    mixed = add_noise([EN, ZH], 0.2, seed=3, language="multi")
    assert re.sub(r"[A-Za-z]", "", mixed[0]) == re.sub(r"[A-Za-z]", "", EN)  # typos in the English text
    assert re.sub(r"[\u4e00-\u9fff]", "", mixed[1]) == re.sub(r"[\u4e00-\u9fff]", "", ZH)
    assert add_noise([ZH], 0.3, language="en") == [ZH]  # an English recipe leaves Chinese characters alone


def test_edge_cases():
    assert add_noise(["", "123 !!", "a"], 0.5)[:2] == ["", "123 !!"]
    assert add_noise(["a"], 0.99)[0] != ""  # never an empty review
    with pytest.raises(ValueError, match="noise rate must be between 0 and 1"):
        add_noise(["x"], 1.5)
