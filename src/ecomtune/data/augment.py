"""Text augmentation for small training sets: edited copies of training rows (EDA-style), never of held-out rows.

Each edit is one small function `op(text, ctx) -> text` in the `OPS` registry. English-like texts are edited per
word, Chinese texts per character (a text counts as Chinese when at least a third of its characters are CJK).
Synonyms come from the backbone itself: the nearest whole-word tokens of a word in the input-embedding matrix
(cosine similarity), so no word list has to ship with the package and any language the tokenizer has whole-word
tokens for works — English words, and multi-character Chinese words in vocabularies like Gemma's.
Everything is drawn from one `random.Random(seed)`: the same recipe gives the same augmented rows.
"""
from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ecomtune.console import say
from ecomtune.data.prepare import PreparedData, Split
from ecomtune.recipes.schema import AugmentConfig, Recipe
from ecomtune.registry import Registry

DEFAULT_OPS = {
    "en": ["delete", "swap", "insert", "synonym"],
    # `synonym` works on the tokenizer's multi-character Chinese word tokens; with a tokenizer that splits Chinese
    # into single characters (BERT-style) it finds no neighbours and the other ops take its turn.
    "zh": ["delete", "swap", "char_noise", "synonym"],
    "multi": ["delete", "swap", "insert", "synonym"],
}
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
_CJK_WORD = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{2,}")
_CORE = re.compile(r"(\W*)(\w+)(\W*)")  # punctuation around a word stays where it is

# Characters often typed for one another in Chinese reviews (same pinyin, or similar shape).
_SIMILAR_GROUPS = [
    "的地得", "在再", "做作坐座", "已己以", "买卖", "快块筷", "很狠", "到倒", "像象", "那哪", "他她它", "吗嘛么",
    "带戴", "帐账", "即既", "竟竞", "未末", "日曰", "人入", "千干", "候侯", "辩辨", "拨拔", "炼练", "须需",
    "题提", "包饱抱", "换唤", "值直植", "货贷", "购构够", "物务", "质制", "满慢", "便变", "价架", "喜洗",
    "好号", "错措", "太大", "厚后", "短段", "常长", "码马", "合和", "身深", "色涩", "穿川", "颜言", "味未",
]
SIMILAR_CHARS: dict[str, str] = {}
for _group in _SIMILAR_GROUPS:
    for _c in _group:
        SIMILAR_CHARS[_c] = SIMILAR_CHARS.get(_c, "") + _group.replace(_c, "")
_KEYBOARD = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
KEYBOARD_NEIGHBOURS = {c: "".join(row[max(0, i - 1):i] + row[i + 1:i + 2]) for row in _KEYBOARD
                       for i, c in enumerate(row)}
# Function words are neither replaced nor used as replacements (EDA does the same); negations are in the list
# because an embedding neighbour of "was" can be "wasn", which flips the meaning of a review.
_STOP = """a an the and or but if of to in on at by for with from as into than then so too very
is are was were be been being am do does did have has had can could would should will shall may might must
i me my we our you your he him his she her it its they them their this that these those there here what which who
not no nor never none cannot isn aren wasn weren don doesn didn hasn haven hadn won wouldn couldn shouldn
just also only even still all any some each every more most much many such own same other"""
STOP_WORDS = set(_STOP.split())
_NEGATING_PREFIXES = ("un", "in", "im", "il", "ir", "dis", "non", "mis")
_NEGATING_CHARS = set("不没沒无無非未别別莫勿难難")  # 喜欢 -> 不喜欢, 容易 -> 很难


@dataclass
class AugmentContext:
    """What the ops share: the random source, the edit rate and the word -> neighbour-words table."""

    rng: random.Random
    rate: float
    synonyms: dict[str, list[str]] = field(default_factory=dict)


Op = Callable[[str, AugmentContext], str]
OPS: Registry[Op] = Registry("augmentation op")


def is_cjk(text: str) -> bool:
    chars = [c for c in text if not c.isspace()]
    return bool(chars) and 3 * len(_CJK.findall(text)) >= len(chars)


def _units(text: str) -> tuple[list[str], str]:
    """Words joined by spaces, or the characters of a Chinese text."""
    return (list(text), "") if is_cjk(text) else (text.split(), " ")


def _n_edits(n_units: int, rate: float) -> int:
    return max(1, round(rate * n_units))


def _neighbour(word: str, ctx: AugmentContext) -> str | None:
    """A random embedding neighbour of `word`, punctuation and capitalisation kept; None when it has none."""
    m = _CORE.fullmatch(word)
    if not m or m.group(2).lower() not in ctx.synonyms:
        return None
    new = ctx.rng.choice(ctx.synonyms[m.group(2).lower()])  # stored lower-case
    if m.group(2)[:1].isupper():
        new = new[:1].upper() + new[1:]
    return m.group(1) + new + m.group(3)


