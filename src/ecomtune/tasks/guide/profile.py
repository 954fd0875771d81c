"""The shopper's profile: from the product ids they bought or viewed, a style vector (the mean of those products'
vectors) and the pieces they already own (so the bundle does not sell them a second sofa); stated preferences come
from the request. A new shopper (no history) has neither, and the guide answers from the room and request alone."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ecomtune.errors import DataError


@dataclass
class Profile:
    history: list[str] = field(default_factory=list)
    style: np.ndarray | None = None  # unit vector in the product text space, or None
    owned: list[str] = field(default_factory=list)  # pieces
    unknown: list[str] = field(default_factory=list)  # history ids not in the catalogue

    @classmethod
    def build(cls, history: list[str], row: dict[str, int], vectors: np.ndarray, pieces: list[str | None],
              strict: bool = False) -> Profile:
        ids = [h.strip() for h in history if h.strip()]
        known = [row[h] for h in ids if h in row]
        unknown = [h for h in ids if h not in row]
        if strict and ids and not known:
            raise DataError(f"history: none of {', '.join(ids[:5])} is in the catalogue — send product ids of this "
                            "guide's catalogue (`ecomtune guide ask GUIDE --history ID,ID`)")
        if not known:
            return cls(ids, None, [], unknown)
        mean = vectors[known].mean(0)
        style = mean / max(float(np.linalg.norm(mean)), 1e-12)
        owned = list(dict.fromkeys(p for p in (pieces[i] for i in known) if p))
        return cls(ids, style.astype(np.float32), owned, unknown)
