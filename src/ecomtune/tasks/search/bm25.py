"""BM25 over the catalogue texts with `bm25s` (the lexical baseline; `pip install 'ecomtune[search]'`)."""
from __future__ import annotations

import numpy as np

from ecomtune.errors import EcomtuneError


def _bm25s():
    try:
        import bm25s
    except ImportError:
        raise EcomtuneError("the BM25 baseline needs bm25s — run: pip install 'ecomtune[search]' (or set "
                            "`evaluation.baselines: false`)") from None
    return bm25s


class BM25:
    """Okapi BM25 (bm25s defaults: k1=1.5, b=0.75, Lucene idf), English stop words removed, lower-cased."""

    def __init__(self, texts: list[str], k1: float = 1.5, b: float = 0.75):
        bm25s = _bm25s()
        self.size = len(texts)
        self._retriever = bm25s.BM25(k1=k1, b=b)
        self._retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)

    def search(self, queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores [q, k], rows [q, k]) like the vector indexes."""
        bm25s = _bm25s()
        tokens = bm25s.tokenize(queries, stopwords="en", show_progress=False)
        rows, scores = self._retriever.retrieve(tokens, k=min(k, self.size), show_progress=False, n_threads=1)
        return np.asarray(scores, np.float32), np.asarray(rows, np.int64)
