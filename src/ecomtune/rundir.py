"""The run directory: a portable folder with the model, its manifest, a model card and a report.

    run/
      manifest.json        task, labels/taxonomy, recipe, data hash, metrics, cost, versions, format version
      recipe.yaml          the validated recipe (resume checks it is unchanged)
      model/               Hugging Face backbone (config.json, model.safetensors, tokenizer) + heads.safetensors
      report.html, plots/  learning curves, confusion matrices, per-level F1
      README.md            model card
      checkpoints/         only while training (kept if the run fails, so it can resume)

Only relative paths are stored, and no pickles, so the folder can be copied to another machine and served.
"""
from __future__ import annotations

import json
import platform
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ecomtune import __version__
from ecomtune.errors import RunDirError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def versions() -> dict:
    import transformers

    return {"python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "ecomtune": __version__}


def save_model(run_dir: Path, model, tokenizer) -> Path:
    """Backbone with `save_pretrained` (safetensors), tokenizer beside it, heads in `heads.safetensors`."""
    target = Path(run_dir) / "model"
    model.backbone.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)
    save_file(model.head_state(), str(target / "heads.safetensors"))
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


def write_manifest(run_dir: Path, manifest: dict) -> Path:
    path = Path(run_dir) / MANIFEST
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    tmp.replace(path)
    return path


def read_manifest(run_dir: str | Path) -> dict:
    path = Path(run_dir) / MANIFEST
    if not Path(run_dir).is_dir():
        raise RunDirError(f"{run_dir}: not a directory — pass the run directory written by `ecomtune train`")
    if not path.exists():
        raise RunDirError(f"{run_dir}: no {MANIFEST} — this is not a finished ecomtune run (an interrupted run "
                          "resumes with `ecomtune train RECIPE --resume`)")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    version = manifest.get("format_version")
    if version is None or version > FORMAT_VERSION:
        raise RunDirError(f"{run_dir}: format version {version} is newer than this ecomtune supports "
                          f"({FORMAT_VERSION}) — upgrade ecomtune")
    return manifest


def dir_size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) / 2**20
