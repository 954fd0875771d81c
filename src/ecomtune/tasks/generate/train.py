"""The generation recipe, top to bottom: setup (pairs, backbone, adapter) -> fine-tune (loss on the target tokens)
-> evaluate (decode the test inputs; BLEU/ROUGE, attribute coverage and contradictions; the retrieval and untuned
baselines) -> save the run directory.

    run/
      manifest.json          task "generate", recipe, metrics {"test": ...}, baselines, cost (tokens/s)
      recipe.yaml
      model/                 the adapter (peft) or the whole model, + tokenizer
      vocabulary.json        attribute values per key (attribute inputs): the contradiction check's vocabulary
      samples.jsonl          every scored test input with its reference, output and the baselines' texts
      README.md              the model card
      checkpoints/           only while training (`--resume` continues from it)
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from ecomtune.console import say
from ecomtune.recipes.loader import recipe_to_store
from ecomtune.reports.slices import SLICES_FILE, write_slices
from ecomtune.rundir import (
    Manifest,
    RunFolder,
    dir_size_mb,
    open_recipe_run,
    write_manifest,
)
from ecomtune.tasks.generate import baselines
from ecomtune.tasks.generate.data import (
    GenerateSplits,
    Pairs,
    encode_pairs,
    load_splits,
)
from ecomtune.tasks.generate.evaluate import (
    evaluation_of,
    score,
    scored_rows,
    separator,
    vocabulary_of,
)
from ecomtune.tasks.generate.model import LanguageModel, load_causal_lm
from ecomtune.tasks.generate.recipe import GenerateRecipe
from ecomtune.tasks.generate.slices import generation_slices
from ecomtune.training.loop import CHECKPOINTS
from ecomtune.training.meter import Meter

VOCABULARY = "vocabulary.json"
SAMPLES = "samples.jsonl"


def _recipe(recipe) -> GenerateRecipe:
    if isinstance(recipe, GenerateRecipe):
        return recipe
    from ecomtune.recipes.loader import load_recipe

    return load_recipe(recipe)


def check(recipe) -> dict:
    """`ecomtune data check`: read and split the pairs (no model)."""
    recipe = _recipe(recipe)
    splits = load_splits(recipe.data)
    lengths = [len(t) for t in splits.train.outputs]
    return {"task": "generate", **splits.info, "output_chars_mean": round(sum(lengths) / len(lengths), 1),
            "attributes": recipe.data.attributes}


def baseline(recipe) -> dict:
    """`ecomtune baseline RECIPE`: the retrieval baseline on the test pairs (no model needed)."""
    recipe = _recipe(recipe)
    splits = load_splits(recipe.data)
    test = scored_rows(splits.test, recipe)
    texts = baselines.retrieval(splits.train, test.inputs, recipe.language, separator(recipe))
    return {"name": "retrieval", "features": "the output of the nearest training input (TF-IDF)",
            "metrics": {"test": score(texts, test, recipe, vocabulary_of(recipe, splits.train))}}


@dataclass
class _Run:
    recipe: GenerateRecipe
    folder: RunFolder
    splits: GenerateSplits
    backbone: dict
    lm: LanguageModel
    meter: Meter
    cost: dict
    trained: dict = field(default_factory=dict)


def train(recipe, resume: bool = False) -> Path:
    """Fine-tune a generation run from a recipe (path, preset, dict or GenerateRecipe); returns the run directory."""
    run = setup(_recipe(recipe), resume)
    fit(run)
    return save(run, evaluate(run))


def setup(recipe: GenerateRecipe, resume: bool) -> _Run:
    """Read the pairs (before the run folder: bad data leaves nothing behind), load the LM, wrap it in the
    adapter."""
    from ecomtune.backbones import resolve_backbone
    from ecomtune.training.device import resolve_device

    m, t = recipe.model, recipe.training
    started = time.perf_counter()
    say("reading data")
    splits = load_splits(recipe.data)
    say(f"  {len(splits.train)} training / {len(splits.test)} test pairs")
    resolved = resolve_backbone(m.backbone)
    if resolved.kind != "decoder":
        from ecomtune.errors import RecipeError

        raise RecipeError(f"`model.backbone: {m.backbone}` is an encoder — generation needs a causal LM, e.g. "
                          "`qwen2.5-0.5b`, `smollm2-135m` or `gemma3-270m`")
    folder = open_recipe_run(recipe, resume)
    device = resolve_device(t.device)
    say(f"loading backbone {m.backbone} ({device.type})")
    import torch

    torch.manual_seed(t.seed)
    model, tokenizer = load_causal_lm(resolved.path, device)
    if m.adapter is not None:
        model = _with_adapter(model, m.adapter, resolved.path)
    lm = LanguageModel(model, tokenizer, m, recipe.generation, device)
    backbone = {"name": resolved.name, "hf_id": resolved.spec.hf_id if resolved.spec else resolved.name,
                "kind": resolved.kind, "instruct": bool(resolved.spec and resolved.spec.instruct)}
    cost = {"device": device.type, "started": started}
    return _Run(recipe, folder, splits, backbone, lm, Meter(device), cost)


def _with_adapter(model, cfg, tokenizer_path):
    """The peft adapter of the adaptation menu, as a causal-LM adapter (prompt and prefix tuning then pad the
    labels for their virtual tokens)."""
    from peft import get_peft_model

    from ecomtune.methods.adapters import ADAPTERS

    config = ADAPTERS.get(cfg.method).config(cfg, model, str(tokenizer_path))
    config.task_type = "CAUSAL_LM"
    return get_peft_model(model, config)


def fit(run: _Run) -> None:
    from ecomtune.tasks.generate.sft import fine_tune

    examples = encode_pairs(run.lm.format, run.splits.train)
    say(f"fine-tuning on {len(examples)} pairs ({sum(len(x) for x, _ in examples)} tokens per epoch)")
    run.trained = fine_tune(run.lm.model, examples, run.lm.tokenizer.pad_token_id, run.recipe.training, run.meter,
                            run.folder.path / CHECKPOINTS)


def decode(lm: LanguageModel, sources: list[str], batch_size: int, label: str) -> tuple[list[str], dict]:
    """Texts for `sources` and what decoding them cost (seconds, new tokens per second)."""
    from ecomtune.console import ProgressBar

    start = time.perf_counter()
    with ProgressBar(label, len(sources)) as advance:
        texts = lm.generate(sources, batch_size=batch_size, progress=advance)
    seconds = time.perf_counter() - start
    new_tokens = sum(len(lm.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)
    return texts, {"seconds": round(seconds, 1), "new_tokens_per_second": round(new_tokens / seconds, 1)}


def evaluate(run: _Run) -> dict:
    """Decode the test inputs with the fine-tuned model and score them and the baselines' texts."""
    recipe, e = run.recipe, run.recipe.evaluation
    test = scored_rows(run.splits.test, recipe)
    vocab = vocabulary_of(recipe, run.splits.train)
    texts, cost = decode(run.lm, test.inputs, e.batch_size, "generating the test outputs")
    run.cost.update({"eval_seconds": cost["seconds"], "generate_tokens_per_second": cost["new_tokens_per_second"],
                     "inference_samples_per_second": round(len(test) / max(cost["seconds"], 1e-3), 3)})
    metrics = {"test": score(texts, test, recipe, vocab)}
    slices = generation_slices(recipe, test.inputs, texts, test.outputs)  # ROUGE-L by input length, language
    samples = [{"input": s, "reference": r, "output": o} for s, r, o in zip(test.inputs, test.outputs, texts)]
    found: dict = {}
    if "retrieval" in e.baselines:
        got = baselines.retrieval(run.splits.train, test.inputs, recipe.language, separator(recipe))
        found["retrieval"] = score(got, test, recipe, vocab)
        for row, text in zip(samples, got):
            row["retrieval"] = text
    if "untuned" in e.baselines:
        found["untuned"], texts = _untuned(run, test, vocab)
        for row, text in zip(samples, texts):
            row["untuned"] = text
    return {"metrics": metrics, "baselines": found, "samples": samples, "vocab": vocab, "slices": slices}


