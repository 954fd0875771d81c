"""An image run's `model/` folder, and the runtimes that execute it.

    model/weights.safetensors    the whole classifier (backbone + heads), fp32
    model/backbone.json          how to rebuild the architecture offline: {"kind", "name", "config"}
    model/preprocess.json        the backbone's input convention (size, mean, std, crop_pct): see images.Preprocess
    model/labels.json            the label space (levels, labels, valid paths)
    model/model.onnx             ONNX runs only (`ecomtune compress --method onnx|onnx-int8`)

A runtime maps pixel batches [batch, 3, size, size] -> a tuple of logits, one per label level: `torch` (a trained
run), `torch-int8` (dynamic int8 linear layers) and `onnx` (ONNX Runtime; fp32 or static int8 QDQ).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ecomtune.data.labels import LabelSpace
from ecomtune.errors import RunDirError
from ecomtune.registry import Registry
from ecomtune.tasks.image_classify.backbones import build_backbone
from ecomtune.tasks.image_classify.images import Preprocess
from ecomtune.tasks.image_classify.network import ImageClassifier

WEIGHTS, BACKBONE, PREPROCESS, LABELS, ONNX = ("weights.safetensors", "backbone.json", "preprocess.json",
                                               "labels.json", "model.onnx")


def _write_json(path: Path, value: dict) -> None:
    path.write_text(json.dumps(value, indent=1, ensure_ascii=False), encoding="utf-8")


def save_network(model_dir: Path, model: ImageClassifier, backbone: dict, pre: Preprocess, space: LabelSpace) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(model_dir / WEIGHTS))
    save_meta(model_dir, backbone, pre, space)


def save_meta(model_dir: Path, backbone: dict, pre: Preprocess, space: LabelSpace) -> None:
    _write_json(model_dir / BACKBONE, backbone)
    _write_json(model_dir / PREPROCESS, pre.to_dict())
    _write_json(model_dir / LABELS, space.to_dict())


def read_meta(model_dir: Path) -> tuple[dict, Preprocess, LabelSpace]:
    missing = [n for n in (BACKBONE, PREPROCESS, LABELS) if not (model_dir / n).is_file()]
    if missing:
        raise RunDirError(f"{model_dir}: {missing[0]} is missing — the run directory is incomplete; copy it whole "
                          "or retrain")
    load = lambda name: json.loads((model_dir / name).read_text(encoding="utf-8"))
    return load(BACKBONE), Preprocess.from_dict(load(PREPROCESS)), LabelSpace.from_dict(load(LABELS))


def load_network(model_dir: Path, dropout: float = 0.0) -> ImageClassifier:
    """The fp32 classifier of a run: the architecture rebuilt from backbone.json, then the run's own weights."""
    backbone_desc, _, space = read_meta(model_dir)
    if not (model_dir / WEIGHTS).is_file():
        raise RunDirError(f"{model_dir}: {WEIGHTS} is missing — the run directory is incomplete; copy it whole or "
                          "retrain")
    backbone, _ = build_backbone(backbone_desc["name"], pretrained=False, config=backbone_desc.get("config"))
    model = ImageClassifier(backbone, space.sizes, dropout)
    model.load_state_dict(load_file(str(model_dir / WEIGHTS)))
    return model.eval()


class TorchRuntime:
    def __init__(self, model: ImageClassifier, device: torch.device):
        self.model = model.to(device).eval()
        self.device = device

    def __call__(self, pixels: torch.Tensor) -> tuple[torch.Tensor, ...]:
        with torch.inference_mode():
            return tuple(lg.float().cpu() for lg in self.model(pixels.to(self.device))["logits"])


class OnnxRuntime:
    """ONNX Runtime on the CPU; the graph's outputs are the logits of each level."""

    def __init__(self, path: Path, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.model = None

    def __call__(self, pixels: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.session.run(None, {self.input: pixels.numpy().astype(np.float32, copy=False)})
        return tuple(torch.from_numpy(o) for o in out)


def _torch(run_dir: Path, manifest: dict, device: torch.device):
    return TorchRuntime(load_network(run_dir / "model"), device)


def _int8(run_dir: Path, manifest: dict, device: torch.device):
    model = torch.ao.quantization.quantize_dynamic(load_network(run_dir / "model"), {torch.nn.Linear},
                                                   dtype=torch.qint8)
    return TorchRuntime(model, torch.device("cpu"))


def _onnx(run_dir: Path, manifest: dict, device: torch.device):
    path = run_dir / "model" / ONNX
    if not path.is_file():
        raise RunDirError(f"{path} is missing — the ONNX run is incomplete; compress the source run again")
    return OnnxRuntime(path)


RUNTIMES: Registry = Registry("image runtime")
RUNTIMES.register("torch", _torch)
RUNTIMES.register("torch-int8", _int8)
RUNTIMES.register("onnx", _onnx)


def load_runtime(run_dir: Path, manifest: dict, device: torch.device):
    name = (manifest.get("runtime") or {}).get("name", "torch")
    return RUNTIMES.get(name)(run_dir, manifest, device)
