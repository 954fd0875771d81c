"""The fashion relevance set: queries composed from real attribute combinations, judged from the attributes.

There are no public judgment files for the fashion catalogue here, so judgments come from the catalogue's own
attributes, which the models never see (the product text is the title, `productDisplayName`, only):

1. Query keys. For every (gender, baseColour, articleType, usage) combination present in the catalogue, a seeded
   draw decides which attributes the query names: article type always, gender with p=0.8, colour with p=0.75,
   usage with p=0.35 ("NA" and empty values are never named). The key is the set of named (attribute, value)
   pairs, e.g. {gender: Men, baseColour: Navy Blue, articleType: Shirts}; duplicates are merged.
2. Split. Keys — not rendered strings — are split into train and eval (`eval_fraction`, seeded), so no attribute
   combination of an eval query is ever a training query, whatever its wording.
3. Rendering. Each key becomes a natural query from one of several templates and word forms
   ("men navy blue shirts", "navy blue shirt for men", "mens casual t-shirts in black", "tees black for women");
   word forms include synonyms that titles never use (tees, joggers), so lexical overlap is not guaranteed.
4. Grades. gain(product) = the number of the query's named attributes the product matches, *if its article type
   matches*, else 0: the article type is what a shopper is looking for, so a navy blue men's casual *T-shirt* is
   irrelevant to "men navy blue casual shirts", while a women's navy blue shirt earns 2 of 3. Matching is exact
   (a Unisex product does not match "men"). A product is *relevant* (MRR, Recall@K, training positives) when it
   matches every named attribute (gain = number of named attributes, 1-4).
5. Judgments are complete: every product of the catalogue is graded for every eval query, so NDCG@10 is computed
   over the full 44k-product ranking, with no pooling bias.
"""
from __future__ import annotations

import random

import numpy as np
import pandas as pd

from ecomtune.errors import DataError
from ecomtune.tasks.search.metrics import Judgments
from ecomtune.tasks.search.tables import (
    QuerySet,
    SearchData,
    check_nonempty,
    read_any,
    require_columns,
)

ATTRIBUTES = ("gender", "baseColour", "articleType", "usage")
REQUIRED = "articleType"
NAME_PROBABILITY = {"gender": 0.8, "baseColour": 0.75, "usage": 0.35}
MISSING = {"", "NA", "nan", "None"}

GENDER_PREFIX = {"Men": ["men", "men's", "mens"], "Women": ["women", "women's", "womens", "ladies"],
                 "Boys": ["boys", "boys'"], "Girls": ["girls", "girls'"], "Unisex": ["unisex"]}
GENDER_WORD = {"Men": ["men"], "Women": ["women", "ladies"], "Boys": ["boys", "kids"], "Girls": ["girls"],
               "Unisex": ["unisex"]}
TYPE_WORDS = {"Tshirts": ["t-shirts", "tshirts", "tees", "t-shirt"], "Track Pants": ["track pants", "joggers"],
              "Perfume and Body Mist": ["perfume", "body mist"], "Flip Flops": ["flip flops", "flip-flops"],
              "Innerwear Vests": ["vests", "innerwear vests"], "Sports Shoes": ["sports shoes", "running shoes"],
              "Casual Shoes": ["casual shoes", "sneakers"], "Formal Shoes": ["formal shoes", "dress shoes"]}
PLURAL_ONLY = {"jeans", "shorts", "trousers", "pants", "briefs", "leggings", "sunglasses", "capris", "boxers",
               "tights", "trunks", "flats", "heels", "jeggings", "churidar"}
# segments are dropped when their slot is not named: {gp} gender prefix, {gw} gender word, {c} colour, {u} usage
TEMPLATES = [["{gp}", "{c}", "{u}", "{t}"], ["{c}", "{u}", "{t}", "for {gw}"], ["{gp}", "{u}", "{t}", "in {c}"],
             ["{t}", "{c}", "{gp}"], ["{u}", "{t}", "{c}", "for {gw}"], ["{c}", "{gp}", "{t}", "{u}"]]
SLOT_OF = {"{gp}": "gender", "{gw}": "gender", "{c}": "baseColour", "{u}": "usage", "{t}": "articleType"}


def _singular(word: str) -> str:
    last = word.split(" ")[-1]
    if last in PLURAL_ONLY or not last.endswith("s") or last.endswith("ss"):
        return word
    stem = last[:-2] if last.endswith(("ches", "shes", "sses", "xes")) else last[:-1]
    return word[: len(word) - len(last)] + stem


def type_words(article_type: str, rng: random.Random) -> str:
    if article_type in TYPE_WORDS:
        return rng.choice(TYPE_WORDS[article_type])
    word = article_type.lower()
    return _singular(word) if rng.random() < 0.25 else word


def render(key: dict[str, str], rng: random.Random) -> str:
    """A natural query string naming exactly the attributes in `key`."""
    words = {"{t}": type_words(key[REQUIRED], rng)}
    if "gender" in key:
        words["{gp}"] = rng.choice(GENDER_PREFIX.get(key["gender"], [key["gender"].lower()]))
        words["{gw}"] = rng.choice(GENDER_WORD.get(key["gender"], [key["gender"].lower()]))
    if "baseColour" in key:
        words["{c}"] = key["baseColour"].lower()
    if "usage" in key:
        words["{u}"] = key["usage"].lower()
    parts = []
    for segment in rng.choice(TEMPLATES):
        slot = next(s for s in SLOT_OF if s in segment)
        if slot in words:
            parts.append(segment.replace(slot, words[slot]))
    return " ".join(parts)