def _untuned(run: _Run, test: Pairs, vocab) -> tuple[dict, list[str]]:
    """The instruct model zero-shot, prompted with the recipe's template in its chat template."""
    from ecomtune.backbones import resolve_backbone

    recipe, e = run.recipe, run.recipe.evaluation
    name = baselines.untuned_backbone(recipe.model.backbone, e.untuned_backbone)
    rows = test.take(range(min(e.untuned_rows or len(test), len(test))))
    model, tokenizer = load_causal_lm(resolve_backbone(name).path, run.lm.device)
    cfg = recipe.model.model_copy(update={"backbone": name, "prompt": "chat", "adapter": None})
    lm = LanguageModel(model, tokenizer, cfg, recipe.generation, run.lm.device)
    texts, _ = decode(lm, rows.inputs, e.batch_size, f"zero-shot baseline ({name})")
    out = {**score(texts, rows, recipe, vocab), "backbone": name}
    if len(rows) < len(test):  # the fine-tuned model on the same rows, for a like-for-like comparison
        out["note"] = f"scored on the first {len(rows)} test rows"
    del model, lm
    return out, texts + [""] * (len(test) - len(rows))


def save(run: _Run, result: dict) -> Path:
    recipe, run_dir = run.recipe, run.folder.path
    say("saving")
    run.lm.model.save_pretrained(run_dir / "model")
    run.lm.tokenizer.save_pretrained(run_dir / "model")
    if result["vocab"] is not None:
        (run_dir / VOCABULARY).write_text(json.dumps(result["vocab"].to_dict(), ensure_ascii=False, indent=1),
                                          encoding="utf-8")
    with open(run_dir / SAMPLES, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in result["samples"])
    tr, cost = run.trained, dict(run.cost)
    cost.update(run.meter.summary())
    cost.update({"trainable_params": tr["trainable_params"],
                 "total_params": int(sum(p.numel() for p in run.lm.model.parameters())), "steps": tr["steps"],
                 "train_tokens": tr["train_tokens"], "train_tokens_per_second": tr["train_tokens_per_second"],
                 "total_seconds": round(time.perf_counter() - cost.pop("started"), 1),
                 "model_size_mb": round(dir_size_mb(run_dir / "model"), 1)})
    adapter = recipe.model.adapter
    model = {**recipe.model.model_dump(mode="json"), "dir": "model",
             "method": adapter.method if adapter else "full"}
    first = result["baselines"].get("retrieval")
    manifest = Manifest(
        name=recipe.name, task="generate", language=recipe.language, description=recipe.description,
        backbone=run.backbone, recipe=recipe_to_store(recipe, run.folder.final), data=run.splits.info,
        metrics=result["metrics"], cost=cost, history=tr["history"],
        baseline={"name": "retrieval", "features": "the output of the nearest training input (TF-IDF)",
                  "metrics": {"test": first}} if first else None,
        extra={"model": model, "generation": recipe.generation.model_dump(mode="json"),
               "baselines": result["baselines"] or None,
               "vocabulary": VOCABULARY if result["vocab"] is not None else None, "samples": SAMPLES})
    write_slices(run_dir / SLICES_FILE, result["slices"])
    write_manifest(run_dir, manifest)
    _model_card(run_dir, manifest.to_dict())
    shutil.rmtree(run_dir / CHECKPOINTS, ignore_errors=True)
    return run.folder.finish()


