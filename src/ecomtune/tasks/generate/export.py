"""`ecomtune export --merge` and `ecomtune compress` for generation (and Q&A) runs.

`export --merge` folds a LoRA/AdaLoRA/IA3 adapter into the base weights: the copy is a plain Hugging Face causal LM
that loads without peft and without the base backbone on the machine. `compress --method int8` writes that merged
copy marked `runtime: torch-int8`: loading quantizes every Linear layer to int8 on the fly (PyTorch dynamic
quantization; weights stay fp32 on disk because quantized modules have no safetensors form), which halves the bytes
read per decoded token — decoding on a CPU is bound by them. The copy is measured against the original on test
inputs (ROUGE-L, new tokens per second) in compress.json.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from ecomtune.errors import RecipeError, RunDirError
from ecomtune.rundir import (
    check_replaceable,
    dir_size_mb,
    open_manifest,
    replacement,
    write_manifest,
)

METHODS = {"int8": "dynamic int8 Linear layers (PyTorch), quantized when the run loads"}


def _load(path: Path, manifest: dict):
    """The run loaded by its task (a `Generator`, or a `ProductQA` whose generator this also is)."""
    from ecomtune.registry import task

    return task(manifest["task"]).part("load")(path, device="cpu")


def _copy(run_dir: Path, out_dir: Path, overwrite: bool, merge: bool, manifest: dict):
    """The copied run folder (not finished), with a merged model when `merge`."""
    method = manifest["model"].get("method", "full")
    if merge and method == "full":
        raise RunDirError(f"{run_dir}: nothing to merge — this run trained the whole model (no adapter); drop --merge")
    if merge:
        from ecomtune.methods.adapters import check_mergeable

        check_mergeable(method)
    how = "pass --overwrite to replace it"
    check_replaceable(out_dir, overwrite, how)
    folder = replacement(out_dir, overwrite, how)
    shutil.copytree(run_dir, folder.path, ignore=shutil.ignore_patterns("checkpoints", "model"), dirs_exist_ok=True)
    model_dir = folder.path / "model"
    if merge:
        loaded = _load(run_dir, manifest)
        merged = loaded.lm.model.merge_and_unload()
        merged.save_pretrained(model_dir)
        loaded.lm.tokenizer.save_pretrained(model_dir)
        manifest["model"] = {**manifest["model"], "merged_from": method, "method": "full", "adapter": None}
    else:
        shutil.copytree(run_dir / "model", model_dir)
    manifest["cost"]["model_size_mb"] = round(dir_size_mb(model_dir), 1)
    return folder


def export(run_dir: str | Path, out_dir: str | Path, merge: bool = False, overwrite: bool = False) -> Path:
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    manifest = open_manifest(run_dir)
    folder = _copy(run_dir, out_dir, overwrite, merge, manifest)
    write_manifest(folder.path, manifest)
    return folder.finish()


def compress(run_dir: str | Path, method: str, out: str | Path | None = None, overwrite: bool = False,
             data=None, rows: int | None = None, write_report: bool = True, **options) -> Path:
    """An int8 copy (adapter merged), measured against the original on `rows` test inputs (default 16)."""
    if method not in METHODS:
        raise RecipeError(f"`{method}` does not apply to generation runs — use one of: {', '.join(METHODS)}")
    if any(v is not None for v in options.values()):
        raise RecipeError(f"`--{next(k for k, v in options.items() if v is not None)}` does not apply to `{method}`")
    run_dir = Path(run_dir)
    manifest = open_manifest(run_dir)
    if manifest.get("runtime"):
        raise RunDirError(f"{run_dir}: already compressed ({manifest['runtime']['name']}) — compress the original")
    target = Path(out) if out else run_dir.with_name(f"{run_dir.name}-{method}")
    merge = manifest["model"].get("method", "full") not in ("full",)
    folder = _copy(run_dir, target, overwrite, merge, manifest)
    manifest["runtime"] = {"name": "torch-int8"}
    manifest["compression"] = {"method": method, "source": run_dir.name, "source_created": manifest.get("created")}
    manifest["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    write_manifest(folder.path, manifest)
    report = _measure(run_dir, folder.path, manifest, rows or 16)
    (folder.path / "compress.json").write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    manifest["compression"]["measured"] = report
    write_manifest(folder.path, manifest)
    return folder.finish()


def _measure(source: Path, copy: Path, manifest: dict, rows: int) -> dict:
    """ROUGE-L against the references and new tokens/s of both, on the first `rows` scored test samples."""
    from ecomtune.tasks.generate.metrics import corpus_scores

    samples = [json.loads(line) for line in (source / manifest["samples"]).read_text(encoding="utf-8").splitlines()]
    samples = [s for s in samples if s.get("supported", True)][:rows]  # qa: the questions the gate let through
    refs = [s["reference"] for s in samples]
    out = {}
    for label, path in (("fp32", source), ("int8", copy)):
        loaded = _load(path, manifest)
        start = time.perf_counter()
        if hasattr(loaded, "ask_many"):
            texts = [a["answer"] for a in loaded.ask_many([{"product": s["product"], "question": s["question"]}
                                                           for s in samples])]
        else:
            texts = loaded.generate([s["input"] for s in samples])
        seconds = time.perf_counter() - start
        tokens = sum(len(loaded.lm.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)
        out[label] = {"rouge-l": corpus_scores(texts, refs, manifest["language"])["rouge-l"],
                      "new_tokens_per_second": round(tokens / seconds, 2), "rows": len(samples)}
    return out
