"""The product Q&A recipe, top to bottom: read and split by product -> index every product's answered questions
-> fit the yes/no answerer (TF-IDF + logistic regression, with the majority class as its baseline) -> fine-tune the
generator on (context + question -> answer) of the training products -> answer the test questions (the gate
refuses when the product's Q&A does not match the question) -> save.

    run/
      manifest.json       task "qa": metrics {"test": yes/no accuracy, ROUGE-L, refusal rates}, baselines, cost
      recipe.yaml
      model/              the generator's adapter (or whole model) + tokenizer
      knowledge.jsonl     every answered question (product, question, answer, kind, label): what `ask` retrieves
                          from and what the yes/no answerer is fitted on when the run loads
      samples.jsonl       the scored test questions with context, reference, answer and the baselines'
      README.md
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ecomtune.console import say
from ecomtune.recipes.loader import recipe_to_store
from ecomtune.reports.slices import SLICES_FILE, write_slices
from ecomtune.rundir import (
    Manifest,
    dir_size_mb,
    open_recipe_run,
    write_manifest,
)
from ecomtune.tasks.generate.data import Pairs, encode_pairs
from ecomtune.tasks.generate.metrics import corpus_scores
from ecomtune.tasks.generate.model import LanguageModel, load_causal_lm
from ecomtune.tasks.generate.slices import generation_slices
from ecomtune.tasks.qa.answer import supported
from ecomtune.tasks.qa.context import QAContext
from ecomtune.tasks.qa.evaluate import (
    answer_metrics,
    evaluation_of,
    read,
    retriever,
    scored_pairs,
    test_rows,
)
from ecomtune.tasks.qa.recipe import QARecipe
from ecomtune.tasks.qa.yesno import Majority, TfidfYesNo, labelled, metrics, targets
from ecomtune.training.loop import CHECKPOINTS
from ecomtune.training.meter import Meter

KNOWLEDGE = "knowledge.jsonl"
SAMPLES = "samples.jsonl"


def _recipe(recipe) -> QARecipe:
    if isinstance(recipe, QARecipe):
        return recipe
    from ecomtune.recipes.loader import load_recipe

    return load_recipe(recipe)


def yes_no_scores(train: pd.DataFrame, test: pd.DataFrame, seed: int) -> tuple[dict, dict]:
    """(TF-IDF yes/no metrics, majority metrics) on the test products' labelled yes/no questions."""
    fit, held = labelled(train), labelled(test)
    if fit.empty or held.empty or len(set(targets(fit))) < 2:
        return {}, {}
    y = targets(held)
    empty = [""] * len(held)
    model = TfidfYesNo(seed=seed).fit(fit["question"].tolist(), [""] * len(fit), targets(fit))
    p = model.predict_proba(held["question"].tolist(), empty)
    majority = Majority().fit(None, None, targets(fit)).predict_proba(held["question"].tolist(), empty)
    return metrics(y, (p >= 0.5).astype(int)), metrics(y, (majority >= 0.5).astype(int))


def check(recipe) -> dict:
    """`ecomtune data check`: read, validate and split (no model)."""
    return {"task": "qa", **read(_recipe(recipe)).info}


def baseline(recipe) -> dict:
    """The retrieved answer as is (ROUGE-L) and the majority yes/no answer."""
    recipe = _recipe(recipe)
    data = read(recipe)
    test = test_rows(data.test, recipe)
    ctx = retriever(recipe, data.test).rows()
    texts = [items[0].answer if items else "" for items in (ctx[i] for i in test.index)]
    out = corpus_scores(texts, test["answer"].tolist(), recipe.language)
    _, majority = yes_no_scores(data.train, data.test, recipe.data.seed)
    return {"name": "retrieved answer", "features": "the top answer of the product's other Q&A (BM25), as is",
            "metrics": {"test": {"rouge-l": out["rouge-l"], "yes_no_accuracy": majority.get("accuracy")}}}


