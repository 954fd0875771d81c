"""The context of a question: the other answered questions of the same product, ranked by relevance to it.

A product has few Q&A (2 to 10 in the Amazon files), so each product is its own tiny collection. Scoring is
Okapi BM25 (k1=1.5, b=0.75, Lucene idf, English stop words removed, lower-cased) with the idf and the mean
document length of the *whole* fitted frame rather than of the product's handful of rows: a per-product index
(`ecomtune.tasks.search.bm25.BM25` over 2-10 texts) gives every word an idf near zero, and its scores could not be
compared across products, which one threshold for `related` needs. `method="biencoder"` ranks by the cosine of
mean-pooled sentence vectors instead (`BiEncoder`, e.g. the packaged MiniLM).

A question's own row is never in its context, nor an exact duplicate of it (same question *and* answer: a record
stored twice would hand the model its own answer). Another asker's identical question with a different answer is
kept: that is the product's Q&A saying something.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

METHODS = ("bm25", "biencoder")
FIELDS = ("question", "question+answer")
# `related` thresholds: a best score under it means "the product's Q&A does not say". BM25 4.0 is about one shared
# distinctive word (idf on the Amazon Appliances Q&A: "reset" 5.4, "button" 4.7) or two common ones ("water" 2.4,
# "filter" 2.3); "fit" (1.6) or "does" (1.4) alone is not enough. bench/qa.py reports the share under it and how
# useful the retrieved answer is above and below it.
DEFAULT_THRESHOLD = {"bm25": 4.0, "biencoder": 0.5}


@dataclass
class ContextItem:
    """One of the product's other answered questions and its relevance `score` (higher is more relevant)."""

    row: int  # position in the fitted frame
    question: str
    answer: str
    score: float


