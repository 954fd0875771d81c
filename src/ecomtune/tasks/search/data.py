"""Search data: a catalogue (product ids + texts) and queries with graded judgments, from three layouts.

- `judgments`: one (query, product, graded label) row per judgment, e.g. the Amazon ESCI layout (`query`,
  `product_id`, `esci_label` with E/S/C/I) with product titles in a separate table, or the product text in the same
  table. ESCI letters become gains E=3, S=2, C=1, I=0 (the order of the ESCI paper; a numeric label column is used
  as it is, or mapped with `label_map`). A product is relevant (MRR, Recall@K, training positives) at gain >=
  `relevant_min` (default: the top grade, i.e. Exact). Queries are split into train and test by query, seeded.
- `query-classes`: query -> product class (WANDS `query.csv`: TAB-separated `query_id, query, query_class`). The
  class names are the catalogue, so the same bi-encoder categorises queries; metrics add accuracy and top-3.
- `attributes`: the fashion relevance set built from catalogue attributes (see `relevance.py`).

Every loader validates first: a bad row is a `DataError` naming the file, the line and the column.
"""
from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pandas as pd

from ecomtune.data.pii import scrub
from ecomtune.tasks.search.metrics import Judgments
from ecomtune.tasks.search.relevance import load_relevance_set
from ecomtune.tasks.search.tables import (
    QuerySet,
    SearchData,
    _bad_row,
    check_nonempty,
    read_any,
    require_columns,
)

ESCI_GAINS = {"E": 3.0, "S": 2.0, "C": 1.0, "I": 0.0}
ESCI_WORDS = {"exact": "E", "substitute": "S", "complement": "C", "irrelevant": "I"}


def to_gains(values: pd.Series, path, column: str, label_map: dict[str, float] | None) -> np.ndarray:
    """Graded labels -> float gains: `label_map`, ESCI letters/words, or numbers >= 0."""
    out = np.empty(len(values), dtype=np.float64)
    lines = values.index.tolist()
    for pos, raw in enumerate(values.astype(str).tolist()):
        i = int(lines[pos])
        v = raw.strip()
        if label_map is not None:
            if v not in label_map:
                raise _bad_row(path, i, column, f"label {v!r} is not in `data.label_map`",
                               f"add it, e.g. `label_map: {{{v}: 0}}`")
            out[pos] = label_map[v]
            continue
        letter = ESCI_WORDS.get(v.lower(), v.upper())
        if letter in ESCI_GAINS:
            out[pos] = ESCI_GAINS[letter]
            continue
        try:
            out[pos] = float(v)
        except ValueError:
            raise _bad_row(path, i, column, f"label {v!r} is neither an ESCI letter (E/S/C/I) nor a number",
                           "use E/S/C/I, numbers >= 0, or set `data.label_map`") from None
        if not np.isfinite(out[pos]) or out[pos] < 0:
            raise _bad_row(path, i, column, f"gain {v!r} is negative or not finite", "use numbers >= 0")
    return out


