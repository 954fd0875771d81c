"""`ecomtune export`: a standalone copy of a run directory, with a LoRA/AdaLoRA/IA3 adapter merged into the weights.

An adapter run stores only the adapter and names its base model; the merged copy is a plain Hugging Face model
that loads (and serves) without peft and without the base model on the machine.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from ecomtune.errors import RunDirError
from ecomtune.tasks.text.predict import ExpertModel
from ecomtune.tasks.text.weights import save_model
from ecomtune.recipes.loader import recipe_of_run, recipe_to_store
from ecomtune.rundir import (
    MANIFEST,
    check_replaceable,
    dir_size_mb,
    open_manifest,
    replacement,
    write_config,
    write_manifest,
)


def export_run(run_dir: str | Path, out_dir: str | Path, merge: bool = False, overwrite: bool = False) -> Path:
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    manifest = open_manifest(run_dir)
    how = "pass --overwrite to replace it"
    check_replaceable(out_dir, overwrite, how)
    adapter = manifest.get("adapter")
    if merge and (not adapter or adapter.get("merged")):
        why = "its adapter is already merged" if adapter else "this run trained the whole backbone (no adapter)"
        raise RunDirError(f"{run_dir}: nothing to merge — {why}; drop --merge to copy it")
    if merge:
        from ecomtune.methods.adapters import check_mergeable, merge_adapter

        check_mergeable(adapter["method"])  # before loading anything
        expert = ExpertModel.load(run_dir, device="cpu", precision="fp32")
        expert.model.backbone = merge_adapter(expert.model.backbone, adapter["method"])
    folder = replacement(out_dir, overwrite, how)
    skip = ("checkpoints", MANIFEST, "model") if merge else ("checkpoints", MANIFEST)
    shutil.copytree(run_dir, folder.path, ignore=shutil.ignore_patterns(*skip), dirs_exist_ok=True)
    if merge:
        save_model(folder.path, expert.model, expert.tokenizer, expert.space)
        manifest["adapter"] = {**adapter, "merged": True}
        manifest["cost"]["model_size_mb"] = round(dir_size_mb(folder.path / "model"), 1)
    manifest["recipe"] = recipe_to_store(recipe_of_run(run_dir, manifest), out_dir)
    write_config(folder.path, manifest["recipe"])
    write_manifest(folder.path, manifest)
    return folder.finish()