class QAContext:
    """Per-product retrieval over the fitted frame's Q&A: `fit(frame)`, then `rows()` (the context of every row of
    the frame, its own row left out) or `retrieve(product, question)` for a new question."""

    def __init__(self, k: int = 3, method: str = "bm25", fields: str = "question+answer",
                 threshold: float | None = None, encoder=None, k1: float = 1.5, b: float = 0.75,
                 max_length: int = 64, batch_size: int = 64):
        self.k = k
        self.method = method
        self.fields = fields
        self.threshold = threshold
        self.encoder = encoder
        self.k1 = k1
        self.b = b
        self.max_length = max_length
        self.batch_size = batch_size

    def fit(self, frame: pd.DataFrame) -> QAContext:
        """Index the frame's rows (columns product, question, answer) by product."""
        if self.method not in METHODS:
            raise ValueError(f"`method` must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.fields not in FIELDS:
            raise ValueError(f"`fields` must be one of {', '.join(FIELDS)}, got {self.fields!r}")
        if self.k < 1:
            raise ValueError(f"`k` must be an integer >= 1, got {self.k} — e.g. `k: 3`")
        if self.method == "biencoder" and self.encoder is None:
            raise ValueError("`method='biencoder'` needs an `encoder` — e.g. BiEncoder.from_pretrained("
                             "resolve_backbone('minilm').path)")
        self.threshold_ = DEFAULT_THRESHOLD[self.method] if self.threshold is None else float(self.threshold)
        self.frame_ = frame.reset_index(drop=True)[["product", "question", "answer"]]
        self.questions_ = self.frame_["question"].astype(str).tolist()
        self.answers_ = self.frame_["answer"].astype(str).tolist()
        docs = self.questions_ if self.fields == "question" else \
            [f"{q} {a}" for q, a in zip(self.questions_, self.answers_)]
        self.groups_ = {p: np.asarray(rows, dtype=np.int64)
                        for p, rows in self.frame_.groupby("product", sort=False).indices.items()}
        if self.method == "bm25":
            self._fit_bm25(docs)
        else:
            self.doc_vectors_ = self.encoder_vectors(docs, query=False)
        return self

    # ------------------------------------------------------------------ scoring
    def _fit_bm25(self, docs: list[str]) -> None:
        from sklearn.feature_extraction.text import CountVectorizer

        self.vectorizer_ = CountVectorizer(lowercase=True, stop_words="english", token_pattern=r"(?u)\b\w+\b")
        tf = self.vectorizer_.fit_transform(docs).tocsr().astype(np.float64)
        n = tf.shape[0]
        df = np.bincount(tf.indices, minlength=tf.shape[1])
        idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5))
        length = np.asarray(tf.sum(axis=1)).ravel()
        norm = self.k1 * (1 - self.b + self.b * length / max(length.mean(), 1e-9))
        weights = tf.copy()
        row_norm = np.repeat(norm, np.diff(tf.indptr))
        weights.data = tf.data * (self.k1 + 1) / (tf.data + row_norm) * idf[tf.indices]
        self.doc_weights_ = weights.tocsr()

    def encoder_vectors(self, texts: list[str], query: bool) -> np.ndarray:
        enc = self.encoder
        enc.query_max_length = enc.max_length = self.max_length
        return enc.encode(texts, batch_size=self.batch_size, query=query)

    def _query_matrix(self, questions: list[str]):
        if self.method == "bm25":
            q = self.vectorizer_.transform(questions).tocsr()
            q.data[:] = 1.0  # a repeated query word counts once
            return q
        return self.encoder_vectors(questions, query=True)

    def _scores(self, query, docs: np.ndarray) -> np.ndarray:
        """[queries, len(docs)] scores of query rows against the fitted rows `docs`."""
        if self.method == "bm25":
            return np.asarray((query @ self.doc_weights_[docs].T).todense(), dtype=np.float64)
        return np.asarray(query @ self.doc_vectors_[docs].T, dtype=np.float64)

    def _top(self, scores: np.ndarray, docs: np.ndarray, k: int) -> list[ContextItem]:
        order = np.argsort(-scores, kind="stable")[:k]
        return [ContextItem(int(docs[j]), self.questions_[docs[j]], self.answers_[docs[j]], float(scores[j]))
                for j in order if np.isfinite(scores[j])]

    # ------------------------------------------------------------------ retrieval
    def rows(self, k: int | None = None) -> list[list[ContextItem]]:
        """The context of every fitted row: the top `k` of its product's other rows, best first."""
        k = k or self.k
        out: list[list[ContextItem]] = [[] for _ in range(len(self.frame_))]
        if self.method == "biencoder" and self.fields == "question":
            queries = self.doc_vectors_  # the same texts at the same max_length: embed them once
        else:
            queries = self._query_matrix(self.questions_)
        for docs in self.groups_.values():
            scores = self._scores(queries[docs], docs)
            for i, row in enumerate(docs):
                mask = self._excluded(row, docs)
                scores[i, mask] = -np.inf
                out[row] = self._top(scores[i], docs, k)
        return out

    def _excluded(self, row: int, docs: np.ndarray) -> np.ndarray:
        q, a = self.questions_[row], self.answers_[row]
        return np.array([d == row or (self.questions_[d] == q and self.answers_[d] == a) for d in docs])

    def retrieve(self, product: str, question: str, k: int | None = None, exclude: int | None = None
                 ) -> list[ContextItem]:
        """The top `k` of the product's fitted Q&A for a question (`exclude`: a fitted row to leave out, and its
        exact duplicates); [] for a product with no Q&A."""
        docs = self.groups_.get(product)
        if docs is None:
            return []
        scores = self._scores(self._query_matrix([question]), docs)[0]
        if exclude is not None:
            scores[self._excluded(exclude, docs)] = -np.inf
        return self._top(scores, docs, k or self.k)

    def related(self, product: str, question: str, exclude: int | None = None) -> bool:
        """Whether the product's Q&A says something about the question: its best score passes the threshold."""
        return is_related(self.retrieve(product, question, 1, exclude), self.threshold_)


def is_related(items: list[ContextItem], threshold: float) -> bool:
    """Whether the best item's score reaches `threshold` (False without items)."""
    return bool(items) and max(item.score for item in items) >= threshold


def format_context(items: list[ContextItem], budget: int = 600) -> str:
    """"Q: … A: …" lines, best first, cut to `budget` characters (the last line shortened and ended with "…")."""
    text = ""
    for item in items:
        line = f"Q: {' '.join(item.question.split())} A: {' '.join(item.answer.split())}"
        room = budget - len(text) - (1 if text else 0)
        if room <= 1:
            break
        cut = line if len(line) <= room else line[:room - 1].rstrip() + "…"
        text = f"{text}\n{cut}" if text else cut
        if cut is not line:
            break
    return text


def answers_text(items: list[ContextItem], n: int | None = None) -> str:
    """The answers of the top `n` items joined by " | " (the context features of the yes/no models)."""
    return " | ".join(" ".join(item.answer.split()) for item in items[:n])
