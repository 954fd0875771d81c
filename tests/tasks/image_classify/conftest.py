"""Toy photos a tiny model can learn (noise around one colour per class) and a tiny random ResNet backbone."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

COLOURS = {"red": (200, 40, 40), "green": (40, 180, 60), "blue": (40, 60, 200)}


def jpeg(colour: tuple[int, int, int], seed: int = 0, side: int = 48) -> bytes:
    """A `side` x `side` JPEG of noise around `colour`."""
    from PIL import Image

    noise = np.random.default_rng(seed).normal(0, 30, (side, side, 3))
    pixels = np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=90)
    return out.getvalue()


def toy_photos(folder: Path, per_class: int = 14) -> Path:
    """A folder per class (red/green/blue), `per_class` distinct JPEGs each."""
    for c, (name, colour) in enumerate(COLOURS.items()):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            (folder / name / f"{name}{i}.jpg").write_bytes(jpeg(colour, seed=100 * c + i))
    return folder


def save_tiny_resnet(path: Path) -> str:
    """A 2-stage, 8/16-channel ResNet with seeded random weights, saved as a local Hugging Face model folder."""
    import torch
    from transformers import ResNetConfig, ResNetModel

    if not (path / "config.json").is_file():
        torch.manual_seed(0)
        ResNetModel(ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
                                 layer_type="basic")).save_pretrained(path)
    return str(path)


def image_recipe(data: Path, backbone: str, out: Path, name: str = "colours") -> dict:
    return {"name": name, "task": "image-classify",
            "data": {"train": str(data), "test_fraction": 0.25, "validation_fraction": 0.15},
            "model": {"backbone": backbone, "image_size": 32},
            "training": {"epochs": 2, "batch_size": 8, "learning_rate": 3e-3},
            "evaluation": {"mistakes": 0, "gradcam": 0},
            "output": {"dir": str(out)}}


@pytest.fixture(scope="session")
def tiny_resnet(tmp_path_factory) -> str:
    """The tiny ResNet's folder, to use as `model.backbone`."""
    return save_tiny_resnet(tmp_path_factory.mktemp("tiny-resnet"))



@pytest.fixture(scope="session")
def image_run(tiny_resnet, tmp_path_factory) -> Path:
    """A trained red/green/blue classifier on the tiny ResNet (its photos stay beside it), without a baseline."""
    import ecomtune

    tmp = tmp_path_factory.mktemp("image-run")
    recipe = image_recipe(toy_photos(tmp / "photos"), tiny_resnet, tmp / "run")
    recipe["evaluation"]["baseline"] = False
    return ecomtune.train(recipe)