def read_judgments(path: str, query_column: str = "query", product_column: str = "product_id",
                   label_column: str = "esci_label", products: str | None = None,
                   product_id_column: str = "product_id", product_text_column: str = "product_title",
                   label_map: dict[str, float] | None = None, bad_rows: str = "error"
                   ) -> tuple[list[str], list[str], pd.DataFrame]:
    """(catalogue ids, catalogue texts, judgments frame with columns query, row, gain).

    Without `products`, `product_column` holds the product text itself (its distinct values are the catalogue).
    """
    frame = read_any(path)
    require_columns(frame, path, {query_column: "data.query_column", product_column: "data.product_column",
                                  label_column: "data.label_column"})
    frame = check_nonempty(frame, path, [query_column, product_column, label_column], bad_rows)
    gains = to_gains(frame[label_column], path, label_column, label_map)
    if products:
        table = read_any(products)
        require_columns(table, products, {product_id_column: "data.product_id_column",
                                          product_text_column: "data.product_text_column"})
        table = check_nonempty(table, products, [product_id_column, product_text_column], bad_rows)
        table = table.drop_duplicates(product_id_column)
        ids = table[product_id_column].astype(str).tolist()
        texts = table[product_text_column].astype(str).tolist()
        row_of = {pid: i for i, pid in enumerate(ids)}
        pids = frame[product_column].astype(str).tolist()
        for i, pid in zip(frame.index, pids):
            if pid not in row_of:
                raise _bad_row(path, int(i), product_column, f"product {pid!r} is not in {products}",
                               f"add it to `{product_id_column}` there or remove the row")
        rows = [row_of[p] for p in pids]
    else:
        texts = list(dict.fromkeys(frame[product_column].astype(str).tolist()))
        ids = [str(i) for i in range(len(texts))]
        row_of = {t: i for i, t in enumerate(texts)}
        rows = [row_of[t] for t in frame[product_column].astype(str)]
    judged = pd.DataFrame({"query": frame[query_column].astype(str).str.strip(), "row": rows, "gain": gains})
    judged = judged.groupby(["query", "row"], as_index=False, sort=False)["gain"].max()
    return ids, texts, judged


def judgment_queries(judged: pd.DataFrame, queries: list[str], relevant_min: float | None) -> QuerySet:
    """A QuerySet over `queries` from a (query, row, gain) frame; unjudged products have gain 0."""
    top = float(judged["gain"].max()) if len(judged) else 1.0
    threshold = relevant_min if relevant_min is not None else top
    groups = {q: g for q, g in judged[judged["gain"] > 0].groupby("query", sort=False)}
    tables = []
    for q in queries:
        g = groups.get(q)
        tables.append((g["row"].to_numpy(np.int64), g["gain"].to_numpy(np.float64)) if g is not None
                      else (np.zeros(0, np.int64), np.zeros(0)))
    lookups = [dict(zip(r.tolist(), g.tolist())) for r, g in tables]

    def grade(i: int, rows: np.ndarray) -> np.ndarray:
        return np.array([lookups[i].get(int(r), 0.0) for r in rows], dtype=np.float64)

    return QuerySet(texts=list(queries), positives=[r[g >= threshold] for r, g in tables],
                    relevant_min=[threshold] * len(queries), grade=grade,
                    judged=lambda i: Judgments(tables[i][0], tables[i][1], threshold), max_gain=top)


def split_queries(queries: list[str], test: float, seed: int) -> tuple[list[str], list[str]]:
    """Seeded split of distinct queries (a query is never in both)."""
    distinct = sorted(set(queries))
    random.Random(seed).shuffle(distinct)
    n_test = max(1, round(len(distinct) * test)) if test > 0 else 0
    return distinct[n_test:], distinct[:n_test]


def load_judgments(d) -> SearchData:
    """`format: judgments` -> SearchData (queries split by `data.test`)."""
    ids, texts, judged = read_judgments(d.judgments, d.query_column, d.product_column, d.label_column, d.products,
                                        d.product_id_column, d.product_text_column, d.label_map, d.bad_rows)
    train_q, test_q = split_queries(judged["query"].tolist(), d.test, d.seed)
    train = judgment_queries(judged, train_q, d.relevant_min)
    train = _only_with_positives(train)
    return SearchData(ids, texts, train, judgment_queries(judged, test_q, d.relevant_min), "judgments",
                      {"judgments": len(judged), "queries": len(train_q) + len(test_q)})


def _only_with_positives(qs: QuerySet) -> QuerySet:
    return _subset(qs, [i for i in range(len(qs)) if len(qs.positives[i])])


def _subset(qs: QuerySet, keep: list[int]) -> QuerySet:
    grade, judged = qs.grade, qs.judged
    return QuerySet([qs.texts[i] for i in keep], [qs.positives[i] for i in keep],
                    [qs.relevant_min[i] for i in keep], lambda i, rows: grade(keep[i], rows),
                    lambda i: judged(keep[i]), qs.max_gain)


