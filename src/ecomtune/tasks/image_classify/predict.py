"""Load an image run and predict: images are decoded in a background thread while the network runs on the
previous batch (Pillow decodes without the GIL), so decoding overlaps inference."""
from __future__ import annotations

import itertools
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from ecomtune.data.labels import LabelSpace
from ecomtune.errors import DataError
from ecomtune.rundir import loading, open_manifest
from ecomtune.tasks.classify import metrics as flat_metrics
from ecomtune.tasks.classify.model import describe as describe_label
from ecomtune.tasks.image_classify.images import ImageInput, Preprocess, eval_tensor
from ecomtune.tasks.image_classify.weights import TorchRuntime, load_runtime, read_meta
from ecomtune.tasks.taxonomy import metrics as path_metrics
from ecomtune.tasks.taxonomy.model import decode
from ecomtune.tasks.taxonomy.model import describe as describe_path
from ecomtune.training.device import resolve_device


def metrics_module(space: LabelSpace):
    """Flat metrics for one level, taxonomy metrics (per level, path accuracy, valid paths) for several."""
    return flat_metrics if space.depth == 1 else path_metrics


def describe(pred: list[int], probs: list[list[float]], space: LabelSpace) -> dict:
    return describe_label(pred, probs, space) if space.depth == 1 else describe_path(pred, probs, space)


class ImageModel:
    """A fine-tuned image classifier. `ImageModel.load(run_dir)` (or `ecomtune.load`)."""

    task = "image-classify"

    def __init__(self, runtime, pre: Preprocess, space: LabelSpace, manifest: dict | None = None):
        self.runtime = runtime
        self.pre = pre
        self.space = space
        self.manifest = manifest or {}
        self.run_dir: Path | None = None

    @classmethod
    def from_network(cls, model, pre: Preprocess, space: LabelSpace, device: torch.device) -> ImageModel:
        return cls(TorchRuntime(model, device), pre, space)

    @classmethod
    def load(cls, run_dir: str | Path, device: str = "auto") -> ImageModel:
        run_dir = Path(run_dir)
        manifest = open_manifest(run_dir)
        with loading(run_dir):
            _, pre, space = read_meta(run_dir / "model")
            runtime = load_runtime(run_dir, manifest, resolve_device(device))
        model = cls(runtime, pre, space, manifest)
        model.run_dir = run_dir
        return model

    @property
    def model(self):
        return getattr(self.runtime, "model", None)

    def pixel_batches(self, images: list[ImageInput], batch_size: int):
        """(index slice, pixels) per batch; the next batch decodes while the caller runs this one."""
        def decode_batch(start: int):
            return start, torch.stack([eval_tensor(x, self.pre) for x in images[start:start + batch_size]])

        starts = iter(range(0, len(images), batch_size))
        with ThreadPoolExecutor(1) as pool:
            pending = deque(pool.submit(decode_batch, s) for s in itertools.islice(starts, 2))
            while pending:
                start, pixels = pending.popleft().result()
                following = next(starts, None)
                if following is not None:
                    pending.append(pool.submit(decode_batch, following))
                yield slice(start, start + len(pixels)), pixels

    def predict_arrays(self, images: list[ImageInput], batch_size: int = 32, timings: list[float] | None = None,
                       progress: bool = False) -> tuple[np.ndarray, list[np.ndarray]]:
        """-> (predicted ids [n, depth], per-level probabilities) in input order."""
        pred = np.zeros((len(images), self.space.depth), dtype=np.int64)
        probs = [np.zeros((len(images), n), dtype=np.float32) for n in self.space.sizes]
        batches = self.pixel_batches(list(images), batch_size)
        if progress:
            from ecomtune.console import track

            batches = track(batches, -(-len(images) // batch_size), "predicting")
        for idx, pixels in batches:
            start = time.perf_counter()
            ids, level_probs = decode(self.runtime(pixels), self.space)
            pred[idx] = ids.numpy()
            for level, p in enumerate(level_probs):
                probs[level][idx] = p.numpy()
            if timings is not None:
                timings.append(time.perf_counter() - start)
        return pred, probs

    def predict(self, images: list[ImageInput] | ImageInput, batch_size: int = 32) -> list[dict] | dict:
        """Label (or taxonomy path) with probabilities per image: paths, bytes or PIL images."""
        single = not isinstance(images, (list, tuple))
        images = [images] if single else list(images)
        pred, probs = self.predict_arrays(images, batch_size)
        out = [describe(pred[i].tolist(), [p[i].tolist() for p in probs], self.space) for i in range(len(images))]
        return out[0] if single else out

    def serve_batch(self, images: list, bucket_size: int = 32) -> list[tuple]:
        """The service's call on a micro-batch of decoded-or-raw images: (prediction row, per-level probs) each."""
        pred, probs = self.predict_arrays(images, bucket_size)
        return [(pred[i].copy(), tuple(p[i].copy() for p in probs)) for i in range(len(images))]

    def warmup(self, bucket_size: int = 32) -> None:
        from PIL import Image

        blank = Image.new("RGB", (self.pre.size, self.pre.size), (200, 200, 200))
        self.predict_arrays([blank] * min(bucket_size, 4), bucket_size)
        self.predict_arrays([blank], 1)

    def evaluate(self, data: str | Path | None = None, **options) -> dict:
        return evaluate_run(self.run_dir, data, model=self, **options)


def labelled_images(recipe, space: LabelSpace, data: str | Path | None):
    """(paths, label rows, rows with unknown labels): a labelled folder/table, or the recipe's own test split."""
    from ecomtune.tasks.image_classify.data import prepare_images, read_source

    if data is None:
        split = prepare_images(recipe).test
        rows = [tuple(prepared_names(space, r)) for r in split.labels.tolist()]
        return split.paths, rows, 0
    # new labelled data needs the image and label columns only, not the training table's split column
    frame = read_source(str(data), recipe.data.model_copy(update={"split_column": None}), "test")
    levels = recipe.data.levels
    rows = list(frame[levels].itertuples(index=False, name=None))
    known = [space.knows(r) for r in rows]
    if not any(known):
        raise DataError(f"{data}: none of its labels is one the model knows ({', '.join(space.labels[-1][:5])} …) — "
                        "check the label column(s)")
    paths = [p for p, k in zip(frame["image"], known) if k]
    return paths, [r for r, k in zip(rows, known) if k], len(known) - sum(known)


def prepared_names(space: LabelSpace, ids: list[int]) -> list[str]:
    return [space.labels[i][j] for i, j in enumerate(ids)]


def evaluate_run(run_dir: str | Path, data: str | Path | None = None, device: str = "auto", batch_size: int = 32,
                 model: ImageModel | None = None) -> dict:
    """Task metrics of an image run on a labelled folder/table, or on its recipe's test split."""
    from ecomtune.recipes.loader import recipe_of_run

    model = model or ImageModel.load(run_dir, device=device)
    recipe = recipe_of_run(run_dir, model.manifest, need_data=data is None)
    paths, rows, unknown = labelled_images(recipe, model.space, data)
    pred, _ = model.predict_arrays(paths, batch_size, progress=True)
    metrics = metrics_module(model.space).compute(model.space.encode(rows), pred, model.space)
    from ecomtune.tasks.image_classify.slices import image_slices

    slices = image_slices(recipe, paths, model.space.encode(rows), pred, model.space,
                          metrics_module(model.space), data)
    if slices:
        metrics["slices"] = slices
    metrics["rows"] = len(paths)
    metrics["rows_with_unknown_labels"] = unknown
    return metrics
