"""Several processes train one recipe: `ecomtune train RECIPE --nproc N` starts them with torchrun, each process
runs the same training script, and this module is what the scripts ask about the world they run in.

- torchrun (`torch.distributed.run`) starts the processes and sets RANK / WORLD_SIZE / LOCAL_RANK; `init` joins
  them into one process group (gloo on CPU, nccl on CUDA). Accelerate's `launch --cpu` starts only one process on a
  CPU machine (accelerate #2741), so ecomtune calls torchrun itself.
- The global batch is the recipe's `training.batch_size` whatever N is: each process takes its share of every batch
  (`per_process_batch`, `shard`), and the gradients are averaged (DDP inside the Hugging Face Trainer; `all_reduce_
  grads` for the hand-written loops, whose loss is not the model's forward).
- Only rank 0 writes: the run folder, checkpoints, the report and the cost record (`is_main`). The other ranks learn
  the run folder's path from rank 0 (`broadcast`), so a `--resume` reads the same checkpoints everywhere (several
  machines need a shared file system for that, like every DDP checkpoint).
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

import torch
import torch.distributed as dist

from ecomtune.errors import RecipeError


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    return rank() == 0


def distributed() -> bool:
    return world_size() > 1


def launch_command(argv: Sequence[str], nproc: int, nnodes: int = 1, node_rank: int = 0,
                   master_addr: str = "127.0.0.1", master_port: int = 29500) -> list[str]:
    """The torchrun command that runs `ecomtune ARGV` in `nproc` processes on this machine (of `nnodes`)."""
    return [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}", f"--nnodes={nnodes}",
            f"--node-rank={node_rank}", f"--master-addr={master_addr}", f"--master-port={master_port}",
            "-m", "ecomtune", *argv]


def launch(argv: Sequence[str], nproc: int, **where) -> int:
    """Run `ecomtune ARGV` in `nproc` processes (see `launch_command`); returns the exit code torchrun gives.

    Each process gets an equal share of the CPU threads (torchrun would give each one thread)."""
    threads = max(1, (os.cpu_count() or 1) // nproc)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(threads))}
    return subprocess.call(launch_command(argv, nproc, **where), env=env)


def init(device: torch.device) -> None:
    """Join the process group (a no-op in one process): gloo on CPU, nccl on CUDA (one GPU per local rank)."""
    if not distributed() or dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    elif device.type != "cpu":
        raise RecipeError(f"training on several processes needs CPU or CUDA devices, not {device.type} — set "
                          "`training.device: cpu` or train in one process")
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def per_process_batch(batch_size: int, n: int | None = None, key: str = "training.batch_size") -> int:
    """Each process's share of the global batch (of `n` processes, default: this world's); it must split evenly."""
    n = n or world_size()
    if batch_size % n:
        raise RecipeError(f"`{key}` ({batch_size}) must be a multiple of the number of processes ({n}) so that the "
                          f"global batch stays {batch_size} — set it to {max(n, batch_size // n * n)} or use "
                          f"--nproc {next(d for d in range(n, 0, -1) if batch_size % d == 0)}")
    return batch_size // n


def shard(rows: Sequence) -> list:
    """This process's rows of a global batch (rank r takes rows r, r + N, ...)."""
    return list(rows[rank()::world_size()])


def broadcast(value):
    """Rank 0's `value` on every rank (any picklable object)."""
    if not distributed():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_reduce_grads(parameters, weight: float) -> None:
    """Sum `weight` × each process's gradient over the processes; with `weight` = this process's share of the global
    batch, the result is the gradient of the global batch's mean loss, exactly as one process computes it."""
    params = [p for p in parameters if p.requires_grad]
    grads = [p.grad * weight if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])  # one all-reduce, not one per tensor
    all_reduce(flat)
    for p, g in zip(params, flat.split([g.numel() for g in grads])):
        p.grad = g.view_as(p).clone()


def all_reduce(tensor: torch.Tensor) -> None:
    """Sum `tensor` over the processes, in place."""
    if distributed():
        dist.all_reduce(tensor)


def barrier() -> None:
    if distributed():
        dist.barrier()


def check_launch(training, processes: int) -> None:
    """What `ecomtune train --nproc` checks once, before starting the processes (each would fail alike)."""
    per_process_batch(training.batch_size, processes)
    if getattr(training, "few_shot", None):
        raise RecipeError("`training.few_shot` trains in one process — drop --nproc (or remove `training.few_shot`)")
    if getattr(training, "fsdp", False):
        fsdp_arguments(True, ["any"], torch.device("cuda" if torch.cuda.is_available() else "cpu"), processes)


def fsdp_arguments(fsdp: bool, wrap: list[str] | None, device: torch.device, processes: int | None = None) -> dict:
    """TrainingArguments for `training.fsdp`: full sharding, each of the backbone's `wrap` layer classes a unit.

    GPUs only: Accelerate turns FSDP on for GPU process groups, not for CPU (gloo) ones, where the Trainer would
    silently run DDP instead."""
    if not fsdp:
        return {}
    if device.type != "cuda":
        raise RecipeError("`training.fsdp` needs CUDA GPUs (Accelerate shards over GPU processes only) — set it to "
                          "false: on CPU, --nproc trains with DDP")
    if (processes or world_size()) < 2:
        raise RecipeError("`training.fsdp` shards the model over several processes — train with --nproc 2 or more, "
                          "or set it to false")
    if not wrap:
        raise RecipeError("`training.fsdp`: this backbone does not name its layer classes (`_no_split_modules`) for "
                          "FSDP to shard — set it to false and use DDP")
    return {"fsdp": "full_shard auto_wrap", "fsdp_config": {"transformer_layer_cls_to_wrap": list(wrap),
                                                             "use_orig_params": True}}


def cost(summary: dict) -> dict:
    """What a distributed run adds to the manifest's cost: the world size and each process's throughput (the
    meter counts the global batch)."""
    if not distributed():
        return {}
    per_second = summary.get("train_samples_per_second")
    return {"world_size": world_size(),
            "train_samples_per_second_per_process": round(per_second / world_size(), 3) if per_second else None}


def finish() -> None:
    """After the last training step: leave the process group. The other ranks then exit, and rank 0, which
    evaluates and writes the run alone, takes every CPU thread of its machine (it trained with its share)."""
    if not distributed():
        return
    if dist.is_initialized():
        dist.destroy_process_group()
    if is_main():
        torch.set_num_threads(os.cpu_count() or 1)


def on_main(fn):
    """`fn()` on rank 0 only, its result on every rank — its error too, so that no rank waits forever for a rank 0
    that failed (a run folder that exists, a bad recipe)."""
    if not distributed():
        return fn()
    result = error = None
    if is_main():
        try:
            result = fn()
        except Exception as exc:  # noqa: BLE001 — re-raised on every rank below
            error = exc
    result, error = broadcast((result, error))
    if error is not None:
        raise error
    return result