def read_query_classes(path: str, query_column: str = "query", class_column: str = "query_class",
                       bad_rows: str = "error") -> tuple[list[str], list[str]]:
    """(queries, classes) of a query -> product-class table such as WANDS `query.csv`."""
    frame = read_any(path)
    require_columns(frame, path, {query_column: "data.query_column", class_column: "data.class_column"})
    frame = check_nonempty(frame, path, [query_column, class_column], bad_rows)
    return frame[query_column].astype(str).str.strip().tolist(), frame[class_column].astype(str).str.strip().tolist()


def class_queries(queries: list[str], classes: list[str], class_row: dict[str, int]) -> QuerySet:
    truth = np.array([class_row[c] for c in classes], dtype=np.int64)

    def grade(i: int, rows: np.ndarray) -> np.ndarray:
        return (np.asarray(rows) == truth[i]).astype(np.float64)

    return QuerySet(list(queries), [truth[i:i + 1] for i in range(len(truth))], [1.0] * len(truth), grade,
                    lambda i: Judgments(truth[i:i + 1], np.ones(1), 1.0), 1.0)


def load_query_classes(d) -> SearchData:
    """`format: query-classes` -> SearchData whose catalogue is the class names (query categorization)."""
    queries, classes = read_query_classes(d.queries, d.query_column, d.class_column, d.bad_rows)
    names = sorted(set(classes))
    class_row = {c: i for i, c in enumerate(names)}
    order = list(range(len(queries)))
    random.Random(d.seed).shuffle(order)
    n_test = max(1, round(len(order) * d.test))
    test_i, train_i = sorted(order[:n_test]), sorted(order[n_test:])
    train = class_queries([queries[i] for i in train_i], [classes[i] for i in train_i], class_row)
    test = class_queries([queries[i] for i in test_i], [classes[i] for i in test_i], class_row)
    seen = {classes[i] for i in train_i}
    unseen = sum(classes[i] not in seen for i in test_i)
    return SearchData(names, names, train, test, "query-classes",
                      {"queries": len(queries), "classes": len(names), "test_queries_of_unseen_classes": unseen})


def check(recipe) -> dict:
    """`ecomtune data check` of a search recipe: read and validate the data; products and queries."""
    data = load_search_data(recipe.data)
    said = [f"({data.kind}) {len(data.texts)} products, {len(data.train)} training / {len(data.test)} test queries"]
    shown = {k: v for k, v in data.info.items() if k != "pii"}  # `ecomtune data check` prints the PII line
    if shown:
        said.append(", ".join(f"{k.replace('_', ' ')} {v}" for k, v in shown.items()))
    return {"task": "search", "format": data.kind, "products": len(data.texts), "train_queries": len(data.train),
            "test_queries": len(data.test), **data.info, "said": said}


def load_search_data(d) -> SearchData:
    """The recipe's data section -> SearchData, personal data masked or its queries dropped (`data.pii`)."""
    if d.format == "judgments":
        return scrub_search(load_judgments(d), d.pii)
    if d.format == "query-classes":
        return scrub_search(load_query_classes(d), d.pii)
    return scrub_search(load_relevance_set(d), d.pii)


def scrub_search(data: SearchData, policy: str) -> SearchData:
    """Queries with personal data masked (`mask`) or left out (`drop`); product texts masked under both (a
    product cannot leave the catalogue its judgments name). Counts in `data.info["pii"]`."""
    texts, _, report = scrub(data.texts, "keep" if policy == "keep" else "mask")
    report.policy = policy
    sets = []
    for qs in (data.train, data.test):
        queries, keep, found = scrub(qs.texts, policy)
        report.add(found)
        qs = _subset(qs, [i for i in range(len(qs)) if keep[i]]) if not keep.all() else qs
        sets.append(replace(qs, texts=[q for q, k in zip(queries, keep) if k]))
    return replace(data, texts=texts, train=sets[0], test=sets[1], info={**data.info, "pii": report.as_dict()})