def _cjk_words(text: str, ctx: AugmentContext) -> list[tuple[int, int]]:
    """Spans of the table's Chinese words in `text`, longest match first, left to right."""
    longest = max((len(k) for k in ctx.synonyms if _CJK.match(k)), default=0)
    spans, i = [], 0
    while i < len(text) and longest:
        for n in range(min(longest, len(text) - i), 1, -1):
            if text[i:i + n] in ctx.synonyms:
                spans.append((i, i + n))
                i += n
                break
        else:
            i += 1
    return spans


@OPS.register("delete")
def delete(text: str, ctx: AugmentContext) -> str:
    """Drop `rate` of the words (characters for Chinese), at least one, never all."""
    units, sep = _units(text)
    if len(units) < 2:
        return text
    drop = set(ctx.rng.sample(range(len(units)), min(_n_edits(len(units), ctx.rate), len(units) - 1)))
    return sep.join(u for i, u in enumerate(units) if i not in drop)


@OPS.register("swap")
def swap(text: str, ctx: AugmentContext) -> str:
    """Swap two random words (characters for Chinese), `rate` x length times."""
    units, sep = _units(text)
    if len(units) < 2:
        return text
    for _ in range(_n_edits(len(units), ctx.rate)):
        i, j = ctx.rng.sample(range(len(units)), 2)
        units[i], units[j] = units[j], units[i]
    return sep.join(units)


@OPS.register("insert")
def insert(text: str, ctx: AugmentContext) -> str:
    """Insert a neighbour of a random word (or the word itself when it has none) at a random position."""
    units, sep = _units(text)
    if not units:
        return text
    for _ in range(_n_edits(len(units), ctx.rate)):
        word = ctx.rng.choice(units)
        units.insert(ctx.rng.randint(0, len(units)), _neighbour(word, ctx) or word)
    return sep.join(units)