def train(recipe, resume: bool = False) -> Path:
    """Fit and evaluate a Q&A run; returns the run directory."""
    import torch

    from ecomtune.backbones import resolve_backbone
    from ecomtune.tasks.generate.sft import fine_tune
    from ecomtune.tasks.generate.train import _with_adapter, decode
    from ecomtune.training.device import resolve_device

    recipe = _recipe(recipe)
    m, t, e = recipe.model, recipe.training, recipe.evaluation
    started = time.perf_counter()
    say("reading data")
    data = read(recipe)
    say(f"  {data.info['train']['rows']} training / {data.info['test']['rows']} test questions "
        f"({data.info['train']['products']} / {data.info['test']['products']} products)")
    resolved = resolve_backbone(m.backbone)
    folder = open_recipe_run(recipe, resume)
    train_ctx, test_index = retriever(recipe, data.train), retriever(recipe, data.test)
    threshold = train_ctx.threshold_
    say("yes/no answers: TF-IDF + logistic regression vs the majority answer")
    tfidf, majority = yes_no_scores(data.train, data.test, recipe.data.seed)

    rows = [i for i, items in enumerate(train_ctx.rows()) if supported(items, threshold)]
    rows = sorted(np.random.default_rng(t.seed).permutation(rows)[: t.max_pairs or len(rows)].tolist())
    pairs, _ = scored_pairs(train_ctx.frame_, train_ctx.rows(), recipe, rows)
    device = resolve_device(t.device)
    torch.manual_seed(t.seed)
    model, tokenizer = load_causal_lm(resolved.path, device)
    if m.adapter is not None:
        model = _with_adapter(model, m.adapter, resolved.path)
    lm = LanguageModel(model, tokenizer, m, recipe.generation, device)
    meter = Meter(device)
    examples = encode_pairs(lm.format, pairs)
    say(f"fine-tuning the answer generator on {len(examples)} questions")
    trained = fine_tune(model, examples, tokenizer.pad_token_id, t, meter, folder.path / CHECKPOINTS)

    test = test_rows(data.test, recipe)
    ctx = test_index.rows()
    scored, items = scored_pairs(test_index.frame_, ctx, recipe, test.index)
    gate = [supported(i, threshold) for i in items]
    answers, cost = decode(lm, [s for s, g in zip(scored.inputs, gate) if g], e.batch_size, "answering test questions")
    generated = iter(answers)
    texts = [next(generated) if g else recipe.context.refusal for g in gate]
    refs = scored.outputs
    test_metrics = answer_metrics(texts, refs, gate, recipe)
    slices = generation_slices(recipe, list(test["question"]), texts, refs)  # by question length, language
    # the same questions asked of ANOTHER product's Q&A: nothing there supports an answer, the gate should refuse
    other = _other_products(test_index, test)
    test_metrics["refusal_rate_other_product"] = round(float(np.mean([not supported(i, threshold) for i in other])), 4)
    if tfidf:
        test_metrics.update({"yes_no_accuracy": tfidf["accuracy"], "yes_no_macro_f1": tfidf["macro_f1"],
                             "yes_no_rows": tfidf.get("rows", 0)})
    baselines: dict = {"majority_yes_no": majority or None}
    samples = [{"product": p, "question": q, "context": [c.answer for c in its], "reference": r, "answer": a,
                "supported": g} for p, q, its, r, a, g in zip(test["product"], test["question"], items, refs, texts,
                                                              gate)]
    if "retrieved" in e.baselines:
        got = [its[0].answer if its else "" for its in items]
        baselines["retrieved"] = answer_metrics(got, refs, gate, recipe)
        for row, text in zip(samples, got):
            row["retrieved"] = text
    if "untuned" in e.baselines:
        baselines["untuned"] = _untuned(recipe, scored, gate, device)
    cost_extra = {"eval_seconds": cost["seconds"], "generate_tokens_per_second": cost["new_tokens_per_second"],
                  "inference_samples_per_second": round(sum(gate) / max(cost["seconds"], 1e-3), 3)}

    run_dir = folder.path
    say("saving")
    model.save_pretrained(run_dir / "model")
    tokenizer.save_pretrained(run_dir / "model")
    everything = pd.concat([data.train, data.test])[["product", "question", "answer", "kind", "label"]]
    everything.to_json(run_dir / KNOWLEDGE, orient="records", lines=True, force_ascii=False)
    with open(run_dir / SAMPLES, "w", encoding="utf-8") as f:
        for row in samples:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    cost_all = {"device": device.type, **meter.summary(), **cost_extra,
                "trainable_params": trained["trainable_params"],
                "total_params": int(sum(p.numel() for p in model.parameters())), "steps": trained["steps"],
                "train_tokens_per_second": trained["train_tokens_per_second"],
                "total_seconds": round(time.perf_counter() - started, 1),
                "model_size_mb": round(dir_size_mb(run_dir / "model"), 1)}
    manifest = Manifest(
        name=recipe.name, task="qa", language=recipe.language, description=recipe.description,
        backbone={"name": resolved.name, "hf_id": resolved.spec.hf_id if resolved.spec else resolved.name,
                  "kind": resolved.kind}, recipe=recipe_to_store(recipe, folder.final),
        data={**{k: v for k, v in data.info.items() if k != "rows"}, "questions": data.info["rows"],
              "rows": {"train": data.info["train"]["rows"], "test": data.info["test"]["rows"]}},
        metrics={"test": test_metrics}, cost=cost_all, history=trained["history"],
        baseline={"name": "retrieved answer", "features": "the top answer of the product's other Q&A, as is",
                  "metrics": {"test": baselines.get("retrieved") or {"yes_no_accuracy": majority.get("accuracy")}}},
        extra={"model": {**m.model_dump(mode="json"), "dir": "model",
                         "method": m.adapter.method if m.adapter else "full"},
               "generation": recipe.generation.model_dump(mode="json"), "context": {
                   **recipe.context.model_dump(mode="json"), "threshold": threshold},
               "knowledge": KNOWLEDGE, "samples": SAMPLES, "baselines": baselines})
    write_slices(run_dir / SLICES_FILE, slices)
    write_manifest(run_dir, manifest)
    _model_card(run_dir, manifest.to_dict())
    shutil.rmtree(run_dir / CHECKPOINTS, ignore_errors=True)
    return folder.finish()


