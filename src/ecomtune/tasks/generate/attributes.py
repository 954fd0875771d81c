"""Faithfulness checks for attribute-to-text generation: does the text mention the input's values, and does it
state a value that the input rules out?

AdvertiseGen inputs are `*`-separated `key#value` pairs (`类型#上衣*材质#牛仔布*颜色#白色*风格#简约`); a key may
repeat (`风格#复古*风格#文艺`). BLEU and ROUGE reward wording; these two checks look at the facts:

- coverage: the share of the input's distinct values that occur in the text (substring, case-insensitive for
  latin; a purely latin value such as `h` must not touch other latin letters, so it does not match inside `BRAND`).
- contradictions: for an *exclusive* key the input fixes (a dress has one neckline), any other known value of that
  key found in the text. Exclusive keys are learned: a key is exclusive when at least 90% of the rows that have it
  carry exactly one value for it (and it is seen in at least `min_rows` rows). On AdvertiseGen that keeps the
  neckline, closure, waist, sleeve and garment-length keys (衣领型, 裙领型, 裙长, 裤长, 衣门襟, 裙腰型…) and drops the
  multi-valued ones — 风格, 图案, 材质, 版型, 衣样式 and 颜色 (16% of the rows with a colour list two or more:
  black-and-white items, `白色*纯色`), so a text naming a second colour, or the colour of a suggested pairing
  (“搭配黑色裤子”), is not called a contradiction. 类型 is never exclusive by default (`not_exclusive`): its values
  裙 / 裤 / 上衣 are generic words that descriptions use for pairings (“搭配裤子”), two-piece sets and garment parts
  (裙摆, 裤脚); counting it flagged 8.3% of the human references of the dev set, almost all such mentions.
  A found value is excused when it overlaps an input value of the same key (白 vs 白色, 高领 vs 半高领) or occurs
  inside any input value (纯色 given as 图案 while 颜色 is 白色). Longer values are matched first and mask what
  they contain, so “半高领” in the text is one value, not also 高领.
  The rule only ever flags a value the vocabulary knows, so it measures the precision of stated facts, not every
  error. On the AdvertiseGen dev set (1,070 rows, vocabulary learned from its inputs) the human references have
  coverage 0.859 and a contradiction rate of 0.09% (one text: “九分裤长裤脚” read as 长裤); the same references
  paired with the wrong inputs (shifted by one row) score 0.153 and 9.1%.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

FORMAT_VERSION = 1
_LATIN = re.compile(r"[0-9a-z]+")


def parse_attributes(content: str, pair_sep: str = "*", kv_sep: str = "#") -> list[tuple[str, str]]:
    """`类型#裙*颜色#白色` -> [("类型", "裙"), ("颜色", "白色")]; empty pieces are skipped, order and repeats kept."""
    pairs = []
    for piece in content.split(pair_sep):
        piece = piece.strip()
        if not piece:
            continue
        if kv_sep not in piece:
            raise ValueError(f"attribute {piece!r} has no {kv_sep!r} between key and value "
                             f"(expected key{kv_sep}value pairs separated by {pair_sep!r}) in {content!r}")
        key, value = (part.strip() for part in piece.split(kv_sep, 1))
        if not key or not value:
            raise ValueError(f"attribute {piece!r} has an empty key or value in {content!r}")
        pairs.append((key, value))
    return pairs


@dataclass
class AttributeVocabulary:
    """Every value seen for each key, and which keys take a single value per row (see the module docstring)."""

    values: dict[str, set[str]]
    exclusive_keys: frozenset[str]
    single_share: dict[str, float] = field(default_factory=dict)  # share of rows with exactly one value, per key

    @classmethod
    def from_inputs(cls, inputs: Iterable[Sequence[tuple[str, str]]], threshold: float = 0.9, min_rows: int = 5,
                    not_exclusive: Iterable[str] = ("类型",),
                    exclusive_keys: Iterable[str] | None = None) -> AttributeVocabulary:
        """Learn values and exclusive keys from parsed inputs.

        A key is exclusive when at least `threshold` of the rows that have it carry one value for it, it occurs in
        at least `min_rows` rows and it is not in `not_exclusive`; `exclusive_keys` replaces the learned set.
        """
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        values: dict[str, set[str]] = defaultdict(set)
        rows: Counter[str] = Counter()
        single: Counter[str] = Counter()
        for pairs in inputs:
            for key, vals in _by_key(pairs).items():
                values[key] |= vals
                rows[key] += 1
                single[key] += len(vals) == 1
        share = {key: single[key] / rows[key] for key in rows}
        if exclusive_keys is None:
            never = set(not_exclusive)
            exclusive = frozenset(k for k, s in share.items()
                                  if s >= threshold and rows[k] >= min_rows and k not in never)
        else:
            exclusive = frozenset(exclusive_keys)
        return cls(values=dict(values), exclusive_keys=exclusive, single_share=share)

    def to_dict(self) -> dict:
        return {"format_version": FORMAT_VERSION,
                "values": {key: sorted(vals) for key, vals in sorted(self.values.items())},
                "exclusive_keys": sorted(self.exclusive_keys),
                "single_share": dict(sorted(self.single_share.items()))}

    @classmethod
    def from_dict(cls, data: dict) -> AttributeVocabulary:
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(f"attribute vocabulary format_version {version!r} is not supported "
                             f"(this ecomtune reads {FORMAT_VERSION})")
        return cls(values={key: set(vals) for key, vals in data["values"].items()},
                   exclusive_keys=frozenset(data["exclusive_keys"]),
                   single_share=dict(data.get("single_share", {})))


def coverage(text: str, pairs: Sequence[tuple[str, str]], skip_keys: Iterable[str] = ()) -> float | None:
    """Share of the input's distinct values (keys in `skip_keys` left out) found in the text; None if none."""
    skip = set(skip_keys)
    wanted = {value for key, value in pairs if key not in skip}
    if not wanted:
        return None
    lowered = text.lower()
    return sum(_occurs(value, lowered) for value in wanted) / len(wanted)


