"""`manifest.json`: what a run directory holds and how to check it before anything in it is trusted.

Format 2 lists every file the model needs (`files`: relative path -> bytes and sha256), so a truncated copy, a
missing tokenizer or a swapped weight file is refused in one line that names the file, instead of loading into
silent garbage. Format 1 manifests (no file list) still load. Every path a manifest names must resolve inside its
run directory.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ecomtune.version import __version__
from ecomtune.errors import EcomtuneError, RunDirError

FORMAT_VERSION = 2
MANIFEST = "manifest.json"
# Written after the manifest, describing rather than making up the model, or rebuilt on demand (the drift
# monitor's profile.json, which it checks itself): not in the file list.
UNLISTED_FILES = {MANIFEST, "README.md", "report.html", "recipe.yaml", "pretrain.yaml", "compress.json",
                  "compress.md", ".ecomtune-run", "profile.json"}
UNLISTED_DIRS = {"plots", "checkpoints"}
_CHUNK = 1 << 20


def versions() -> dict:
    import torch
    import transformers

    return {"python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "ecomtune": __version__}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def file_records(run_dir: Path) -> dict[str, dict]:
    """{relative path: {"bytes", "sha256"}} of every file a loader may read, sorted by path."""
    out = {}
    for path in sorted(Path(run_dir).rglob("*")):
        rel = path.relative_to(run_dir)
        if not path.is_file() or rel.parts[0] in UNLISTED_DIRS or str(rel) in UNLISTED_FILES \
                or path.name.endswith(".tmp"):
            continue
        out[rel.as_posix()] = {"bytes": path.stat().st_size, "sha256": sha256(path)}
    return out


# The cost every family reports, measured the same way (training.meter): wall time and peak memory sampled
# during training, samples/s, parameter counts, model size, and prediction throughput on the test split.
COST_FIELDS = ("train_seconds", "train_samples_per_second", "peak_memory_mb", "trainable_params", "total_params",
               "model_size_mb", "device", "steps", "inference_samples_per_second")


@dataclass
class Manifest:
    """What every run's manifest holds, whatever its task; `extra` carries the task's own sections (label space,
    catalogue, model config, ...). `to_dict` is what `write_manifest` stores (None sections left out)."""

    name: str
    task: str
    language: str
    description: str | None
    recipe: dict
    data: dict
    metrics: dict
    cost: dict
    backbone: dict | None = None
    baseline: dict | None = None
    history: list | dict | None = None
    extra: dict = field(default_factory=dict)
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))

    def __post_init__(self):
        missing = [k for k in COST_FIELDS if k not in self.cost]
        if missing:  # a programming error in a task's training script, not a user's
            raise ValueError(f"task {self.task}: manifest cost lacks {missing} (every family reports COST_FIELDS)")

    def to_dict(self) -> dict:
        env = versions()
        out = {"ecomtune_version": env["ecomtune"], "created": self.created, "name": self.name, "task": self.task,
               "language": self.language, "description": self.description, "backbone": self.backbone,
               **self.extra, "recipe": self.recipe, "data": self.data, "metrics": self.metrics,
               "baseline": self.baseline, "cost": self.cost, "history": self.history, "versions": env}
        return {k: v for k, v in out.items() if v is not None}


def write_manifest(run_dir: Path, manifest: Manifest | dict) -> Path:
    """Write `manifest.json` atomically, with the current format version and the list of the files beside it."""
    path = Path(run_dir) / MANIFEST
    if isinstance(manifest, Manifest):
        manifest = manifest.to_dict()
    manifest = {**manifest, "format_version": FORMAT_VERSION, "files": file_records(Path(run_dir))}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    tmp.replace(path)
    return path


def _damaged(path: Path, what: str) -> RunDirError:
    return RunDirError(f"{path}: {what} — the run directory is damaged; copy it again from where it was trained, "
                       "or retrain")


def read_manifest(run_dir: str | Path) -> dict:
    """The manifest of a finished run, checked for the fields every loader relies on (one-line RunDirError)."""
    run_dir = Path(run_dir)
    path = run_dir / MANIFEST
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: not a directory — pass the run directory written by `ecomtune train`")
    if not path.is_file():
        raise RunDirError(f"{run_dir}: no {MANIFEST} — this is not a finished ecomtune run (an interrupted run "
                          "resumes with `ecomtune train RECIPE --resume`)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise _damaged(path, "not UTF-8 text") from None
    except ValueError as exc:
        raise _damaged(path, f"not valid JSON ({str(exc).splitlines()[0][:120]})") from None
    if not isinstance(manifest, dict):
        raise _damaged(path, f"holds a JSON {type(manifest).__name__}, not an object")
    version = manifest.get("format_version")
    if version is None:
        raise _damaged(path, "no `format_version`")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _damaged(path, f"`format_version` must be a whole number ≥ 1, got {version!r}")
    if version > FORMAT_VERSION:
        raise RunDirError(f"{path}: format version {version} is newer than this ecomtune reads ({FORMAT_VERSION}) "
                          "— upgrade ecomtune")
    if manifest.get("kind") == "pretrain":
        raise RunDirError(f"{run_dir}: an `ecomtune pretrain` output (a backbone), not a trained model — use it as "
                          f"`model.backbone: {run_dir}` in a recipe")
    task = manifest.get("task")
    if not isinstance(task, str) or not task:
        raise _damaged(path, f"`task` must name the run's task, got {task!r}")
    from ecomtune.registry import tasks

    if task not in tasks():
        raise RunDirError(f"{path}: task {task!r} is not one this ecomtune knows ({', '.join(tasks().names())}) "
                          "— upgrade ecomtune, or the manifest is damaged")
    files = manifest.get("files", {})
    if not isinstance(files, dict) or not all(isinstance(r, dict) and isinstance(r.get("bytes"), int)
                                              and isinstance(r.get("sha256"), str) for r in files.values()):
        raise _damaged(path, "`files` must map each path to its bytes and sha256")
    for rel in files:
        inside(run_dir, rel)
    runtime = manifest.get("runtime")
    if runtime is not None and (not isinstance(runtime, dict) or not isinstance(runtime.get("name"), str)):
        raise _damaged(path, f"`runtime` must name a runtime, got {str(runtime)[:80]!r}")
    if runtime and "file" in runtime:
        inside(run_dir, runtime["file"])
    return manifest


def inside(run_dir: str | Path, rel) -> Path:
    """`run_dir / rel`, refused unless it is a relative path that stays inside the run directory (links too)."""
    run_dir = Path(run_dir)
    if not isinstance(rel, str) or not rel or os.path.isabs(rel) or "\x00" in rel:
        raise _damaged(run_dir / MANIFEST, f"it names {str(rel)[:80]!r} where a path inside the run directory "
                                           "belongs")
    path = run_dir / rel
    root = run_dir.resolve()
    if not path.resolve().is_relative_to(root):
        if (run_dir / rel).absolute().parent.resolve().is_relative_to(root) and path.is_symlink():
            raise RunDirError(f"{path}: a link to {os.readlink(path)[:80]}, outside the run directory — a run "
                              "directory holds its own files; copy it again without links (cp -rL), or retrain")
        raise RunDirError(f"{run_dir / MANIFEST}: names {rel[:80]!r}, which is outside the run directory — a run "
                          "directory may only name its own files; restore the manifest or retrain")
    return path


def verify_files(run_dir: str | Path, manifest: dict, hashes: bool = True) -> None:
    """Every listed file is there with its size (and, with `hashes`, its sha256); format 1 runs list none."""
    run_dir = Path(run_dir)
    for rel, record in manifest.get("files", {}).items():
        path = inside(run_dir, rel)
        if not path.is_file():
            raise _damaged(path, "missing")
        size = path.stat().st_size
        if size != record["bytes"]:
            raise _damaged(path, f"{size:,} bytes where the manifest lists {record['bytes']:,} (a truncated or "
                                 "replaced file)")
        if hashes and sha256(path) != record["sha256"]:
            raise _damaged(path, "its contents differ from what was trained (sha256 mismatch)")


def check_run(run_dir: str | Path) -> dict:
    """Every check that needs no weights (manifest, file sizes, the task's own `verify`, e.g. a text run's head and
    labels): what `serve` runs on each run directory before it opens a port."""
    from ecomtune.registry import task

    manifest = open_manifest(run_dir, hashes=False)
    spec = task(manifest["task"])
    if spec.verify:
        spec.part("verify")(Path(run_dir), manifest)
    return manifest


def open_manifest(run_dir: str | Path, hashes: bool = True) -> dict:
    """`read_manifest` + `verify_files`: what every loader calls before reading weights."""
    manifest = read_manifest(run_dir)
    verify_files(run_dir, manifest, hashes)
    return manifest


@contextmanager
def loading(run_dir: str | Path):
    """Turn what a damaged run directory makes loaders raise (a file that does not parse, a key or a shape that
    does not fit) into one RunDirError naming the folder; `--debug` shows the original."""
    from safetensors import SafetensorError

    try:
        yield
    except EcomtuneError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, OSError, RuntimeError, SafetensorError) as exc:
        why = (str(exc).splitlines() or [""])[0][:160]
        raise RunDirError(f"{run_dir}: cannot be loaded ({type(exc).__name__}: {why}) — the run directory is "
                          "damaged or was written by an incompatible ecomtune; copy it again, or retrain") from exc


def dir_size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) / 2**20
