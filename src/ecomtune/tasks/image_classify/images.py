"""Decoding and transforms in plain PIL + torch (torchvision does not load against this torch build).

`Preprocess` is the backbone's own input convention and is stored in the run directory (`model/preprocess.json`):
EfficientNet-Lite wants (x - 127) / 128, ImageNet-trained Hugging Face models (x/255 - mean) / std. A copied run
therefore always feeds its network the pixels it was trained on.
"""
from __future__ import annotations

import io
import math
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageEnhance, ImageOps

ImageInput = str | Path | bytes | Image.Image


@dataclass(frozen=True)
class Preprocess:
    """Resize the shorter side to size / crop_pct, centre-crop `size`, then (pixel - mean) / std on 0-255."""

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    crop_pct: float = 0.875

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Preprocess:
        return cls(int(d["size"]), tuple(d["mean"]), tuple(d["std"]), float(d.get("crop_pct", 0.875)))

    def normalize(self, array: np.ndarray) -> torch.Tensor:
        """HWC uint8 -> CHW float32, normalised."""
        x = torch.from_numpy(np.array(array, copy=True)).permute(2, 0, 1).float()
        mean = torch.tensor(self.mean).view(3, 1, 1)
        std = torch.tensor(self.std).view(3, 1, 1)
        return (x - mean) / std


def open_rgb(source: ImageInput, draft: int | None = None) -> Image.Image:
    """Any image input -> an RGB PIL image, EXIF orientation applied; alpha is composited onto white.
    `draft`: let the JPEG decoder scale down by 1/2, 1/4, 1/8 while keeping both sides >= draft (fast)."""
    if isinstance(source, Image.Image):
        img = source
    else:
        img = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
        if draft and img.format == "JPEG":
            img.draft("RGB", (draft, draft))
    img = ImageOps.exif_transpose(img)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return img.convert("RGB") if img.mode != "RGB" else img


def eval_array(source: ImageInput, pre: Preprocess) -> np.ndarray:
    """Deterministic: shorter side -> size / crop_pct, centre crop -> HWC uint8 [size, size, 3]."""
    short = round(pre.size / pre.crop_pct)
    img = open_rgb(source, draft=short)
    w, h = img.size
    scale = short / min(w, h)
    nw, nh = max(pre.size, round(w * scale)), max(pre.size, round(h * scale))
    left, top = (nw - pre.size) // 2, (nh - pre.size) // 2
    # resize straight into the crop box: one resampling pass over the pixels that are kept
    box = (left / nw * w, top / nh * h, (left + pre.size) / nw * w, (top + pre.size) / nh * h)
    img = img.resize((pre.size, pre.size), Image.BILINEAR, box=box, reducing_gap=3.0)
    return np.asarray(img, dtype=np.uint8)


def eval_tensor(source: ImageInput, pre: Preprocess) -> torch.Tensor:
    return pre.normalize(eval_array(source, pre))


def train_tensor(source: ImageInput, pre: Preprocess, aug, rng: random.Random) -> torch.Tensor:
    """Random resized crop (area share `aug.crop_scale`, aspect 3/4..4/3), horizontal flip, colour jitter."""
    img = open_rgb(source, draft=pre.size)
    w, h = img.size
    box = (0, 0, w, h)
    for _ in range(10):
        area = w * h * rng.uniform(*aug.crop_scale)
        ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        cw, ch = round(math.sqrt(area * ratio)), round(math.sqrt(area / ratio))
        if 0 < cw <= w and 0 < ch <= h:
            left, top = rng.randint(0, w - cw), rng.randint(0, h - ch)
            box = (left, top, left + cw, top + ch)
            break
    img = img.resize((pre.size, pre.size), Image.BILINEAR, box=box, reducing_gap=3.0)
    if aug.flip and rng.random() < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    if aug.color_jitter:
        s = aug.color_jitter
        for enhance in rng.sample([ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color], 3):
            img = enhance(img).enhance(rng.uniform(1 - s, 1 + s))
    return pre.normalize(np.asarray(img, dtype=np.uint8))


def mix(pixels: torch.Tensor, labels: torch.Tensor, aug, gen: torch.Generator):
    """Mixup or cutmix of a batch with itself in shuffled order -> (pixels, labels of the partners, lambda).
    Returns lambda = 1 (no mixing) when neither is on."""
    kinds = [k for k in ("mixup", "cutmix") if getattr(aug, k) > 0]
    if not kinds or len(pixels) < 2:
        return pixels, labels, 1.0
    kind = kinds[int(torch.randint(len(kinds), (1,), generator=gen))]
    alpha = getattr(aug, kind)
    lam = float(np.random.default_rng(int(torch.randint(2 ** 31, (1,), generator=gen))).beta(alpha, alpha))
    order = torch.randperm(len(pixels), generator=gen)
    if kind == "mixup":
        return lam * pixels + (1 - lam) * pixels[order], labels[order], lam
    _, _, h, w = pixels.shape
    ch, cw = int(h * math.sqrt(1 - lam)), int(w * math.sqrt(1 - lam))
    cy, cx = int(torch.randint(h, (1,), generator=gen)), int(torch.randint(w, (1,), generator=gen))
    y0, y1, x0, x1 = max(cy - ch // 2, 0), min(cy + ch // 2, h), max(cx - cw // 2, 0), min(cx + cw // 2, w)
    pixels = pixels.clone()
    pixels[:, :, y0:y1, x0:x1] = pixels[order, :, y0:y1, x0:x1]
    lam = 1 - (y1 - y0) * (x1 - x0) / (h * w)  # the area actually pasted
    return pixels, labels[order], lam


def thumbnail(source: ImageInput, side: int = 160) -> np.ndarray:
    """A small RGB copy for report figures."""
    img = open_rgb(source, draft=side)
    img.thumbnail((side, side))
    return np.asarray(img)