def query_keys(frame: pd.DataFrame, seed: int) -> list[tuple[tuple[str, str], ...]]:
    """Distinct named-attribute keys drawn from the catalogue's real attribute combinations (sorted, seeded)."""
    rng = random.Random(seed)
    combos = frame[list(ATTRIBUTES)].drop_duplicates().sort_values(list(ATTRIBUTES)).itertuples(index=False)
    keys = set()
    for combo in combos:
        values = dict(zip(ATTRIBUTES, combo))
        if values[REQUIRED] in MISSING:
            continue
        key = {REQUIRED: values[REQUIRED]}
        for attr, p in NAME_PROBABILITY.items():
            if rng.random() < p and values[attr] not in MISSING:
                key[attr] = values[attr]
        keys.add(tuple(sorted(key.items())))
    return sorted(keys)


class AttributeGrader:
    """Gains of catalogue products for attribute keys, vectorised over the catalogue."""

    def __init__(self, frame: pd.DataFrame):
        self.codes: dict[str, dict[str, int]] = {}
        columns = []
        for attr in ATTRIBUTES:
            values = frame[attr].astype(str).tolist()
            vocab = {v: i for i, v in enumerate(sorted(set(values)))}
            self.codes[attr] = vocab
            columns.append(np.array([vocab[v] for v in values], dtype=np.int32))
        self.matrix = np.stack(columns, axis=1)  # [n_products, n_attributes]
        self.type_col = ATTRIBUTES.index(REQUIRED)

    def encode(self, key) -> np.ndarray:
        named = dict(key)
        return np.array([self.codes[a].get(named[a], -2) if a in named else -1 for a in ATTRIBUTES], np.int32)

    def gains(self, code: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        m = self.matrix if rows is None else self.matrix[rows]
        named = code >= 0
        matches = (m[:, named] == code[named]).sum(axis=1)
        return np.where(m[:, self.type_col] == code[self.type_col], matches, 0).astype(np.float64)


def _query_set(grader: AttributeGrader, keys, texts: list[str]) -> QuerySet:
    codes = [grader.encode(k) for k in keys]
    full = [float(len(k)) for k in keys]
    positives = [np.flatnonzero(grader.gains(c) >= f) for c, f in zip(codes, full)]

    def judged(i: int) -> Judgments:
        g = grader.gains(codes[i])
        rows = np.flatnonzero(g > 0)
        return Judgments(rows, g[rows], full[i])

    return QuerySet(texts, positives, full, lambda i, rows: grader.gains(codes[i], np.asarray(rows)), judged,
                    max_gain=float(len(ATTRIBUTES)))


def build_relevance_set(frame: pd.DataFrame, train_queries: int = 2000, eval_queries: int = 300,
                        eval_fraction: float = 0.3, seed: int = 42, id_column: str = "id",
                        text_column: str = "productDisplayName") -> SearchData:
    """SearchData from a catalogue frame with the ATTRIBUTES columns (see the module docstring)."""
    frame = frame.reset_index(drop=True)
    keys = query_keys(frame, seed)
    if len(keys) < 2:
        raise DataError(f"the catalogue has {len(keys)} attribute combinations — the relevance set needs at least 2 "
                        "(check the attribute columns)")
    rng = random.Random(seed + 1)
    order = list(keys)
    rng.shuffle(order)
    n_eval = min(max(1, round(len(order) * eval_fraction)), len(order) - 1)
    eval_keys, train_keys = order[:n_eval][:eval_queries], order[n_eval:]
    # more training queries than keys: the same keys again, worded differently
    train_list = [train_keys[i % len(train_keys)] for i in range(train_queries)]
    grader = AttributeGrader(frame)
    train = _query_set(grader, train_list, [render(dict(k), rng) for k in train_list])
    test = _query_set(grader, eval_keys, [render(dict(k), rng) for k in eval_keys])
    info = {"combinations": len(frame[list(ATTRIBUTES)].drop_duplicates()), "query_keys": len(keys),
            "train_keys": len(train_keys), "eval_keys_available": n_eval, "eval_queries": len(eval_keys),
            "train_queries": len(train_list), "products": len(frame)}
    return SearchData(frame[id_column].astype(str).tolist(), frame[text_column].astype(str).tolist(), train, test,
                      "attributes", info, keys={"train": train_list, "eval": list(eval_keys)})


def load_relevance_set(d) -> SearchData:
    """`format: attributes`: the recipe's catalogue -> the relevance set."""
    frame = read_any(d.catalogue)
    columns = {d.id_column: "data.id_column", d.text_column: "data.text_column"}
    columns.update({a: "data.catalogue (attribute columns)" for a in ATTRIBUTES})
    require_columns(frame, d.catalogue, columns)
    check_nonempty(frame, d.catalogue, [d.id_column, d.text_column])
    return build_relevance_set(frame, d.train_queries, d.eval_queries, d.eval_fraction, d.seed, d.id_column,
                               d.text_column)
