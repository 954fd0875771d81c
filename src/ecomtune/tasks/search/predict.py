"""`SearchEngine`: a trained search run loaded for queries — the bi-encoder, the catalogue index, the re-ranker.

    engine = ecomtune.load("runs/search-fashion")
    engine.search("men navy blue casual shirts", k=10)                 # [[{"id", "text", "score"}, ...]]
    engine.search(["red heels", "black watch"], k=5, rerank=True)     # cross-encoder re-scores the top N
    engine.add_products(["new-1"], ["Roadster Men Navy Blue Shirt"])  # embedded and searchable, no retraining

In the service, `serve_batch` embeds micro-batches of queries (the LRU cache keeps recent query vectors) and
`serve_lookup` searches the index with the vectors of every request queued meanwhile, in one search; `hits` turns
a ranking into the response rows.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from ecomtune.errors import EcomtuneError, RunDirError
from ecomtune.retrieval.index import build_index, search_each
from ecomtune.rundir import loading, open_manifest
from ecomtune.tasks.search.biencoder import BiEncoder
from ecomtune.tasks.search.crossencoder import CrossEncoder

CATALOGUE = "catalogue.jsonl"
EMBEDDINGS = "embeddings.safetensors"
BIENCODER = "model/biencoder"
CROSSENCODER = "model/crossencoder"


def write_catalogue(run_dir: Path, ids: list[str], texts: list[str], vectors: np.ndarray) -> None:
    with open(Path(run_dir) / CATALOGUE, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps({"id": pid, "text": text}, ensure_ascii=False) + "\n" for pid, text in zip(ids, texts))
    save_file({"embeddings": np.ascontiguousarray(vectors, dtype=np.float32)}, str(Path(run_dir) / EMBEDDINGS))


def read_catalogue(run_dir: Path) -> tuple[list[str], list[str], np.ndarray]:
    path = Path(run_dir) / CATALOGUE
    if not path.is_file() or not (Path(run_dir) / EMBEDDINGS).is_file():
        raise RunDirError(f"{run_dir}: no {CATALOGUE} / {EMBEDDINGS} — the search run is incomplete; train it again")
    ids, texts = [], []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            ids.append(str(row["id"]))
            texts.append(str(row["text"]))
    vectors = load_file(str(Path(run_dir) / EMBEDDINGS))["embeddings"]
    if len(vectors) != len(ids):
        raise RunDirError(f"{run_dir}: {len(ids)} products but {len(vectors)} embeddings — train the run again")
    return ids, texts, vectors


class SearchEngine:
    """Query -> ranked products of the catalogue (bi-encoder retrieval, optional cross-encoder re-ranking)."""

    def __init__(self, encoder: BiEncoder, ids: list[str], texts: list[str], vectors: np.ndarray,
                 index: str = "exact", reranker: CrossEncoder | None = None, rerank_top: int = 50,
                 batch_size: int = 128, manifest: dict | None = None, rerank_weight: float = 1.0):
        self.encoder = encoder
        self.ids, self.texts = list(ids), list(texts)
        self.index_kind = index
        self.reranker = reranker
        self.rerank_top = rerank_top
        self.rerank_weight = rerank_weight  # the cross-encoder's share of the fused score (runs before it: 1)
        self.batch_size = batch_size
        self.manifest = manifest or {}
        self._row_of = {pid: i for i, pid in enumerate(self.ids)}
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.index = build_index(self.vectors, kind=index)
        self.run_dir: Path | None = None  # set when loaded from a run directory

    @classmethod
    def load(cls, run_dir: str | Path, device: str = "auto") -> SearchEngine:
        from ecomtune.training.device import resolve_device

        run_dir = Path(run_dir)
        manifest = open_manifest(run_dir)
        if manifest.get("task") != "search":
            raise RunDirError(f"{run_dir} is a {manifest.get('task')} run, not a search run")
        dev = resolve_device(device)
        with loading(run_dir):
            m = manifest["model"]
            encoder = BiEncoder.from_pretrained(run_dir / BIENCODER, device=dev, pooling=m["pooling"],
                                                query_max_length=m["query_max_length"], max_length=m["max_length"])
            reranker = None
            if (run_dir / CROSSENCODER).is_dir():
                reranker = CrossEncoder.from_pretrained(run_dir / CROSSENCODER, m["reranker_max_length"], dev)
            ids, texts, vectors = read_catalogue(run_dir)
        weight = m.get("rerank_weight")
        engine = cls(encoder, ids, texts, vectors, m.get("index", "exact"), reranker, m.get("rerank_top", 50),
                     manifest=manifest, rerank_weight=1.0 if weight is None else float(weight))
        engine.run_dir = run_dir
        return engine

    # --- queries ---------------------------------------------------------------------------------------------
    def embed_queries(self, queries: list[str]) -> np.ndarray:
        return self.encoder.encode(list(queries), self.batch_size, query=True)

    def search(self, queries: list[str] | str, k: int = 10, rerank: bool = False) -> list[list[dict]]:
        """Top `k` products per query as {"id", "text", "score"}; `rerank` re-scores the top N with the
        cross-encoder (scores are then its logits, or with `rerank_weight` < 1 the fused, standardised score)."""
        single = isinstance(queries, str)
        queries = [queries] if single else list(queries)
        if not queries:
            return []
        results = self.search_vectors(self.embed_queries(queries), k, rerank, queries)
        return results[0] if single else results

    def search_vectors(self, vectors: np.ndarray, k: int = 10, rerank: bool = False,
                       queries: list[str] | None = None) -> list[list[dict]]:
        """The same as `search` for query vectors already embedded (the service caches them)."""
        if k < 1:
            raise EcomtuneError(f"k must be >= 1, got {k}")
        if rerank and self.reranker is None:
            raise EcomtuneError("this run has no re-ranker (trained with `model.reranker: false`) — search without "
                                "rerank, or train with `model.reranker: true`")
        scores, rows = self.ranked_rows(vectors, self.depth(k, rerank))
        return self.hits(scores, rows, k, rerank, queries)

    def depth(self, k: int, rerank: bool = False) -> int:
        """How many results a query needs from the index: `k`, or the re-ranker's top N."""
        return max(k, self.rerank_top) if rerank else k

    def hits(self, scores, rows, k: int, rerank: bool = False, queries: list[str] | None = None) -> list[list[dict]]:
        """Rankings (one row of catalogue rows per query, with their scores) -> the top `k` as {"id", "text",
        "score"}, re-ranked first with `rerank`."""
        out = []
        for i, (s, r) in enumerate(zip(scores, rows)):
            if rerank:
                s, r = self.reranker.rerank(queries[i], r, self.texts, s, self.rerank_weight)
            out.append([{"id": self.ids[int(j)], "text": self.texts[int(j)], "score": round(float(v), 5)}
                        for v, j in zip(s[:k], r[:k])])
        return out

    def ranked_rows(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.ranked_rows_valid(*self.index.search(np.asarray(vectors, np.float32), k))

    @staticmethod
    def ranked_rows_valid(scores: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        valid = rows >= 0  # faiss pads with -1 when fewer than k vectors exist
        if not valid.all():
            return np.where(valid, scores, -np.inf), np.where(valid, rows, 0)
        return scores, rows

    # --- catalogue -------------------------------------------------------------------------------------------
    def add_products(self, ids: list[str], texts: list[str]) -> int:
        """Embed new products and add them to the index (no retraining); returns the catalogue size."""
        ids, texts = [str(i) for i in ids], [str(t) for t in texts]
        if len(ids) != len(texts):
            raise EcomtuneError(f"add_products got {len(ids)} ids and {len(texts)} texts — give one text per id")
        taken = [i for i in ids if i in self._row_of]
        if taken or len(set(ids)) != len(ids):
            raise EcomtuneError(f"product ids already in the catalogue or repeated: {(taken or ids)[:3]} — use new ids")
        if any(not t.strip() for t in texts):
            raise EcomtuneError("add_products got an empty product text — give every product a title")
        vectors = self.encoder.encode(texts, self.batch_size)
        self.index.add(vectors)
        self.vectors = np.concatenate([self.vectors, vectors])
        for pid in ids:
            self._row_of[pid] = len(self.ids)
            self.ids.append(pid)
        self.texts += texts
        return len(self.ids)

    # --- the service -----------------------------------------------------------------------------------------
    def serve_batch(self, texts: list[str], bucket_size: int = 8) -> list[np.ndarray]:
        """The micro-batcher's call: one query embedding each."""
        return list(self.encode(texts))

    def serve_lookup(self, requests: list[tuple[np.ndarray, int]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """The index worker's call: (scores, rows) per (query vector, depth), one index search for all."""
        found = search_each(self.index, requests)
        return [self.ranked_rows_valid(s, r) for s, r in found]

    def predict(self, queries: list[str], k: int = 10, batch_size: int | None = None,
                rerank: bool = False) -> list[list[dict]]:
        """The predictor verb: the top `k` products per query (`search`)."""
        return self.search(list(queries), k=k, rerank=rerank)

    def encode(self, queries: list[str]) -> np.ndarray:
        """Unit query vectors [n, dim], as the catalogue index is searched with."""
        return self.embed_queries(queries)

    def evaluate(self, data=None, **options) -> dict:
        """Ranking metrics on the recipe's test queries, or a judgments file (see `ecomtune.evaluate`)."""
        from ecomtune.registry import task

        return task("search").part("evaluate")(self.run_dir, data, device=str(self.encoder.device))

    def warmup(self, bucket_size: int = 8) -> None:
        with torch.inference_mode():
            self.search(["ok", "black shirt for men"], k=3, rerank=self.reranker is not None)
            self.search("shoes", k=3)

    @property
    def has_reranker(self) -> bool:
        return self.reranker is not None
