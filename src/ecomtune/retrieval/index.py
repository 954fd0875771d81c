"""Vector indexes for maximum-inner-product search over a catalogue.

`ExactIndex` (torch matrix products, chunked) is the reference: it is exact and has no dependency. `FaissIndex`
wraps faiss-cpu (`pip install 'ecomtune[index]'`): `flat` is exact too (and checks the reference), `hnsw` is an
approximate graph index for large catalogues. Both take float32 vectors [n, d] and answer `search(queries, k)`
with (scores [q, k], row indices [q, k]); rows are positions in the order vectors were added.
"""
from __future__ import annotations

import numpy as np
import torch

from ecomtune.errors import EcomtuneError
from ecomtune.registry import Registry

INDEXES: Registry[type] = Registry("index")


def _as_matrix(vectors) -> np.ndarray:
    array = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if array.ndim != 2:
        raise EcomtuneError(f"index vectors must be a 2-D array [n, dim], got shape {array.shape}")
    return array


@INDEXES.register("exact")
class ExactIndex:
    """Brute-force inner product in chunks of queries (bounded memory: chunk × catalogue scores at a time)."""

    def __init__(self, dim: int, chunk: int = 1024, **_):
        self.dim = dim
        self.chunk = chunk
        self._vectors = torch.zeros((0, dim))

    def add(self, vectors) -> None:
        array = _as_matrix(vectors)
        if array.shape[1] != self.dim:
            raise EcomtuneError(f"vectors have dimension {array.shape[1]}, the index holds {self.dim}")
        self._vectors = torch.cat([self._vectors, torch.from_numpy(array)])

    def __len__(self) -> int:
        return self._vectors.shape[0]

    @torch.inference_mode()
    def search(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = torch.from_numpy(_as_matrix(queries))
        k = min(k, len(self))
        scores, rows = [], []
        for start in range(0, q.shape[0], self.chunk):
            s, r = torch.topk(q[start:start + self.chunk] @ self._vectors.T, k, dim=1)
            scores.append(s)
            rows.append(r)
        if not scores:
            return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)
        return torch.cat(scores).numpy(), torch.cat(rows).numpy()


@INDEXES.register("faiss-flat")
class FaissIndex:
    """faiss-cpu: `kind="flat"` (exact inner product) or `"hnsw"` (approximate; `m` links, `ef_search` breadth)."""

    def __init__(self, dim: int, kind: str = "flat", m: int = 32, ef_search: int = 128, **_):
        faiss = _faiss()
        self.dim = dim
        if kind == "flat":
            self._index = faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            self._index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
            self._index.hnsw.efSearch = ef_search
        else:
            raise EcomtuneError(f"faiss index kind must be `flat` or `hnsw`, got {kind!r}")

    def add(self, vectors) -> None:
        self._index.add(_as_matrix(vectors))

    def __len__(self) -> int:
        return self._index.ntotal

    def search(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores, rows = self._index.search(_as_matrix(queries), min(k, len(self)))
        return scores, rows.astype(np.int64)


INDEXES.register("faiss-hnsw", lambda dim, **kw: FaissIndex(dim, kind="hnsw", **kw))


def _faiss():
    try:
        import faiss
    except ImportError:
        raise EcomtuneError("the faiss index needs faiss-cpu — run: pip install 'ecomtune[index]' (or use "
                            "index `exact`)") from None
    return faiss


def search_each(index, requests: list[tuple[np.ndarray, int]]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(scores, rows) for each (query vector, depth) of `requests`, from ONE search at the largest depth: the
    service's index worker answers every request queued while it last searched with one matrix product."""
    depth = max(d for _, d in requests)
    scores, rows = index.search(np.stack([np.asarray(v, np.float32) for v, _ in requests]), depth)
    return [(scores[i, :d], rows[i, :d]) for i, (_, d) in enumerate(requests)]


def build_index(vectors, kind: str = "exact", **options):
    """An index of `kind` (`exact`, `faiss-flat`, `faiss-hnsw`) holding `vectors`."""
    array = _as_matrix(vectors)
    index = INDEXES.get(kind)(array.shape[1], **options)
    index.add(array)
    return index
