"""Load a run directory and predict: batched, length-sorted, no gradients, bf16 where the hardware is fast at it.

Sorting by token length before batching is where most of the CPU speed comes from: a batch then pads to
nearly its real length instead of to its longest outlier.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer

from ecomtune.console import track
from ecomtune.errors import RunDirError
from ecomtune.methods.threshold import apply_threshold
from ecomtune.rundir import loading, open_manifest
from ecomtune.tasks.text.weights import check_text_run
from ecomtune.tasks.text.runtimes import load_runtime
from ecomtune.tasks.text.runtimes.torch import TorchRuntime
from ecomtune.data.labels import LabelSpace
from ecomtune.registry import task
from ecomtune.data.template import apply_template
from ecomtune.backbones.encode import length_sorted_batches
from ecomtune.training.device import autocast, resolve_device, resolve_precision

WARMUP_TEXTS = ["ok", "fits well, nice colour", ("the fabric is thinner than in the photos and the size runs small, "
                                                 "so I sent it back and ordered one size up, which fits")]


class ExpertModel:
    """A fine-tuned model ready to predict. Build it with `ExpertModel.load(run_dir)` (or `ecomtune.load`).

    `runtime` runs the network: PyTorch for a trained run, int8 PyTorch or ONNX Runtime for a compressed one.
    """

    def __init__(self, runtime, tokenizer, space: LabelSpace, task: str, max_length: int,
                 manifest: dict | None = None, template: str | None = None):
        self.runtime = runtime
        self.tokenizer = tokenizer
        self.space = space
        self.task = task
        self.max_length = max_length
        self.manifest = manifest or {}
        self.template = template
        self.threshold = self.manifest.get("head", {}).get("threshold")  # tuned decision threshold, or None
        self.run_dir: Path | None = None  # set when loaded from a run directory

    @classmethod
    def from_network(cls, model, tokenizer, space: LabelSpace, task: str, max_length: int, device: torch.device,
                     precision: str, manifest: dict | None = None, template: str | None = None) -> ExpertModel:
        """Wrap an in-memory PyTorch `TextClassifier` (what training has just produced)."""
        return cls(TorchRuntime(model, device, precision), tokenizer, space, task, max_length, manifest, template)

    @property
    def model(self):
        """The PyTorch network (torch and torch-int8 runtimes; an ONNX run has none)."""
        return getattr(self.runtime, "model", None)

    @property
    def device(self) -> torch.device:
        return self.runtime.device

    @property
    def precision(self) -> str:
        return self.runtime.precision

    @precision.setter
    def precision(self, value: str) -> None:
        self.runtime.precision = value

    def logits(self, input_ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """One batch through the network: a logits tensor per label level."""
        return self.runtime(input_ids, mask)

    @classmethod
    def load(cls, run_dir: str | Path, device: str = "auto", precision: str = "auto") -> ExpertModel:
        """Load from a (possibly copied or moved) run directory; paths inside it are relative."""
        run_dir = Path(run_dir)
        manifest = open_manifest(run_dir)
        if task(manifest["task"]).part("load") is not load:
            raise RunDirError(f"{run_dir}: a {manifest['task']} run, not a text classifier — use `ecomtune "
                              f"{manifest['task']}` (or `ecomtune.load`, which opens every kind of run)")
        space = check_text_run(run_dir, manifest)
        head = manifest["head"]
        dev = resolve_device(device)
        with loading(run_dir):
            runtime = load_runtime(run_dir, manifest, dev, resolve_precision(precision, dev))
            tokenizer = AutoTokenizer.from_pretrained(run_dir / "model")
        model = cls(runtime, tokenizer, space, manifest["task"], head["max_length"], manifest,
                    template=head.get("template"))
        model.run_dir = run_dir
        return model

    def _batches(self, texts: list[str], batch_size: int):
        return length_sorted_batches(self.tokenizer, apply_template(texts, self.template), self.max_length,
                                     batch_size)

    @torch.inference_mode()
    def predict_arrays(self, texts: list[str], batch_size: int = 64, timings: list[float] | None = None,
                       progress: bool = False) -> tuple[np.ndarray, list[np.ndarray]]:
        """-> (predicted ids [n, depth], per-level probabilities [n, n_labels]) in input order.

        Per-batch wall times are appended to `timings` when given (for latency percentiles).
        """
        decode = task(self.task).module("model").decode
        pred = np.zeros((len(texts), self.space.depth), dtype=np.int64)
        probs = [np.zeros((len(texts), n), dtype=np.float32) for n in self.space.sizes]
        batches = self._batches(texts, batch_size)
        if progress:
            batches = track(batches, -(-len(texts) // batch_size), "predicting")
        for idx, input_ids, mask in batches:
            start = time.perf_counter()
            ids, level_probs = decode(self.logits(input_ids, mask), self.space)
            pred[idx] = ids.cpu().numpy()
            for level, p in enumerate(level_probs):
                probs[level][idx] = p.float().cpu().numpy()
            if timings is not None:
                timings.append(time.perf_counter() - start)
        return apply_threshold(pred, probs, self.threshold, self.space), probs

    @torch.inference_mode()
    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """float32 [n, dim] unit vectors of the fine-tuned encoder (the pooled states the heads read), in input
        order: catalogue vectors for similarity and `ecomtune embed`. PyTorch runtimes only (an ONNX copy has no
        pooled output)."""
        network = self.model
        if network is None:
            raise RunDirError(f"{self.run_dir}: a {self.runtime.name} copy has no encoder output to embed with — "
                              "embed with the original run")
        out = np.zeros((len(texts), network.backbone.config.get_text_config().hidden_size), dtype=np.float32)
        for idx, input_ids, mask in self._batches(list(texts), batch_size):
            with autocast(self.device, self.precision):
                pooled = network.encode(input_ids.to(self.device), mask.to(self.device))
            out[idx] = torch.nn.functional.normalize(pooled.float(), dim=-1).cpu().numpy()
        return out

    def serve_batch(self, texts: list[str], bucket_size: int = 32) -> list[tuple]:
        """The service's call on a micro-batch: per text, its prediction row and per-level probabilities (copies,
        so a cached row does not hold the batch's arrays)."""
        pred, probs = self.predict_arrays(texts, bucket_size)
        return [(pred[i].copy(), tuple(p[i].copy() for p in probs)) for i in range(len(texts))]

    def warmup(self, bucket_size: int = 32) -> None:
        """First calls allocate and pick kernels: keep that out of the first request's latency."""
        self.predict_arrays(WARMUP_TEXTS, bucket_size)
        self.predict_arrays(WARMUP_TEXTS[:1], 1)

    def evaluate(self, data: str | Path | None = None, **options) -> dict:
        """Task metrics on a labelled file, or on the recipe's test split (see `ecomtune.evaluate`)."""
        return task(self.task).part("evaluate")(self.run_dir, data, model=self, **options)

    def predict(self, texts: list[str] | str, batch_size: int = 64) -> list[dict]:
        """Labels (or taxonomy paths) with probabilities, one dict per text."""
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        pred, probs = self.predict_arrays(texts, batch_size)
        describe = task(self.task).module("model").describe
        out = [describe(pred[i].tolist(), [p[i].tolist() for p in probs], self.space) for i in range(len(texts))]
        return out[0] if single else out


def load(run_dir: str | Path, device: str = "auto", precision: str = "auto") -> ExpertModel:
    """Load a trained model from its run directory."""
    return ExpertModel.load(run_dir, device=device, precision=precision)
