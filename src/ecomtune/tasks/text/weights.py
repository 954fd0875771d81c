"""The weights of a text run: `model/` holds the Hugging Face backbone (or its adapter), `heads.safetensors` and
`labels.json`; loading checks the manifest's head and labels against them before any weight is trusted."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from safetensors.torch import load_file, save_file

from ecomtune.errors import RunDirError
from ecomtune.rundir.manifest import MANIFEST
from ecomtune.data.labels import LabelSpace

LABELS = "labels.json"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class _Head(_Strict):
    sizes: list[int] = Field(min_length=1)
    max_length: int = Field(ge=1)
    pooling: str


class _Space(_Strict):
    levels: list[str] = Field(min_length=1)
    labels: list[list[str]] = Field(min_length=1)
    paths: list[list[int]]


class _TextManifest(_Strict):
    head: _Head
    label_space: _Space


def check_text_run(run_dir: Path, manifest: dict) -> LabelSpace:
    """The run's label space, once the manifest's head and labels are well-formed, agree with each other and with
    the labels the head was trained on (`model/labels.json`)."""
    path = Path(run_dir) / MANIFEST
    try:
        checked = _TextManifest.model_validate(manifest)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise RunDirError(f"{path}: `{key}` {err['msg'].lower()} — the manifest is damaged; restore it from the "
                          "original run directory, or retrain") from None
    space = LabelSpace.from_dict(manifest["label_space"])
    if len(space.labels) != len(space.levels) or space.sizes != checked.head.sizes:
        raise RunDirError(f"{path}: `head.sizes` {checked.head.sizes} does not match the labels of `label_space` "
                          f"({space.sizes}) — the manifest is damaged; restore it, or retrain")
    trained = Path(run_dir) / "model" / LABELS
    if trained.is_file() and json.loads(trained.read_text(encoding="utf-8")) != space.to_dict():
        raise RunDirError(f"{path}: `label_space` differs from the labels the model was trained on ({trained}) — "
                          "the manifest was edited; restore it (to rename labels, edit both files alike)")
    return space


def save_model(run_dir: Path, model, tokenizer, space: LabelSpace) -> Path:
    """Backbone with `save_pretrained` (safetensors), tokenizer beside it, heads in `heads.safetensors` and the
    labels they were trained on in `labels.json` (a manifest edited afterwards is caught against it)."""
    target = Path(run_dir) / "model"
    model.backbone.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)
    save_file(model.head_state(), str(target / "heads.safetensors"))
    (target / LABELS).write_text(json.dumps(space.to_dict(), ensure_ascii=False), encoding="utf-8")
    return target


def load_backbone(run_dir: Path, manifest: dict):
    """The run's backbone: a plain HF model, or (adapter runs) the base model + the saved peft adapter."""
    from transformers import AutoModel

    from ecomtune.methods.adapters import has_adapter, load_adapter

    model_dir = Path(run_dir) / "model"
    if (manifest.get("backbone") or {}).get("pruned_heads"):
        return _pruned_backbone(model_dir, manifest)
    if not has_adapter(model_dir):
        return AutoModel.from_pretrained(model_dir, dtype=torch.float32)
    return load_adapter(_base_backbone(run_dir, manifest), model_dir)


def _pruned_backbone(model_dir: Path, manifest: dict):
    """Head-pruned weights have smaller shapes than the config says: build, cut to shape, then load."""
    from transformers import AutoConfig, AutoModel

    from ecomtune.methods.prune import restore_pruned_structure

    model = AutoModel.from_config(AutoConfig.from_pretrained(model_dir), dtype=torch.float32)
    restore_pruned_structure(model, manifest)
    missing = model.load_state_dict(load_file(str(model_dir / "model.safetensors")), strict=False).missing_keys
    if missing:
        raise RunDirError(f"{model_dir / 'model.safetensors'}: missing weights {missing[:3]} — the run directory is "
                          "incomplete; prune the source run again")
    return model.eval()


def _base_backbone(run_dir: Path, manifest: dict):
    from transformers import AutoModel

    from ecomtune.backbones import resolve_backbone
    from ecomtune.methods.truncate import truncate_layers

    name = manifest["backbone"]["name"]
    try:
        resolved = resolve_backbone(name)
    except Exception as exc:  # noqa: BLE001 - any failure here means the same thing to the user
        raise RunDirError(f"{run_dir}: this run stores only a `{manifest['adapter']['method']}` adapter and its "
                          f"base model `{name}` is not available here ({exc}) — install it, or make a standalone "
                          "copy with `ecomtune export RUN_DIR OUT_DIR --merge` where it is") from None
    base = AutoModel.from_pretrained(resolved.path, dtype=torch.float32)
    if manifest["backbone"].get("keep_layers"):
        truncate_layers(base, manifest["backbone"]["keep_layers"])
    return base


def load_heads(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(Path(run_dir) / "model" / "heads.safetensors"))


