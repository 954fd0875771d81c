"""Padding helpers shared by the recommenders."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def left_pad(seqs: Sequence[np.ndarray], width: int) -> torch.Tensor:
    """[n, width] tensor with each sequence's last `width` items right-aligned (0 = padding on the left)."""
    out = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, s in enumerate(seqs):
        s = np.asarray(s[-width:], dtype=np.int64)
        if len(s):
            out[row, width - len(s):] = torch.from_numpy(s)
    return out
