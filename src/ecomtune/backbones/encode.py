"""What every encoder-based task does with a backbone's outputs: pool token states into one vector, and batch texts
by token length so that a batch pads to nearly its real length."""
from __future__ import annotations

import numpy as np
import torch


def pool(hidden: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    """[batch, seq, dim] token states -> [batch, dim]. `last` works for left and right padding alike."""
    if how == "cls":
        return hidden[:, 0]
    if how == "last":
        positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
        last = (positions * mask).argmax(dim=1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def length_sorted_batches(tokenizer, texts: list[str], max_length: int, batch_size: int):
    """(row indices, input_ids, attention_mask) batches of texts sorted by token length (less padding)."""
    ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    order = np.argsort([len(x) for x in ids], kind="stable")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        width = max(len(ids[i]) for i in idx)
        input_ids = torch.full((len(idx), width), pad, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):
            input_ids[row, :len(ids[i])] = torch.tensor(ids[i])
            mask[row, :len(ids[i])] = 1
        yield idx, input_ids, mask
