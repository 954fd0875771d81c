"""Scores of a Q&A run's answers — shared by training, `evaluate` and the loaded run's `evaluate` (imported by
both `train` and `predict`, importing neither): the data as the recipe reads it, the retrieval index, the scored
test questions, ROUGE and the refusal rate."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ecomtune.recipes.loader import recipe_of_run
from ecomtune.tasks.generate.data import Pairs
from ecomtune.tasks.generate.metrics import corpus_scores
from ecomtune.tasks.qa.answer import prompt_input, supported
from ecomtune.tasks.qa.context import QAContext
from ecomtune.tasks.qa.data import load_qa
from ecomtune.tasks.qa.recipe import QARecipe


def read(recipe: QARecipe):
    d = recipe.data
    return load_qa(d.path, d.test, d.seed, d.bad_rows, d.pii, product_column=d.product_column,
                   question_column=d.question_column, answer_column=d.answer_column, kind_column=d.kind_column,
                   label_column=d.label_column)


def retriever(recipe: QARecipe, frame: pd.DataFrame) -> QAContext:
    c = recipe.context
    encoder = None
    if c.method == "biencoder":
        from ecomtune.backbones import resolve_backbone
        from ecomtune.tasks.search.biencoder import BiEncoder

        encoder = BiEncoder.from_pretrained(resolve_backbone("minilm").path)
    return QAContext(k=c.k, method=c.method, threshold=c.threshold, encoder=encoder).fit(frame)


def test_rows(test: pd.DataFrame, recipe: QARecipe) -> pd.DataFrame:
    order = np.random.default_rng(recipe.data.seed).permutation(len(test))[: recipe.evaluation.rows]
    return test.reset_index(drop=True).iloc[np.sort(order)]


def scored_pairs(frame: pd.DataFrame, ctx: list, recipe: QARecipe, rows) -> tuple[Pairs, list]:
    """Prompt inputs and reference answers for `rows` of `frame`, with each row's context items."""
    inputs, outputs, found = [], [], []
    for i in rows:
        inputs.append(prompt_input(ctx[i], frame["question"].iloc[i], recipe.context.budget_chars))
        outputs.append(" ".join(str(frame["answer"].iloc[i]).split())[:600])
        found.append(ctx[i])
    return Pairs(inputs, outputs), found


def answer_metrics(texts: list[str], refs: list[str], gate: list[bool], recipe: QARecipe) -> dict:
    """ROUGE-L over all scored questions, over the ones the gate let through, and the refusal rate."""
    scores = corpus_scores(texts, refs, recipe.language)
    through = [i for i, g in enumerate(gate) if g]
    out = {"rouge-l": scores["rouge-l"], "rouge-1": scores["rouge-1"], "bleu-4": scores["bleu-4"],
           "length": scores["length"], "refusal_rate": round(1 - len(through) / max(1, len(gate)), 4)}
    if through:
        out["rouge-l_supported"] = corpus_scores([texts[i] for i in through], [refs[i] for i in through],
                                                 recipe.language)["rouge-l"]
    return out


def evaluation_of(qa, data: str | Path | None = None) -> dict:
    """Re-answer the recipe's scored test questions with a loaded run (`data`: another Q&A table)."""
    recipe = recipe_of_run(qa.run_dir, qa.manifest, need_data=data is None)
    if data is not None:
        recipe = recipe.model_copy(update={"data": recipe.data.model_copy(update={"path": str(data)})})
    split = read(recipe)
    test = test_rows(split.test, recipe)
    index = retriever(recipe, split.test)
    ctx = index.rows()
    scored, items = scored_pairs(index.frame_, ctx, recipe, test.index)
    gate = [supported(i, qa.threshold) for i in items]
    answers = qa.lm.generate([s for s, g in zip(scored.inputs, gate) if g], batch_size=recipe.evaluation.batch_size)
    generated = iter(answers)
    texts = [next(generated) if g else recipe.context.refusal for g in gate]
    from ecomtune.tasks.generate.slices import generation_slices

    out = answer_metrics(texts, scored.outputs, gate, recipe)
    out["slices"] = generation_slices(recipe, list(test["question"]), texts, scored.outputs)
    return out
