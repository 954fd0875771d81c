"""`Recommender`: a trained recommendation run, ready to answer "what next for this user?".

Catalogue vectors go into a vector index (`exact` by default; `faiss-flat` / `faiss-hnsw` with faiss-cpu), user
vectors come from the history; the user's own history is filtered out of the answer. Items added with
`add_items(ids, texts)` are embedded by the run's saved text encoder and appended to the index: no retraining
(text models only; an ID-only model has nothing to embed a new item with). A two-tower run trained with `data.users`
also takes each user's profile text, embedded by the same encoder.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from ecomtune.errors import DataError, EcomtuneError, RunDirError
from ecomtune.retrieval.index import build_index, search_each
from ecomtune.rundir import loading, open_manifest
from ecomtune.tasks.recommend import item_text
from ecomtune.tasks.recommend.batching import left_pad
from ecomtune.tasks.recommend.models import from_config
from ecomtune.training.device import resolve_device


class Recommender:
    """Load with `Recommender.load(run_dir)` (or `ecomtune.load`)."""

    def __init__(self, model, item_ids: list[str], item_texts: list[str], manifest: dict, run_dir: Path,
                 device: torch.device, index: str = "exact"):
        self.model = model.eval()
        self.item_ids = item_ids  # index 0: padding
        self.item_texts = item_texts
        self.manifest = manifest
        self.run_dir = run_dir
        self.device = device
        self.index_kind = index
        self._position = {item: i for i, item in enumerate(item_ids) if i}
        self._index = None
        self._items = None  # item_matrix() at inference, computed once (add_items clears it)
        self._encoder = None

    @classmethod
    def load(cls, run_dir: str | Path, device: str = "auto", index: str = "exact") -> Recommender:
        run_dir = Path(run_dir)
        manifest = open_manifest(run_dir)
        if manifest["task"] != "recommend":
            raise RunDirError(f"{run_dir} is a {manifest['task']} run, not a recommend run — `ecomtune recommend` "
                              "needs a run with `task: recommend`")
        target = run_dir / "model"
        with loading(run_dir):
            config = json.loads((target / "config.json").read_text(encoding="utf-8"))
            weights = load_file(str(target / "weights.safetensors"))
            model = from_config(config, weights.get("text"))
            model.load_state_dict(weights, strict=True)
            ids, texts = ["[PAD]"], [""]
            with open(target / "items.jsonl", encoding="utf-8") as fh:
                for line in fh:
                    row = json.loads(line)
                    ids.append(row["id"])
                    texts.append(row["text"])
        dev = resolve_device(device)
        return cls(model.to(dev), ids, texts, manifest, run_dir, dev, index)

    @property
    def n_items(self) -> int:
        return len(self.item_ids) - 1

    @property
    def item_vectors(self) -> torch.Tensor:
        """Every item's embedding [n_items + 1, hidden], computed once: with text items it projects every title
        embedding (16,859 x 384 for Games), which was half the service's inference time when done per batch."""
        if self._items is None:
            with torch.inference_mode():
                self._items = self.model.item_matrix().detach()
        return self._items

    @property
    def index(self):
        if self._index is None:
            self._index = build_index(self.item_vectors[1:].float().cpu().numpy(), self.index_kind)
        return self._index

    def positions(self, history: list[str], strict: bool = True) -> np.ndarray:
        """External item ids -> internal positions; unknown ids are an error (or skipped with strict=False)."""
        out = []
        for item in history:
            pos = self._position.get(str(item))
            if pos is None:
                if strict:
                    raise DataError(f"unknown item {item!r} in the history — it is not in this run's catalogue "
                                    f"({self.n_items} items; add it first with `add_items`)")
                continue
            out.append(pos)
        return np.asarray(out, dtype=np.int64)

    @property
    def uses_profiles(self) -> bool:
        return bool(self.model.config.get("profile_dim"))

    def _text_encoder(self):
        if self._encoder is None:
            self._encoder = item_text.load_saved_encoder(self.run_dir / "model" / "encoder")
        return self._encoder

    def profile_embeddings(self, profiles: list[str | None]) -> torch.Tensor:
        """Profile texts -> [n, dim] embeddings (zero rows for empty / missing profiles)."""
        if not self.uses_profiles:
            raise EcomtuneError("this recommender has no profile input — train a two_tower model with "
                                "`data.users` to use profile text")
        max_length = self.manifest["recipe"]["model"]["text_max_length"]
        return item_text.encode_profiles(*self._text_encoder(), profiles, max_length, device=self.device)

    @torch.inference_mode()
    def user_vectors(self, histories: list[np.ndarray], profiles: list[str | None] | None = None) -> np.ndarray:
        seqs = left_pad(histories, self.model.max_history).to(self.device)
        if profiles is None or not any(profiles):
            return self.model.user_vectors(seqs, items=self.item_vectors).float().cpu().numpy()
        users = self.profile_embeddings(profiles).to(self.device)
        return self.model.user_vectors(seqs, items=self.item_vectors, profiles=users).float().cpu().numpy()

    def recommend_positions(self, histories: list[np.ndarray], k: int = 10, exclude_history: bool = True,
                            vectors: np.ndarray | None = None,
                            profiles: list[str | None] | None = None) -> list[list[tuple[int, float]]]:
        """Top-k (internal position, score) per history, with history items left out."""
        vectors = self.user_vectors(histories, profiles) if vectors is None else vectors
        extra = max((len(h) for h in histories), default=0) if exclude_history else 0
        return self.picks(histories, zip(*self.index.search(vectors, k + extra)), k, exclude_history)

    def depth(self, history: np.ndarray, k: int, exclude_history: bool = True) -> int:
        """How many index results a user needs so that `k` remain once the history is left out."""
        return k + (len(history) if exclude_history else 0)

    def picks(self, histories: list[np.ndarray], found, k: int = 10,
              exclude_history: bool = True) -> list[list[tuple[int, float]]]:
        """Top-k (internal position, score) per history from its index results `found` ((scores, rows) each)."""
        out = []
        for h, (s, r) in zip(histories, found):
            seen = set(h.tolist()) if exclude_history else set()
            picks = [(int(p) + 1, float(v)) for p, v in zip(r, s) if p >= 0 and int(p) + 1 not in seen]
            out.append(picks[:k])
        return out

    def knows(self, item: str) -> bool:
        """Whether `item` is in the catalogue."""
        return item in self._position

    def predict(self, histories: list[list[str]], k: int = 10, batch_size: int | None = None,
                exclude_history: bool = True) -> list[list[dict]]:
        """The predictor verb: top `k` items for each history (`recommend` for each)."""
        return [self.recommend(h, k, exclude_history) for h in histories]

    def encode(self, histories: list[list[str]], profiles: list[str | None] | None = None) -> np.ndarray:
        """User vectors [n, d] of item-id histories (and profile texts), as the catalogue index is searched with."""
        return self.user_vectors([self.positions(h) for h in histories], profiles)

    def evaluate(self, data=None, **options) -> dict:
        """Full-ranking metrics on the recipe's test split (see `ecomtune.evaluate`)."""
        from ecomtune.registry import task

        return task("recommend").part("evaluate")(self.run_dir, data, device=str(self.device))

    def recommend(self, history: list[str], k: int = 10, exclude_history: bool = True,
                  profile: str | None = None) -> list[dict]:
        """The top-k items for a user whose history (oldest first) is `history` (external item ids); `profile`:
        the user's profile text (two_tower runs trained with `data.users`)."""
        if k < 1:
            raise EcomtuneError(f"k must be >= 1, got {k}")
        if profile and not self.uses_profiles:
            self.profile_embeddings([profile])  # raises the "no profile input" error
        picks = self.recommend_positions([self.positions(history)], k, exclude_history,
                                         profiles=[profile] if profile else None)[0]
        return [{"item": self.item_ids[p], "score": round(s, 6), "text": self.item_texts[p]} for p, s in picks]

    def add_items(self, ids: list[str], texts: list[str]) -> int:
        """Embed new items from their text and append them to the catalogue and the index; returns how many."""
        if self.manifest.get("model", {}).get("item_embedding") == "id" or not (self.run_dir / "model" / "encoder").exists():
            raise EcomtuneError("this recommender has ID-only item embeddings: it cannot embed new items from text "
                                "— train with `model.item_embedding: text` / `text+id`, or a two_tower model")
        ids = [str(i) for i in ids]
        dupes = [i for i in ids if i in self._position]
        if dupes or len(set(ids)) < len(ids):
            raise DataError(f"item {(dupes or ids)[0]!r} is already in the catalogue — new items need new ids")
        empty = [i for i, t in zip(ids, texts) if not str(t).strip()]
        if empty:
            raise DataError(f"item {empty[0]!r} has an empty text — a new item is embedded from its text")
        max_length = self.manifest["recipe"]["model"]["text_max_length"]
        text = item_text.encode_texts(*self._text_encoder(), list(texts), max_length, device=self.device)
        with torch.no_grad():  # not inference_mode: the new rows must stay usable by autograd code
            self.model.add_items(text.to(self.device))
        for i, t in zip(ids, texts):
            self._position[i] = len(self.item_ids)
            self.item_ids.append(i)
            self.item_texts.append(str(t))
        self._index = self._items = None  # rebuilt with the new rows on next use
        return len(ids)

    # --- the service's hooks ----------------------------------------------------------------------------------
    PROFILE_SEP = "\x1f"  # history key: item ids, then the profile text after this separator

    @classmethod
    def history_key(cls, history: list[str], profile: str | None = None) -> str:
        key = " ".join(str(i) for i in history)
        return f"{key}{cls.PROFILE_SEP}{profile}" if profile else key

    def serve_batch(self, keys: list[str], bucket_size: int = 32) -> list[np.ndarray]:
        """Micro-batch of history keys -> one user vector each."""
        parts = [k.partition(self.PROFILE_SEP) for k in keys]
        return list(self.user_vectors([self.positions(h.split(), strict=False) for h, _, _ in parts],
                                      [p or None for _, _, p in parts]))

    def serve_lookup(self, requests: list[tuple[np.ndarray, int]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """The index worker's call: (scores, rows) per (user vector, depth), one index search for all."""
        return search_each(self.index, requests)

    def warmup(self, bucket_size: int = 32) -> None:
        first = self.item_ids[1:3]
        self.serve_batch([self.history_key(first)])
        _ = self.index
