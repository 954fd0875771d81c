"""What hand-written training loops (recommend, search) share: checkpoints an interrupted run resumes from.

A checkpoint folder holds the weights (safetensors), the trainer state (optimizer, scheduler and torch RNG, a
torch file internal to the run) and `state.json`, the loop's own state (step, history, meter, ...). `state.json`
is written last and names the other two files, so replacing it is the one atomic step that moves a checkpoint
forward: a run killed at any moment leaves the previous complete checkpoint. Checkpoints live under the run's
`checkpoints/` until the run completes (the run folder machinery keeps them when it fails).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

CHECKPOINTS = "checkpoints"
STATE = "state.json"


def save_weights(path: Path, weights: dict[str, torch.Tensor]) -> None:
    """`save_file` through a temporary file: `path` holds either the old or the new weights, never half. Tensors
    that share memory (tied embeddings) are stored as copies, which safetensors requires."""
    tmp = Path(f"{path}.tmp")
    out, seen = {}, set()
    for key, value in weights.items():
        value = value.detach().cpu().contiguous()
        storage = value.untyped_storage().data_ptr()
        out[key] = value.clone() if storage in seen else value
        seen.add(storage)
    save_file(out, str(tmp))
    os.replace(tmp, path)


def _write_json(path: Path, value: dict) -> None:
    tmp = Path(f"{path}.tmp")
    tmp.write_text(json.dumps(value), encoding="utf-8")
    os.replace(tmp, path)


def save_checkpoint(folder: Path, weights: dict[str, torch.Tensor], optimizer, state: dict, scheduler=None) -> None:
    """Write a checkpoint into `folder` (see the module docstring); `state` must be JSON."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    before = read_state(folder)
    n = (before or {}).get("files", {}).get("n", 0) + 1
    files = {"n": n, "weights": f"model-{n}.safetensors", "trainer": f"trainer-{n}.pt"}
    save_weights(folder / files["weights"], weights)
    trainer = {"optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state()}
    if scheduler is not None:
        trainer["scheduler"] = scheduler.state_dict()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        trainer["cuda_rng"] = torch.cuda.get_rng_state_all()
    torch.save(trainer, folder / f"{files['trainer']}.tmp")
    os.replace(folder / f"{files['trainer']}.tmp", folder / files["trainer"])
    _write_json(folder / STATE, {**state, "files": files})
    for old in folder.glob("*-*.*"):  # the files of earlier checkpoints
        if old.name.startswith(("model-", "trainer-")) and old.name not in (files["weights"], files["trainer"]):
            old.unlink(missing_ok=True)


def read_state(folder: Path) -> dict | None:
    """The loop state of the checkpoint in `folder`, or None when there is none."""
    path = Path(folder) / STATE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def load_checkpoint(folder: Path, optimizer=None, scheduler=None) -> tuple[dict[str, torch.Tensor], dict] | None:
    """(weights, loop state) of the checkpoint in `folder`, or None when there is none; the optimizer, the
    scheduler and the torch RNG are restored in place."""
    state = read_state(folder)
    if state is None:
        return None
    files = state.pop("files", None)
    if files is None:  # written by ecomtune <= 0.1 (recommend): weights and optimizer under fixed names
        files = {"weights": "model.safetensors", "trainer": "optimizer.pt"}
    weights = load_file(str(Path(folder) / files["weights"]))
    trainer = torch.load(Path(folder) / files["trainer"], weights_only=True)
    if "optimizer" not in trainer:
        trainer = {"optimizer": trainer}
    if optimizer is not None:
        optimizer.load_state_dict(trainer["optimizer"])
    if scheduler is not None and "scheduler" in trainer:
        scheduler.load_state_dict(trainer["scheduler"])
    if "torch_rng" in trainer:
        torch.set_rng_state(trainer["torch_rng"])
    if "cuda_rng" in trainer and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(trainer["cuda_rng"])
    return weights, state
