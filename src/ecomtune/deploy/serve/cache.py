"""A thread-safe LRU cache (any hashable key -> any value) with hit and miss counters.

The service keys predictions by `(model, version, text)` — the text exactly as the model reads it, so an answer
never depends on who asked first — and keeps the raw prediction row and probability rows as the value (so the
drift monitor sees cache hits too). Recommendation and search use the same keys, with a history key or a query.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any


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