@OPS.register("synonym")
def synonym(text: str, ctx: AugmentContext) -> str:
    """Replace `rate` of the words that have embedding neighbours by one of them."""
    if not ctx.synonyms:
        return text
    if is_cjk(text):
        spans = _cjk_words(text, ctx)
        chosen = ctx.rng.sample(spans, min(len(spans), _n_edits(len(text) // 2, ctx.rate)))
        for start, end in sorted(chosen, reverse=True):
            text = text[:start] + ctx.rng.choice(ctx.synonyms[text[start:end]]) + text[end:]
        return text
    words = text.split()
    known = [i for i, w in enumerate(words) if (m := _CORE.fullmatch(w)) and m.group(2).lower() in ctx.synonyms]
    for i in ctx.rng.sample(known, min(len(known), _n_edits(len(words), ctx.rate))):
        words[i] = _neighbour(words[i], ctx) or words[i]
    return " ".join(words)


@OPS.register("char_noise")
def char_noise(text: str, ctx: AugmentContext) -> str:
    """Per character: a similar character (Chinese) or keyboard neighbour (Latin), a deletion or a duplication."""
    chars = list(text)
    where = [i for i, c in enumerate(chars) if not c.isspace()]
    if len(where) < 2:
        return text
    for i in ctx.rng.sample(where, min(len(where) - 1, _n_edits(len(where), ctx.rate))):
        c = chars[i]
        similar = SIMILAR_CHARS.get(c) or KEYBOARD_NEIGHBOURS.get(c.lower(), "")
        kind = ctx.rng.choice(["similar", "delete", "duplicate"] if similar else ["delete", "duplicate"])
        chars[i] = ctx.rng.choice(similar) if kind == "similar" else "" if kind == "delete" else c + c
    return "".join(chars)


def default_ops(language: str) -> list[str]:
    return list(DEFAULT_OPS.get(language, DEFAULT_OPS["multi"]))


def augment_text(text: str, ops: list[str], ctx: AugmentContext) -> str | None:
    """One edited copy: a random op, then the others in random order until one changes the text; None if none can."""
    order = list(ops)
    ctx.rng.shuffle(order)
    for name in order:
        new = OPS.get(name)(text, ctx)
        if new != text and new.strip():
            return new
    return None


def augment_split(split: Split, config: AugmentConfig, language: str,
                  synonyms: dict[str, list[str]] | None = None) -> tuple[Split, dict]:
    """`split` plus `round(fraction x rows)` edited copies (each row `fraction // 1` times, then a random sample).

    -> (the longer split, stats). Copies keep the label, row number and file of their source row.
    """
    ops = list(config.ops or default_ops(language))
    ctx = AugmentContext(random.Random(config.seed), config.rate, synonyms or {})
    n = len(split)
    copies, extra = divmod(round(config.fraction * n), n) if n else (0, 0)
    sources = [i for i in range(n) for _ in range(copies)] + sorted(ctx.rng.sample(range(n), extra))
    texts, index = [], []
    for i in sources:
        new = augment_text(split.texts[i], ops, ctx)
        if new is not None:
            texts.append(new)
            index.append(i)
    out = Split(name=split.name, texts=split.texts + texts,
                raw_labels=split.raw_labels + [split.raw_labels[i] for i in index],
                rows=split.rows + [split.rows[i] for i in index], files=split.files + [split.files[i] for i in index],
                labels=None if split.labels is None else np.concatenate([split.labels, split.labels[index]]))
    return out, {"rows_added": len(texts), "unchanged": len(sources) - len(texts), "ops": ops,
                 "synonym_words": len(ctx.synonyms)}


def _antonym_like(a: str, b: str) -> bool:
    """comfortable/uncomfortable, 喜欢/不喜欢: neighbours that differ by a negating prefix or character."""
    if any(a == p + b or b == p + a for p in _NEGATING_PREFIXES):
        return True
    return sum(c in _NEGATING_CHARS for c in a) != sum(c in _NEGATING_CHARS for c in b)


def _whole_word(token: str, marker: str | None) -> str | None:
    """The word a vocabulary token stands for when it is a whole Latin or Chinese word, else None."""
    if marker == "##":
        if token.startswith("##"):
            return None
        word = token
    elif marker and token.startswith(marker):
        word = token[len(marker):]
    else:
        word = token
        if marker and not _CJK_WORD.fullmatch(word):  # no word-start marker: a piece inside a Latin word
            return None
    if word.lower() in STOP_WORDS:
        return None
    return word if _LATIN_WORD.fullmatch(word) or _CJK_WORD.fullmatch(word) else None


def _word_marker(vocab: list[str]) -> str | None:
    """How the vocabulary marks word starts: SentencePiece `▁`, byte-level BPE `Ġ`, or WordPiece `##` pieces."""
    counts = {m: sum(t.startswith(m) for t in vocab) for m in ("▁", "Ġ", "##")}
    best = max(counts, key=counts.get)
    return best if counts[best] else None


@torch.no_grad()
def embedding_synonyms(texts: list[str], tokenizer, embeddings: torch.Tensor, top_k: int = 5,
                       min_similarity: float = 0.4, chunk: int = 512) -> dict[str, list[str]]:
    """word -> up to `top_k` nearest whole-word tokens by cosine similarity of input embeddings.

    Only words that occur in `texts` as one whole-word token are looked up (fast: a few thousand rows of a
    matrix product); neighbours come from the same script (Latin or Chinese), differ from the word in more than
    case and are not its negation (un-, dis-, ...); function words are skipped. `min_similarity` keeps
    far-away "neighbours" of rare words out. Embedding neighbours are related words, not strict synonyms
    (small -> smaller, tiny, large): that is the noise this augmentation trades for more training rows.
    """
    size = min(len(tokenizer), embeddings.shape[0])
    vocab = tokenizer.convert_ids_to_tokens(list(range(size)))
    marker = _word_marker(vocab)
    special = set(tokenizer.all_special_ids)
    words = [None if i in special or tok is None else _whole_word(tok, marker) for i, tok in enumerate(vocab)]
    present = sorted({i for row in tokenizer(texts, add_special_tokens=False)["input_ids"] for i in row
                      if i < size and words[i]})
    weight = embeddings.detach().float()
    table: dict[str, list[str]] = {}
    for script in (_LATIN_WORD, _CJK_WORD):
        cands = torch.tensor([i for i, w in enumerate(words) if w and script.fullmatch(w)], dtype=torch.long)
        queries = [i for i in present if script.fullmatch(words[i])]
        if len(cands) < 2 or not queries:
            continue
        matrix = torch.nn.functional.normalize(weight[cands], dim=-1)
        for start in range(0, len(queries), chunk):
            q = torch.tensor(queries[start:start + chunk], dtype=torch.long)
            sims = torch.nn.functional.normalize(weight[q], dim=-1) @ matrix.T
            scores, idx = sims.topk(min(top_k * 3 + 1, len(cands)), dim=-1)
            for row, query in enumerate(q.tolist()):
                key = words[query].lower()
                found = table.setdefault(key, [])
                for score, j in zip(scores[row].tolist(), idx[row].tolist()):
                    word = words[int(cands[j])].lower()
                    if score < min_similarity or len(found) >= top_k:
                        break
                    if word != key and word not in found and not _antonym_like(word, key):
                        found.append(word)
    return {k: v for k, v in sorted(table.items()) if v}


def augment_training(prepared: PreparedData, recipe: Recipe, tokenizer, model) -> Split:
    """The training split to train on: `prepared.train` plus `data.augment` copies (validation/test untouched).

    The synonym table is computed here, once per run, from the loaded backbone's tokenizer and input embeddings.
    """
    config = recipe.data.augment
    if config is None:
        return prepared.train
    ops = list(config.ops or default_ops(recipe.language))
    synonyms = {}
    if {"synonym", "insert"} & set(ops):
        synonyms = embedding_synonyms(prepared.train.texts, tokenizer, model.backbone.get_input_embeddings().weight)
    train, stats = augment_split(prepared.train, config, recipe.language, synonyms)
    note = (f"augmentation: {stats['rows_added']} edited copies of training rows added ({', '.join(ops)}; "
            f"rate {config.rate}; {stats['synonym_words']} words with embedding neighbours)")
    if stats["unchanged"]:
        note += f"; {stats['unchanged']} rows too short to edit were not copied"
    prepared.notes.append(note)
    say(f"  note: {note}")
    return train