def _model_card(run_dir: Path, manifest: dict) -> None:
    from ecomtune.reports import write_model_card

    keys = [k for k in manifest["metrics"]["test"] if k != "rows"]
    rows = ["| model | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys),
            "| this run | " + " | ".join(str(manifest["metrics"]["test"][k]) for k in keys) + " |"]
    for name, values in (manifest.get("baselines") or {}).items():
        rows.append(f"| {name} | " + " | ".join(str(values.get(k, "")) for k in keys) + " |")
    write_model_card(run_dir, manifest, pipeline_tag="text-generation", sections=(
        "## Test scores\n\nBLEU-4 and ROUGE ×100, means per sample"
        + (" (Chinese: characters for BLEU, jieba words for ROUGE)" if manifest["language"] == "zh" else "")
        + ".\n\n" + "\n".join(rows),), what=(
        f"writes text from an input, fine-tuned from `{manifest['backbone']['name']}` with "
        f"`{manifest['model']['method']}`"), usage=(
        "```bash\necomtune generate RUN_DIR --input inputs.jsonl --output texts.jsonl\n```\n\n"
        "```python\nfrom ecomtune import load\n\nload(\"RUN_DIR\").generate([\"类型#上衣*颜色#白色\"])\n```"))


def evaluate_run(run_dir: str | Path, data: str | Path | None = None, device: str = "auto") -> dict:
    """Metrics of a generation run on its recipe's test pairs, or on a table (`data`) with the recipe's columns."""
    from ecomtune.tasks.generate.predict import Generator

    return evaluation_of(Generator.load(run_dir, device=device), data)
