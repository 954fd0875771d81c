"""Text-generation metrics: BLEU-4, ROUGE-1/2/L, distinct-n and length, computed as the AdvertiseGen numbers are.

The ChatGLM p-tuning and LLaMA-Factory evaluations (`ComputeSimilarity`) score each sample, then average:
- BLEU-4: nltk `sentence_bleu` on characters (Chinese) with `SmoothingFunction().method3`, × 100;
- ROUGE: `rouge_chinese.Rouge` on jieba words joined by spaces, F-scores × 100; a sample whose hypothesis or
  reference has no word scores 0 (the library would raise). rouge_chinese (1.0.3) counts ROUGE-1/2 n-grams as
  *sets* (a repeated n-gram counts once) and takes ROUGE-L as the LCS of the whole word sequences, with F the
  harmonic mean of precision and recall — kept as is, since that is what the published numbers use;
- each sample's score is rounded to 4 decimals before averaging, as they do.
Two deliberate differences, both no-ops on AdvertiseGen (its texts have no whitespace): BLEU drops whitespace
characters (so an inserted space is not a token), and English is tokenized as lower-cased words and punctuation
(regex `\\w+|[^\\w\\s]`) instead of jieba.

Distinct-n (unique n-grams / all n-grams over a whole set of outputs) measures diversity, and length catches the
degenerate short or rambling outputs that n-gram overlap alone rewards or hides.
"""
from __future__ import annotations

import functools
import logging
import re
from collections.abc import Sequence

from ecomtune.errors import EcomtuneError

LANGUAGES = ("zh", "en")
_EN_TOKEN = re.compile(r"\w+|[^\w\s]")
_EN_WORD = re.compile(r"\w+")
_ROUGE_KEYS = ("rouge-1", "rouge-2", "rouge-l")
_MISSING = ("text-generation metrics need nltk, jieba and rouge-chinese — run: pip install 'ecomtune[generate]'")


def bleu4(hypothesis: str, reference: str, language: str) -> float:
    """Sentence BLEU-4 × 100 (characters for "zh", lower-cased words for "en"); 0.0 for an empty hypothesis."""
    hyp, ref = _bleu_tokens(hypothesis, language), _bleu_tokens(reference, language)
    if not hyp or not ref:
        return 0.0
    sentence_bleu, smoothing = _nltk_bleu()
    return round(float(sentence_bleu([ref], hyp, smoothing_function=smoothing.method3)) * 100, 4)


def rouge(hypothesis: str, reference: str, language: str) -> dict[str, float]:
    """ROUGE-1, ROUGE-2 and ROUGE-L F-scores × 100 (jieba words for "zh", lower-cased words for "en")."""
    hyp, ref = _rouge_text(hypothesis, language), _rouge_text(reference, language)
    if not hyp.split() or not ref.split():
        return {key: 0.0 for key in _ROUGE_KEYS}
    scores = _rouge_scorer().get_scores(hyp, ref)[0]
    return {key: round(scores[key]["f"] * 100, 4) for key in _ROUGE_KEYS}


def distinct_n(texts: Sequence[str], n: int, language: str) -> float:
    """Unique n-grams / all n-grams over every text (n-grams never cross texts); 0.0 when there is none."""
    if n < 1:
        raise ValueError(f"distinct_n needs n >= 1, got {n}")
    seen: set[tuple[str, ...]] = set()
    total = 0
    for text in texts:
        units = _units(text, language)
        grams = [tuple(units[i:i + n]) for i in range(len(units) - n + 1)]
        seen.update(grams)
        total += len(grams)
    return len(seen) / total if total else 0.0


def text_length(text: str, language: str) -> int:
    """Characters without whitespace ("zh") or words ("en")."""
    return len(_units(text, language))


def corpus_scores(hypotheses: Sequence[str], references: Sequence[str], language: str) -> dict[str, float]:
    """Per-sample BLEU-4 and ROUGE averaged over the corpus, plus distinct-2 and mean lengths.

    Keys: bleu-4, rouge-1, rouge-2, rouge-l (× 100, 2 decimals), distinct-2 (0–1), length and reference_length
    (mean characters for "zh", words for "en"), samples.
    """
    if len(hypotheses) != len(references):
        raise ValueError(f"corpus_scores needs one reference per hypothesis, got {len(hypotheses)} hypotheses "
                         f"and {len(references)} references")
    _check_language(language)
    sums = dict.fromkeys(("bleu-4", *_ROUGE_KEYS), 0.0)
    for hyp, ref in zip(hypotheses, references):
        sums["bleu-4"] += bleu4(hyp, ref, language)
        for key, value in rouge(hyp, ref, language).items():
            sums[key] += value
    n = len(hypotheses)
    out = {key: round(total / n, 2) if n else 0.0 for key, total in sums.items()}
    out["distinct-2"] = round(distinct_n(hypotheses, 2, language), 4)
    out["length"] = _mean_length(hypotheses, language)
    out["reference_length"] = _mean_length(references, language)
    out["samples"] = float(n)
    return out


def _mean_length(texts: Sequence[str], language: str) -> float:
    return round(sum(text_length(t, language) for t in texts) / len(texts), 2) if texts else 0.0


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, got {language!r}")


def _bleu_tokens(text: str, language: str) -> list[str]:
    _check_language(language)
    if language == "zh":
        return [c for c in text if not c.isspace()]
    return _EN_TOKEN.findall(text.lower())


def _units(text: str, language: str) -> list[str]:
    """What distinct-n and length count: characters ("zh") or words without punctuation ("en")."""
    _check_language(language)
    if language == "zh":
        return [c for c in text if not c.isspace()]
    return _EN_WORD.findall(text.lower())


def _rouge_text(text: str, language: str) -> str:
    _check_language(language)
    if language == "zh":
        return " ".join(_jieba().lcut(text))
    return " ".join(_EN_TOKEN.findall(text.lower()))


@functools.cache
def _jieba():
    try:
        import jieba
    except ImportError as e:
        raise EcomtuneError(_MISSING) from e
    jieba.setLogLevel(logging.WARNING)  # no "Building prefix dict" chatter on every run
    return jieba


@functools.cache
def _nltk_bleu():
    try:
        from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
    except ImportError as e:
        raise EcomtuneError(_MISSING) from e
    return sentence_bleu, SmoothingFunction()


@functools.cache
def _rouge_scorer():
    try:
        from rouge_chinese import Rouge
    except ImportError as e:
        raise EcomtuneError(_MISSING) from e
    return Rouge()
