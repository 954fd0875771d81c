"""The ONNX Runtime runtime: `model/model.onnx` (the whole classifier, heads included) in an InferenceSession."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ecomtune.errors import RunDirError
from ecomtune.rundir import inside


def import_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise RunDirError("this run directory runs on ONNX Runtime, which is not installed — "
                          "`pip install ecomtune[onnx]`") from None
    return onnxruntime


class OnnxRuntime:
    name = "onnx"

    def __init__(self, path: Path, device: torch.device):
        ort = import_onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = ["CPUExecutionProvider"]
        if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        self.device = torch.device("cpu")
        self.precision = "fp32"

    def __call__(self, input_ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feeds = {"input_ids": input_ids.cpu().numpy().astype(np.int64),
                 "attention_mask": mask.cpu().numpy().astype(np.int64)}
        return tuple(torch.from_numpy(out) for out in self.session.run(None, feeds))


def load(run_dir: Path, manifest: dict, device: torch.device, precision: str) -> OnnxRuntime:
    path = inside(run_dir, manifest["runtime"]["file"])
    if not path.exists():
        raise RunDirError(f"{path}: missing — this ONNX run directory is incomplete; compress the source run again")
    return OnnxRuntime(path, device)