def _other_products(index: QAContext, test: pd.DataFrame) -> list:
    """Each test question's context retrieved from the next product's Q&A (a product that does not hold it)."""
    products = sorted(index.groups_)
    following = {p: products[(i + 1) % len(products)] for i, p in enumerate(products)}
    return [index.retrieve(following[p], q) for p, q in zip(test["product"], test["question"])]


def _untuned(recipe: QARecipe, scored: Pairs, gate: list[bool], device) -> dict:
    """The backbone (an instruct model) zero-shot on the first `untuned_rows` gated questions."""
    from ecomtune.backbones import resolve_backbone
    from ecomtune.tasks.generate.baselines import untuned_backbone
    from ecomtune.tasks.generate.train import decode

    e = recipe.evaluation
    name = untuned_backbone(recipe.model.backbone, None)
    rows = [i for i, g in enumerate(gate) if g][: e.untuned_rows]
    model, tokenizer = load_causal_lm(resolve_backbone(name).path, device)
    lm = LanguageModel(model, tokenizer, recipe.model.model_copy(update={"backbone": name, "prompt": "chat",
                                                                          "adapter": None}),
                       recipe.generation, device)
    texts, _ = decode(lm, [scored.inputs[i] for i in rows], e.batch_size, f"zero-shot baseline ({name})")
    out = corpus_scores(texts, [scored.outputs[i] for i in rows], recipe.language)
    return {"rouge-l_supported": out["rouge-l"], "rows": len(rows), "backbone": name}


def _model_card(run_dir: Path, manifest: dict) -> None:
    from ecomtune.reports import write_model_card

    test = manifest["metrics"]["test"]
    lines = ["| what | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in test.items()]
    write_model_card(run_dir, manifest, pipeline_tag="question-answering", sections=(
        "## Test scores\n\n" + "\n".join(lines),), what=(
        f"answers shoppers' questions about a product from the product's other answered questions, with a "
        f"generator fine-tuned from `{manifest['backbone']['name']}`, and says when they do not say"), usage=(
        "```bash\necomtune ask RUN_DIR --product B00004U9JP --question \"Will it fit a Badger 5?\"\n```"))


def evaluate_run(run_dir: str | Path, data: str | Path | None = None, device: str = "auto") -> dict:
    """Re-answer the recipe's scored test questions (the data must be where the recipe says)."""
    from ecomtune.tasks.qa.predict import ProductQA

    return evaluation_of(ProductQA.load(run_dir, device=device), data)
