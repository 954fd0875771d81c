"""Text generation: BLEU-4, ROUGE, distinct-n and length against hand-computed values, and the attribute checks
(parsing, vocabulary exclusivity, coverage, contradictions), with the reference figures on the AdvertiseGen dev set."""
from __future__ import annotations

import json
import math
import sys

import pytest

from ecomtune.errors import EcomtuneError
from ecomtune.tasks.generate import metrics
from ecomtune.tasks.generate.attributes import (
    AttributeVocabulary,
    attribute_scores,
    contradictions,
    coverage,
    parse_attributes,
)
from ecomtune.tasks.generate.metrics import (
    bleu4,
    corpus_scores,
    distinct_n,
    rouge,
    text_length,
)

for _module in ("nltk", "jieba", "rouge_chinese"):
    pytest.importorskip(_module, reason="text-generation metrics need nltk, jieba and rouge-chinese "
                                        "(pip install 'ecomtune[generate]')")

# --- BLEU-4 --------------------------------------------------------------------------------------------------------


def test_bleu4_zh_matches_hand_computed_value():
    # hyp 白 色 外 套 (c = 4), ref 白 色 的 外 套 (r = 5)
    # p1 = 4/4; p2 = {白色, 外套} of {白色, 色外, 外套} = 2/3; p3 = 0/2 and p4 = 0/1 become, with smoothing method3
    # (the k-th zero precision is 1 / (2^k · denominator)), 1/(2·2) = 1/4 and 1/(4·1) = 1/4
    # BP = exp(1 - r/c) = exp(-1/4); BLEU = BP · (1 · 2/3 · 1/4 · 1/4)^(1/4) = exp(-0.25) · 24^(-1/4) = 0.351863
    expected = math.exp(-0.25) * (1 * 2 / 3 * 1 / 4 * 1 / 4) ** 0.25 * 100
    assert bleu4("白色外套", "白色的外套", "zh") == pytest.approx(expected, abs=1e-4)
    assert expected == pytest.approx(35.1863, abs=1e-4)


def test_bleu4_identical_is_100_and_empty_is_0():
    assert bleu4("简约而不简单的牛仔外套", "简约而不简单的牛仔外套", "zh") == 100.0
    assert bleu4("The cat sat on the mat.", "the cat sat on the mat .", "en") == 100.0  # lower-cased, "." a token
    assert bleu4("白色 外套", "白色外套", "zh") == 100.0  # whitespace is not a character token
    assert bleu4("", "白色外套", "zh") == 0.0
    assert bleu4("   ", "白色外套", "zh") == 0.0
    assert bleu4("白色外套", "", "zh") == 0.0
    assert bleu4("黑裤", "白色外套", "zh") == 0.0  # no unigram in common


def test_bleu4_en_uses_words():
    # hyp: the cat on mat (c = 4), ref: the cat sat on mat (r = 5); p1 = 4/4; p2: {the cat, on mat} of
    # {the cat, cat on, on mat} = 2/3; p3 = 0/2 -> 1/4, p4 = 0/1 -> 1/4: the numbers of the Chinese example above
    assert bleu4("the cat on mat", "the cat sat on mat", "en") == pytest.approx(35.1863, abs=1e-4)


# --- ROUGE ---------------------------------------------------------------------------------------------------------


def test_rouge_en_matches_hand_computed_values():
    # hyp: the cat sat on the mat; ref: the cat is on the mat. rouge_chinese counts n-grams as *sets*:
    # unigrams {the, cat, sat, on, mat} vs {the, cat, is, on, mat}: 4 shared of 5 and 5 -> P = R = F = 0.8
    # bigrams {the cat, cat sat, sat on, on the, the mat} vs {the cat, cat is, is on, on the, the mat}: 3/5 -> 0.6
    # ROUGE-L: LCS "the cat on the mat" = 5 of 6 words each side -> P = R = F = 5/6
    scores = rouge("The cat sat on the mat", "the cat is on the mat", "en")
    assert scores == pytest.approx({"rouge-1": 80.0, "rouge-2": 60.0, "rouge-l": 83.3333}, abs=1e-4)


