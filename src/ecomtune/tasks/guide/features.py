"""The frozen encoders: product photos -> pooled CNN features, room photos -> a grid of region features (one per
32 x 32 pixels) plus a pooled vector for the scene recogniser, texts -> sentence vectors. The guide trains only small
projections on top, so every backbone pass happens once per catalogue (`guide build`) and once per question."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from ecomtune.backbones.registry import resolve_backbone
from ecomtune.tasks.image_classify.backbones import (
    LiteBackbone,
    build_backbone,
    preprocess_for,
)
from ecomtune.tasks.image_classify.images import ImageInput, Preprocess, eval_tensor
from ecomtune.tasks.search.biencoder import BiEncoder
from ecomtune.console import ProgressBar


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)).astype(np.float32)


class Encoders:
    """The image backbone (None: text only) and the text encoder, in eval mode on the CPU."""

    def __init__(self, image_backbone: str | None, text_backbone: str, image_size: int = 224, room_size: int = 448,
                 max_length: int = 64):
        self.image = None
        if image_backbone:
            self.image, _ = build_backbone(image_backbone)
            self.image.eval()
            self.pre = preprocess_for(image_backbone, image_size)
            self.room_pre = Preprocess(room_size, self.pre.mean, self.pre.std, 1.0)  # the whole shorter side
        self.text = BiEncoder.from_pretrained(resolve_backbone(text_backbone).path, max_length=max_length,
                                              query_max_length=max_length)

    @property
    def image_dim(self) -> int:
        return int(self.image.num_features) if self.image is not None else 0

    @property
    def text_dim(self) -> int:
        return self.text.dim

    def texts(self, texts: list[str], progress: str | None = None) -> np.ndarray:
        return _unit(self.text.encode(list(texts), progress=progress)) if texts else np.zeros((0, self.text_dim),
                                                                                            np.float32)

    @torch.inference_mode()
    def photos(self, sources: list[ImageInput | None], progress: str | None = None, batch_size: int = 32
               ) -> np.ndarray:
        """Pooled unit features [n, dim]; a None source (no photo) is a zero row."""
        out = np.zeros((len(sources), self.image_dim), np.float32)
        rows = [i for i, s in enumerate(sources) if s is not None]
        workers = min(4, os.cpu_count() or 1)
        with ProgressBar(progress, len(rows)) as advance, ThreadPoolExecutor(workers) as pool:
            for start in range(0, len(rows), batch_size):
                chunk = rows[start:start + batch_size]
                pixels = list(pool.map(lambda i: eval_tensor(sources[i], self.pre), chunk))
                out[chunk] = _unit(self.image(torch.stack(pixels)).numpy())
                advance(len(chunk))
        return out

    @torch.inference_mode()
    def room(self, source: ImageInput) -> tuple[np.ndarray, np.ndarray]:
        """(region features [regions, dim], pooled feature [dim]), unit vectors: the regions at `room_size`, the
        pooled vector at the product resolution (what the scene recogniser reads)."""
        regions = feature_map(self.image, eval_tensor(source, self.room_pre)[None])[0]
        pooled = self.image(eval_tensor(source, self.pre)[None])[0]
        return _unit(regions.numpy()), _unit(pooled.numpy())


def feature_map(backbone: torch.nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """[batch, regions, dim]: the last feature map before pooling (CNNs), or the patch tokens (ViT-style)."""
    if isinstance(backbone, LiteBackbone):
        x = backbone.embeddings(pixels)
        for block in backbone.blocks:
            x = block(x, drop_connect_rate=0.0)
        x = backbone.head(x)
    else:
        x = backbone.model(pixel_values=pixels).last_hidden_state
        if x.dim() == 3:
            return x[:, 1:]
    return x.flatten(2).transpose(1, 2)
