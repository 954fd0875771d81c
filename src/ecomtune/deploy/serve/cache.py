"""A thread-safe LRU cache (any hashable key -> any value) with hit and miss counters.

The service keys predictions by `(model, version, normalize_text(text))` and keeps the raw prediction row and
probability rows as the value (so the drift monitor sees cache hits too): texts that differ only in spacing or
character width share one entry. Recommendation embeddings can reuse the class with their own keys.
"""
from __future__ import annotations

import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

_SPACES = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """NFKC, trimmed, runs of whitespace collapsed to one space; case is kept (it can carry meaning: "OK" vs "ok")."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip()


class LRUCache:
    """At most `maxsize` entries, least recently used evicted first; `maxsize=0` stores nothing and counts nothing."""

    def __init__(self, maxsize: int):
        if maxsize < 0:
            raise ValueError(f"maxsize must be >= 0, got {maxsize}")
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.maxsize > 0

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The value for `key` (now the most recently used), or `default`; counts a hit or a miss."""
        if not self.maxsize:
            return default
        with self._lock:
            try:
                self._data.move_to_end(key)
            except KeyError:
                self.misses += 1
                return default
            self.hits += 1
            return self._data[key]

    def put(self, key: Hashable, value: Any) -> None:
        if not self.maxsize:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Hashable) -> bool:  # no recency update, no counting
        return key in self._data

    def stats(self) -> dict:
        total = self.hits + self.misses
        return {"size": len(self), "maxsize": self.maxsize, "hits": self.hits, "misses": self.misses,
                "hit_rate": self.hits / total if total else 0.0}
