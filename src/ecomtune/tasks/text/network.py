"""The network behind every text-classification task: a pretrained backbone, pooling, one linear head per level.

Flat classification has one level; a taxonomy has one per level (L1, L2, L3) and its decoder picks the best
*valid* path from the per-level scores. The backbone stays a plain Hugging Face model, so it is saved with
`save_pretrained` and loads anywhere; the heads live beside it in `heads.safetensors`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ecomtune.backbones.encode import pool


class TextClassifier(nn.Module):
    """Backbone + pooling + dropout + one `nn.Linear` head per label level; the loss sums the levels' CE."""

    def __init__(self, backbone: nn.Module, sizes: list[int], pooling: str = "mean", dropout: float = 0.1,
                 label_smoothing: float = 0.0, loss_fn=None):
        super().__init__()
        self.backbone = backbone
        self.pooling = pooling
        self.label_smoothing = label_smoothing
        self.loss_fn = loss_fn  # (logits per level, labels [batch, depth]) -> loss; None: summed cross-entropy
        hidden = backbone.config.get_text_config().hidden_size
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleList([nn.Linear(hidden, n) for n in sizes])

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.backbone(input_ids=input_ids, attention_mask=attention_mask)
        hidden = out.last_hidden_state
        # Prompt tuning (peft) returns its virtual tokens first: keep the states of the real tokens.
        hidden = hidden[:, hidden.shape[1] - attention_mask.shape[1]:]
        return pool(hidden, attention_mask, self.pooling)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor | None = None):
        pooled = self.dropout(self.encode(input_ids, attention_mask))
        logits = tuple(head(pooled).float() for head in self.heads)
        out = {"logits": logits}
        if labels is not None and self.loss_fn is not None:
            out["loss"] = self.loss_fn(logits, labels)
        elif labels is not None:
            out["loss"] = sum(F.cross_entropy(lg, labels[:, i], label_smoothing=self.label_smoothing)
                              for i, lg in enumerate(logits))
        return out

    def head_state(self) -> dict[str, torch.Tensor]:
        return {f"heads.{k}": v.detach().cpu().contiguous() for k, v in self.heads.state_dict().items()}
