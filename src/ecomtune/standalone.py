"""`ecomtune export`: a standalone copy of a run directory, with a LoRA/AdaLoRA/IA3 adapter merged into the weights.

An adapter run stores only the adapter and names its base model; the merged copy is a plain Hugging Face model
that loads (and serves) without peft and without the base model on the machine.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from ecomtune.errors import RunDirError
from ecomtune.inference import ExpertModel
from ecomtune.rundir import (
    MANIFEST,
    dir_size_mb,
    read_manifest,
    save_model,
    write_manifest,
)


def export_run(run_dir: str | Path, out_dir: str | Path, merge: bool = False, overwrite: bool = False) -> Path:
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    manifest = read_manifest(run_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        if not overwrite:
            raise RunDirError(f"{out_dir} already exists — pass --overwrite to replace it")
        shutil.rmtree(out_dir)
    adapter = manifest.get("adapter")
    if merge and (not adapter or adapter.get("merged")):
        why = "its adapter is already merged" if adapter else "this run trained the whole backbone (no adapter)"
        raise RunDirError(f"{run_dir}: nothing to merge — {why}; drop --merge to copy it")
    if not merge:
        shutil.copytree(run_dir, out_dir, ignore=shutil.ignore_patterns("checkpoints"))
        return out_dir
    from ecomtune.methods.adapters import check_mergeable, merge_adapter

    check_mergeable(adapter["method"])  # before loading anything
    expert = ExpertModel.load(run_dir, device="cpu", precision="fp32")
    expert.model.backbone = merge_adapter(expert.model.backbone, adapter["method"])
    shutil.copytree(run_dir, out_dir, ignore=shutil.ignore_patterns("checkpoints", "model"))
    save_model(out_dir, expert.model, expert.tokenizer)
    manifest["adapter"] = {**adapter, "merged": True}
    manifest["cost"]["model_size_mb"] = round(dir_size_mb(out_dir / "model"), 1)
    (out_dir / MANIFEST).unlink(missing_ok=True)
    write_manifest(out_dir, manifest)
    return out_dir
