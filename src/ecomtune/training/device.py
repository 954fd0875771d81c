"""Pick the device and the numeric precision: automatic, overridable from the recipe or the command line."""
from __future__ import annotations

import functools
import os
from pathlib import Path

import torch

from ecomtune.errors import RecipeError


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RecipeError("`training.device` is cuda but no CUDA GPU is visible — use `device: auto` or `cpu`")
    if name == "mps" and not torch.backends.mps.is_available():
        raise RecipeError("`training.device` is mps but MPS is not available — use `device: auto` or `cpu`")
    return torch.device(name)


@functools.lru_cache(maxsize=1)
def cpu_has_amx() -> bool:
    """bf16 matmuls are only faster than fp32 on CPUs with AMX tiles (Sapphire Rapids and later)."""
    try:
        return "amx_bf16" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """`auto` -> bf16 where it is fast (CUDA with bf16 support, CPUs with AMX), else fp32."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_has_amx() else "fp32"
    return "fp32"


def autocast(device: torch.device, precision: str):
    """A context that runs matmuls in bf16 when asked; a no-op for fp32."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def machine_precision() -> str:
    """One line for `ecomtune models`: which device and precision `auto` picks here, and why — the README's
    headline speeds were measured in bf16 on an AMX CPU; a CPU without AMX runs fp32, several times slower."""
    device = resolve_device("auto")
    precision = resolve_precision("auto", device)
    if device.type == "cuda":
        why = f"{torch.cuda.get_device_name()}" + ("" if precision == "bf16" else ", no bf16 support")
    elif device.type == "cpu":
        why = f"{os.cpu_count()} CPU cores, " + ("with AMX: bf16 is fast here" if precision == "bf16" else
                                                 "no AMX: bf16 would be slower than fp32 here")
    else:
        why = device.type
    return f"this machine: {device.type}, precision {precision} ({why})"
