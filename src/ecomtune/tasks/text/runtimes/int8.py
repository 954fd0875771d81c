"""The dynamic-int8 PyTorch runtime: Linear weights stored and run as int8, activations quantized on the fly.

`torch.ao` quantized modules do not serialize to safetensors, so the run directory stores plain tensors instead:
for every quantized Linear its int8 weight, per-output-channel scales and bias; large embedding tables are
stored as int8 with one scale per row and widened back to fp32 on load (they are lookups, not matmuls). Loading
rebuilds the architecture from `config.json`, quantizes it and drops the stored weights in.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.ao.nn.quantized import dynamic as nnqd
from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

from ecomtune.errors import RecipeError, RunDirError
from ecomtune.tasks.text.runtimes.torch import TorchRuntime
from ecomtune.tasks.text.network import TextClassifier

WEIGHTS = "int8.safetensors"
MIN_EMBEDDING_ROWS = 1024  # smaller tables (positions, token types) stay fp32: too small to matter


def keep_fp32_layers(backbone: nn.Module, patterns: list[str]) -> list[str]:
    """Names of the Linear layers matching any of `patterns` (substrings); each pattern must match one."""
    linears = [name for name, m in backbone.named_modules() if isinstance(m, nn.Linear)]
    for pattern in patterns:
        if not any(pattern in name for name in linears):
            examples = sorted({name.split(".")[-1] for name in linears})
            raise RecipeError(f"`--keep-fp32 {pattern}` matches no Linear layer — layer names end in: "
                              f"{', '.join(examples[:12])}")
    return [name for name in linears if any(p in name for p in patterns)]


def quantize_backbone(backbone: nn.Module, keep_fp32: list[str] | None = None) -> nn.Module:
    """Every nn.Linear -> dynamic int8 with per-output-channel weight scales (noticeably more accurate than
    one scale per tensor for fine-tuned transformers), except those matching `keep_fp32` patterns."""
    kept = set(keep_fp32_layers(backbone, keep_fp32)) if keep_fp32 else set()
    spec = {name: per_channel_dynamic_qconfig for name, m in backbone.named_modules()
            if isinstance(m, nn.Linear) and name not in kept}
    with warnings.catch_warnings():
        # torch.ao.quantization announces its move to torchao; in torch 2.13 (pinned) it is present and works.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
        return quantize_dynamic(backbone, spec, dtype=torch.qint8, inplace=True)


def _quantized_linears(module: nn.Module) -> dict[str, nnqd.Linear]:
    return {name: m for name, m in module.named_modules() if isinstance(m, nnqd.Linear)}


def _big_embeddings(module: nn.Module) -> dict[str, nn.Embedding]:
    return {name: m for name, m in module.named_modules()
            if isinstance(m, nn.Embedding) and m.num_embeddings >= MIN_EMBEDDING_ROWS}


def save_int8(network: TextClassifier, model_dir: Path, keep_fp32: list[str] | None = None) -> Path:
    """Quantize `network.backbone` in place and write its int8 tensors (+ fp32 rest and heads) to model_dir."""
    backbone = quantize_backbone(network.backbone, keep_fp32)
    tensors: dict[str, torch.Tensor] = {}
    linears = _quantized_linears(backbone)
    for name, mod in linears.items():
        weight = mod.weight()
        tensors[f"{name}.weight.int8"] = weight.int_repr()
        tensors[f"{name}.weight.scale"] = weight.q_per_channel_scales().float()
        if mod.bias() is not None:
            tensors[f"{name}.bias"] = mod.bias().detach()
    embeddings = _big_embeddings(backbone)
    for name, emb in embeddings.items():
        w = emb.weight.detach().float()
        scale = w.abs().amax(dim=1).clamp(min=1e-8) / 127.0
        tensors[f"{name}.weight.int8"] = torch.round(w / scale[:, None]).to(torch.int8)
        tensors[f"{name}.weight.scale"] = scale
    skip = tuple(f"{name}." for name in [*linears, *embeddings])
    for key, value in backbone.state_dict().items():
        if not key.startswith(skip) and isinstance(value, torch.Tensor) and not value.is_quantized:
            tensors[key] = value
    tensors.update({f"heads.{k}": v for k, v in network.heads.state_dict().items()})
    path = Path(model_dir) / WEIGHTS
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(path))
    return path


def load_int8(model_dir: Path, manifest: dict) -> TextClassifier:
    from transformers import AutoConfig, AutoModel

    from ecomtune.methods.prune import restore_pruned_structure

    config = AutoConfig.from_pretrained(model_dir)
    backbone = AutoModel.from_config(config, dtype=torch.float32)
    restore_pruned_structure(backbone, manifest)
    tensors = load_file(str(Path(model_dir) / WEIGHTS))
    for name in _big_embeddings(backbone):  # widened back to fp32: lookups, not matmuls
        scale = tensors.pop(f"{name}.weight.scale")
        tensors[f"{name}.weight"] = tensors.pop(f"{name}.weight.int8").float() * scale[:, None]
    backbone = quantize_backbone(backbone, (manifest.get("runtime") or {}).get("keep_fp32"))
    linears = _quantized_linears(backbone)
    for name, mod in linears.items():
        scale = tensors.pop(f"{name}.weight.scale").double()
        weight = torch._make_per_channel_quantized_tensor(
            tensors.pop(f"{name}.weight.int8"), scale, torch.zeros_like(scale, dtype=torch.long), 0)
        mod.set_weight_bias(weight, tensors.pop(f"{name}.bias", None))
    heads = {k.removeprefix("heads."): tensors.pop(k) for k in list(tensors) if k.startswith("heads.")}
    # The quantized modules keep their own state; everything else must come from the file.
    state = backbone.state_dict()
    quantized = tuple(f"{name}." for name in linears)
    missing = [k for k in state if not k.startswith(quantized) and k not in tensors]
    if missing:
        raise RunDirError(f"{Path(model_dir) / WEIGHTS}: missing tensors {missing[:3]} — compress the source again")
    state.update(tensors)  # in place: the OrderedDict's _metadata carries the quantized modules' format version
    backbone.load_state_dict(state)
    head = manifest["head"]
    network = TextClassifier(backbone, head["sizes"], pooling=head["pooling"])
    network.heads.load_state_dict(heads)
    return network


def load(run_dir: Path, manifest: dict, device: torch.device, precision: str) -> TorchRuntime:
    # int8 kernels are CPU kernels, and autocast would only get in their way.
    runtime = TorchRuntime(load_int8(run_dir / "model", manifest), torch.device("cpu"), "fp32")
    runtime.name = "torch-int8"
    return runtime