def contradictions(text: str, pairs: Sequence[tuple[str, str]], vocab: AttributeVocabulary) -> list[tuple[str, str]]:
    """(key, value) for each value of an exclusive input key that the text states but the input rules out."""
    given = _by_key(pairs)
    all_given = {v.lower() for vals in given.values() for v in vals}
    lowered = text.lower()
    found = []
    for key in sorted(given.keys() & vocab.exclusive_keys):
        mine = {v.lower() for v in given[key]}
        for value in _present(lowered, vocab.values.get(key, ())):
            if any(value in v or v in value for v in mine) or any(value in v for v in all_given):
                continue
            found.append((key, value))
    return found


def attribute_scores(texts: Sequence[str], inputs_pairs: Sequence[Sequence[tuple[str, str]]],
                     vocab: AttributeVocabulary, skip_keys: Iterable[str] = ()) -> dict[str, float]:
    """Mean coverage (texts whose input has values), contradiction rate (share of texts with ≥ 1) and counts."""
    if len(texts) != len(inputs_pairs):
        raise ValueError(f"attribute_scores needs one input per text, got {len(texts)} texts "
                         f"and {len(inputs_pairs)} inputs")
    skip = tuple(skip_keys)
    covs = [c for t, p in zip(texts, inputs_pairs) if (c := coverage(t, p, skip)) is not None]
    flagged = [contradictions(t, p, vocab) for t, p in zip(texts, inputs_pairs)]
    n = len(texts)
    return {"coverage": round(sum(covs) / len(covs), 4) if covs else 0.0,
            "contradiction_rate": round(sum(bool(f) for f in flagged) / n, 4) if n else 0.0,
            "texts": float(n),
            "texts_with_contradiction": float(sum(bool(f) for f in flagged)),
            "contradictions": float(sum(len(f) for f in flagged)),
            "texts_without_values": float(n - len(covs))}


def _by_key(pairs: Sequence[tuple[str, str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for key, value in pairs:
        out[key].add(value)
    return out


def _occurs(value: str, lowered_text: str) -> bool:
    value = value.lower()
    if _LATIN.fullmatch(value):  # `h`, `polo`: a whole latin token, not a piece of another word
        return re.search(rf"(?<![0-9a-z]){re.escape(value)}(?![0-9a-z])", lowered_text) is not None
    return value in lowered_text


def _present(lowered_text: str, values: Iterable[str]) -> list[str]:
    """Values found in the text, longest first; a match is masked so the values inside it are not found again."""
    found = []
    for value in sorted({v.lower() for v in values}, key=lambda v: (-len(v), v)):
        if _occurs(value, lowered_text):
            found.append(value)
            lowered_text = lowered_text.replace(value, "\0")
    return found