def test_rouge_f_with_unequal_precision_and_recall():
    # unigrams {the, cat, sat} vs {the, cat, ran, away}: P = 2/3, R = 2/4, F = 2PR/(P+R) = (2/3)/(7/6) = 4/7
    # bigrams {the cat, cat sat} vs {the cat, cat ran, ran away}: P = 1/2, R = 1/3, F = (1/3)/(5/6) = 0.4
    scores = rouge("the cat sat", "the cat ran away", "en")
    assert scores["rouge-1"] == pytest.approx(400 / 7, abs=1e-4)
    assert scores["rouge-2"] == pytest.approx(40.0, abs=1e-4)
    assert scores["rouge-l"] == pytest.approx(400 / 7, abs=1e-4)  # LCS "the cat": 2/3 and 2/4 again


def test_rouge_zh_scores_jieba_words():
    # jieba: 白色 / 外套 vs 白色 / 的 / 外套 -> ROUGE-1 P = 1, R = 2/3, F = 0.8; no shared bigram
    assert rouge("白色外套", "白色的外套", "zh") == pytest.approx({"rouge-1": 80.0, "rouge-2": 0.0, "rouge-l": 80.0},
                                                                abs=1e-4)


def test_rouge_identical_is_100_and_empty_is_0():
    text = "简约而不简单的牛仔外套，白色的衣身十分百搭。"
    assert rouge(text, text, "zh") == {"rouge-1": 100.0, "rouge-2": 100.0, "rouge-l": 100.0}
    zero = {"rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0}
    assert rouge("", text, "zh") == zero  # rouge_chinese would raise: LLaMA-Factory scores it 0
    assert rouge(text, " ", "zh") == zero
    assert rouge("", "a cat", "en") == zero


# --- distinct-n, length, corpus ------------------------------------------------------------------------------------


def test_distinct_n_counts_within_each_text():
    # 好看好看: 好看, 看好, 好看; 好看: 好看 -> 4 bigrams, 2 distinct
    assert distinct_n(["好看好看", "好看"], 2, "zh") == 0.5
    # a b a b: (a b), (b a), (a b); "a": none -> 3 bigrams, 2 distinct
    assert distinct_n(["A b, a b", "a"], 2, "en") == pytest.approx(2 / 3)
    assert distinct_n(["白色外套"], 1, "zh") == 1.0
    assert distinct_n(["", "好"], 2, "zh") == 0.0
    with pytest.raises(ValueError, match="n >= 1"):
        distinct_n(["好"], 0, "zh")


def test_text_length():
    assert text_length("白色 外套。", "zh") == 5
    assert text_length("Hello, wide world!", "en") == 3


def test_corpus_scores_average_per_sample():
    hyps = ["白色外套", "简约而不简单的牛仔外套"]
    refs = ["白色的外套", "简约而不简单的牛仔外套"]
    scores = corpus_scores(hyps, refs, "zh")
    # bleu-4: (35.1863 + 100) / 2; rouge-1: (80 + 100) / 2; rouge-2: (0 + 100) / 2
    assert scores["bleu-4"] == 67.59
    assert scores["rouge-1"] == 90.0
    assert scores["rouge-2"] == 50.0
    assert scores["rouge-l"] == 90.0
    # hypothesis bigrams: 3 + 10, all distinct but 外套 twice -> 12/13
    assert scores["distinct-2"] == round(12 / 13, 4)
    assert scores["length"] == 7.5  # (4 + 11) / 2
    assert scores["reference_length"] == 8.0  # (5 + 11) / 2
    assert scores["samples"] == 2.0


def test_corpus_scores_rejects_bad_input():
    with pytest.raises(ValueError, match="1 hypotheses and 2 references"):
        corpus_scores(["a"], ["a", "b"], "en")
    with pytest.raises(ValueError, match="language must be one of"):
        corpus_scores(["a"], ["a"], "fr")
    with pytest.raises(ValueError, match="'de'"):
        bleu4("a", "a", "de")


def test_missing_backend_says_what_to_install(monkeypatch):
    metrics._rouge_scorer.cache_clear()
    monkeypatch.setitem(sys.modules, "rouge_chinese", None)  # import now raises ImportError
    try:
        with pytest.raises(EcomtuneError, match=r"pip install 'ecomtune\[generate\]'"):
            rouge("a cat", "a cat", "en")
    finally:
        metrics._rouge_scorer.cache_clear()


# --- attributes ----------------------------------------------------------------------------------------------------


def test_parse_attributes_keeps_order_and_repeats():
    assert parse_attributes("类型#裙*风格#复古*风格#文艺* *颜色# 白色 *") == [
        ("类型", "裙"), ("风格", "复古"), ("风格", "文艺"), ("颜色", "白色")]
    assert parse_attributes("a:1|b:2", pair_sep="|", kv_sep=":") == [("a", "1"), ("b", "2")]
    assert parse_attributes("") == []


def test_parse_attributes_names_the_bad_piece():
    with pytest.raises(ValueError, match="'颜色白色' has no '#'"):
        parse_attributes("类型#裙*颜色白色")
    with pytest.raises(ValueError, match="empty key or value"):
        parse_attributes("类型#")


def _rows(*contents: str) -> list[list[tuple[str, str]]]:
    return [parse_attributes(c) for c in contents]


def test_vocabulary_learns_exclusive_keys():
    inputs = _rows(*(["类型#裙*颜色#白色*风格#简约*风格#复古"] * 5
                     + ["类型#上衣*颜色#黑色*风格#简约"] * 4
                     + ["类型#裤*颜色#黑色*颜色#白色*风格#复古*风格#性感"]))
    vocab = AttributeVocabulary.from_inputs(inputs)
    # 颜色: 9 of 10 rows carry one value (0.9 >= 0.9); 风格: 4 of 10; 类型 is single-valued but never exclusive
    assert vocab.single_share == {"类型": 1.0, "颜色": 0.9, "风格": 0.4}
    assert vocab.exclusive_keys == {"颜色"}
    assert vocab.values["颜色"] == {"白色", "黑色"}
    assert vocab.values["风格"] == {"简约", "复古", "性感"}
    assert AttributeVocabulary.from_inputs(inputs, threshold=0.95).exclusive_keys == set()
    assert AttributeVocabulary.from_inputs(inputs, not_exclusive=()).exclusive_keys == {"类型", "颜色"}
    assert AttributeVocabulary.from_inputs(inputs, min_rows=11).exclusive_keys == set()
    assert AttributeVocabulary.from_inputs(inputs, exclusive_keys=["风格"]).exclusive_keys == {"风格"}


def test_vocabulary_round_trips_through_json():
    vocab = AttributeVocabulary.from_inputs(_rows("类型#裙*颜色#白色", "类型#裙*颜色#黑色*风格#复古"), min_rows=1)
    again = AttributeVocabulary.from_dict(json.loads(json.dumps(vocab.to_dict(), ensure_ascii=False)))
    assert again == vocab
    with pytest.raises(ValueError, match="format_version 99"):
        AttributeVocabulary.from_dict({**vocab.to_dict(), "format_version": 99})


def test_coverage():
    pairs = parse_attributes("类型#上衣*颜色#白色*风格#简约*图案#刺绣*衣领型#V领")
    # found: 上衣, 白色, v领 (case-insensitive); not found: 简约, 刺绣
    assert coverage("白色上衣，小v领设计", pairs) == pytest.approx(3 / 5)
    assert coverage("白色上衣，小v领设计", pairs, skip_keys=["类型"]) == pytest.approx(2 / 4)
    assert coverage("", pairs) == 0.0
    assert coverage("随便", parse_attributes("类型#裙"), skip_keys=["类型"]) is None
    # a repeated value counts once; a latin value must not sit inside a latin word
    assert coverage("复古风", parse_attributes("风格#复古*图案#复古")) == 1.0
    assert coverage("谁都能hold住", parse_attributes("版型#h")) == 0.0
    assert coverage("h型版型", parse_attributes("版型#h")) == 1.0


@pytest.fixture
def vocab() -> AttributeVocabulary:
    values = {"颜色": {"白色", "黑色", "白", "纯色"}, "风格": {"简约", "复古"}, "图案": {"纯色", "刺绣"},
              "衣领型": {"圆领", "高领", "半高领"}}
    return AttributeVocabulary(values=values, exclusive_keys=frozenset({"颜色", "衣领型"}))


def test_contradiction_of_an_exclusive_key(vocab):
    assert contradictions("黑色的外套", parse_attributes("颜色#白色"), vocab) == [("颜色", "黑色")]
    assert contradictions("白色的外套", parse_attributes("颜色#白色"), vocab) == []


def test_overlapping_values_are_not_contradictions(vocab):
    assert contradictions("白色外套", parse_attributes("颜色#白"), vocab) == []  # 白 inside 白色
    assert contradictions("白T恤", parse_attributes("颜色#白色"), vocab) == []  # 白色 contains 白
    assert contradictions("半高领毛衣", parse_attributes("衣领型#半高领"), vocab) == []  # 高领 inside 半高领
    # 半高领 is found once, and masks the 高领 inside it
    assert contradictions("半高领毛衣", parse_attributes("衣领型#圆领"), vocab) == [("衣领型", "半高领")]


def test_value_given_under_another_key_is_not_a_contradiction(vocab):
    assert contradictions("纯色设计", parse_attributes("颜色#白色*图案#纯色"), vocab) == []
    assert contradictions("纯色设计", parse_attributes("颜色#白色"), vocab) == [("颜色", "纯色")]


def test_multi_valued_and_absent_keys_are_not_checked(vocab):
    assert contradictions("复古风", parse_attributes("风格#简约"), vocab) == []  # 风格 is not exclusive
    assert contradictions("黑色外套", parse_attributes("风格#简约"), vocab) == []  # the input fixes no colour


def test_attribute_scores(vocab):
    texts = ["黑色的简约外套", "白色圆领", "随便"]
    inputs = _rows("颜色#白色*风格#简约", "颜色#白色*衣领型#圆领", "风格#复古")
    scores = attribute_scores(texts, inputs, vocab)
    # coverage: 1/2, 2/2, 0/1 -> 0.5; contradictions: only the first text (黑色)
    assert scores == {"coverage": 0.5, "contradiction_rate": round(1 / 3, 4), "texts": 3.0,
                      "texts_with_contradiction": 1.0, "contradictions": 1.0, "texts_without_values": 0.0}
    with pytest.raises(ValueError, match="2 texts and 3 inputs"):
        attribute_scores(texts[:2], inputs, vocab)


@pytest.mark.shared_data
def test_human_references_are_faithful_and_shuffled_ones_are_not(shared_data):
    rows = [json.loads(line) for line in (shared_data / "advertisegen_dev" / "dev.json").read_text().splitlines()]
    inputs = [parse_attributes(r["content"]) for r in rows]
    texts = [r["summary"] for r in rows]
    vocab = AttributeVocabulary.from_inputs(inputs)
    assert {"裙领型", "衣领型", "裙长"} <= vocab.exclusive_keys
    assert not {"类型", "颜色", "风格", "图案"} & vocab.exclusive_keys
    own = attribute_scores(texts, inputs, vocab)
    shifted = attribute_scores(texts[1:] + texts[:1], inputs, vocab)
    assert own["coverage"] > 0.8 and own["contradiction_rate"] < 0.005
    assert shifted["coverage"] < 0.3 and shifted["contradiction_rate"] > 0.05
