"""`onnx` and `onnx-int8`: export the whole classifier (backbone + pooling + heads; adapters merged first) to ONNX
and run it on ONNX Runtime; `onnx-int8` then quantizes the weights to int8 (ONNX Runtime dynamic quantization:
MatMul weights per output channel, the embedding table per tensor).

Speed comes from three choices, each measured on minilm (bench/compress.py):
- the TorchScript exporter with eager attention: its graph has the attention pattern that ONNX Runtime's
  transformer optimizer recognises (the torch.export-based exporter's graph does not fuse, and ran ~2.5x slower
  after int8);
- that optimizer (`onnxruntime.transformers`) fuses attention, embedding + LayerNorm, skip + LayerNorm and
  bias + GELU for BERT-style encoders, so int8 then covers whole fused blocks;
- per-output-channel int8 weights, which keep accuracy where one scale per tensor lost some.
The export is checked before anything is written: the ONNX model must give the PyTorch logits on real texts.
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ecomtune.errors import EcomtuneError
from ecomtune.tasks.text.runtimes.int8 import keep_fp32_layers
from ecomtune.tasks.text.runtimes.onnx import OnnxRuntime, import_onnxruntime

OPSET = 18
FILE = "model.onnx"
MAX_EXPORT_DIFF = 1e-3  # fp32 export vs PyTorch, max |logit difference|


class _Logits(nn.Module):
    """(input_ids, attention_mask) -> one logits tensor per label level: the graph ONNX sees."""

    def __init__(self, network):
        super().__init__()
        self.network = network

    def forward(self, input_ids, attention_mask):
        return tuple(self.network(input_ids, attention_mask)["logits"])


def export(network, path: Path, sample: tuple[torch.Tensor, torch.Tensor]) -> Path:
    """ONNX export with dynamic batch and sequence length (eager attention, TorchScript exporter: see above)."""
    import_onnxruntime()
    outputs = [f"logits_{i}" for i in range(len(network.heads))]
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
            **{name: {0: "batch"} for name in outputs}}
    backbone = network.backbone
    attention = backbone.config._attn_implementation
    backbone.set_attn_implementation("eager")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(_Logits(network).eval(), sample, str(path), input_names=["input_ids", "attention_mask"],
                              output_names=outputs, dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    finally:
        backbone.set_attn_implementation(attention)
        network.eval()  # the exporter restores the wrapper's training flag, recursively
    return path


def fuse(path: Path, config, target: Path) -> dict:
    """ONNX Runtime's transformer fusions (attention, LayerNorm/RMSNorm, GELU), written to `target`; returns the
    fused-op counts. Architectures it does not know simply fuse less."""
    from onnxruntime.transformers.optimizer import optimize_model

    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = optimize_model(str(path), model_type="bert", num_heads=text.num_attention_heads,
                               hidden_size=text.hidden_size)
    model.save_model_to_file(str(target))
    return {k: v for k, v in model.get_fused_operator_statistics().items() if v}


def max_difference(network, path: Path, batches) -> float:
    """Largest |logit| difference between PyTorch and ONNX Runtime over the sample batches."""
    session = OnnxRuntime(path, torch.device("cpu"))
    worst = 0.0
    with torch.inference_mode():
        for input_ids, mask in batches:
            ref = network(input_ids, mask)["logits"]
            got = session(input_ids, mask)
            worst = max(worst, *(float((r.float() - g).abs().max()) for r, g in zip(ref, got)))
    return worst


def quantize(source: Path, target: Path, keep_fp32: list[str]) -> Path:
    """int8 weights for every MatMul/Gather/Attention except nodes whose name contains a `keep_fp32` pattern
    (the TorchScript exporter names nodes after their module path, e.g. /backbone/layers.3/mlp/down_proj/MatMul)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    names = [n.name for n in onnx.load(str(source), load_external_data=False).graph.node]
    exclude = [n for n in names if any(p in n for p in keep_fp32)]

    # Fused ops (Attention, SkipLayerNormalization) come from the com.microsoft domain, which shape inference does
    # not type: their outputs are float.
    logging.disable(logging.WARNING)  # it logs "consider pre-processing" on every call
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True,
                         nodes_to_exclude=exclude, extra_options={"DefaultTensorType": 1})  # TensorProto.FLOAT
    finally:
        logging.disable(logging.NOTSET)
    return target


class OnnxExport:
    """The two ONNX methods differ only in the int8 step."""

    def __init__(self, int8: bool):
        self.int8 = int8
        self.DESCRIPTION = "ONNX Runtime, int8 weights" if int8 else "ONNX Runtime, fp32"
        self.OPTIONS = ("keep_fp32",) if int8 else ()

    def check(self, options: dict) -> None:
        import_onnxruntime()
        try:
            import onnx  # noqa: F401
            import onnxscript  # noqa: F401
        except ImportError:
            raise EcomtuneError("ONNX export needs onnx and onnxscript — `pip install ecomtune[onnx]`") from None

    def run(self, network, model_dir: Path, context) -> dict:
        keep = context.options.get("keep_fp32") or []
        keep_fp32_layers(network.backbone, keep)  # a pattern that matches nothing: an error before the export
        batches = context.sample_batches
        context.say("exporting to ONNX")
        plain = export(network, model_dir / "model-plain.onnx", batches[0])
        fp32 = model_dir / (FILE if not self.int8 else "model-fp32.onnx")
        try:
            fused = fuse(plain, network.backbone.config, fp32)
            diff = max_difference(network, fp32, batches)
        except Exception:  # noqa: BLE001 - the optimizer failing on an architecture means: do not fuse
            fused, diff = {}, float("inf")
        if not np.isfinite(diff) or diff > MAX_EXPORT_DIFF:  # a fusion went wrong: keep the graph as exported
            context.say(f"fusing changed the outputs (max |diff| {diff:.2g}); keeping the graph as exported")
            plain.replace(fp32)
            fused, diff = {}, max_difference(network, fp32, batches)
        plain.unlink(missing_ok=True)
        if not np.isfinite(diff) or diff > MAX_EXPORT_DIFF:
            raise EcomtuneError(f"the ONNX export gives different logits from PyTorch (max |diff| {diff:.2g}) — "
                                "report this backbone; `--method int8` works without ONNX")
        runtime = {"name": "onnx", "file": f"model/{FILE}", "opset": OPSET, "weights": "fp32",
                   "fused_ops": fused, "export_max_abs_diff": diff}
        if self.int8:
            context.say("quantizing the ONNX weights to int8")
            quantize(fp32, model_dir / FILE, keep)
            for leftover in model_dir.glob("model-fp32.onnx*"):
                leftover.unlink()
            runtime.update(weights="int8", keep_fp32=keep)
        return {"runtime": runtime}


FP32 = OnnxExport(int8=False)
INT8 = OnnxExport(int8=True)
