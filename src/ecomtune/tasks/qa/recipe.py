"""The product Q&A recipe: answered questions per product -> a yes/no answerer and a generator that answers from
the product's other answered questions (or says they do not say).

    name: qa-en
    task: qa
    data: {path: ../shared/data/amazon_qa_appliances/qa_Appliances.jsonl.gz, test: 0.2}
    context: {method: bm25, k: 3}
    model: {backbone: smollm2-135m, adapter: {method: lora, r: 16}}
    training: {epochs: 1, batch_size: 8, max_pairs: 400}
"""
from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from ecomtune.recipes.schema import OutputConfig, SliceThresholds, _Section, run_name
from ecomtune.tasks.generate.recipe import (
    GenerateModel,
    GenerateTraining,
    GenerationSettings,
)

PROMPT = ("Answer the shopper's question about a product, using the product's other answered questions.\n"
          "{input}")


class QAData(_Section):
    PATH_FIELDS: ClassVar[tuple[str, ...]] = ("path",)

    path: str = Field(description="the Q&A table (JSONL, CSV, ... .gz), one answered question per row")
    product_column: str = Field("asin", description="the product id column, e.g. `asin`")
    question_column: str = Field("question", description="the question column")
    answer_column: str = Field("answer", description="the answer column")
    kind_column: str | None = Field("questionType", description="`yes/no` vs other questions (null: none)")
    label_column: str | None = Field("answerType", description="yes/no labels `Y`/`N`/`?` (null: none)")
    test: float = Field(0.2, gt=0, lt=1, description="share of PRODUCTS held out, e.g. `0.2`")
    bad_rows: Literal["error", "drop"] = Field("error", description="empty cells: `error` (name them) or `drop`")
    pii: Literal["mask", "drop", "keep"] = Field("mask", description="personal data in questions and answers (phones, "
                                                 "e-mails, CN ID and bank-card numbers, addresses): `mask`, `drop` "
                                                 "(leave out the rows) or `keep`; docs/privacy.md")
    seed: int = Field(42, description="seed of the product split, e.g. `42`")


class QAContextConfig(_Section):
    method: Literal["bm25", "biencoder"] = Field("bm25", description="how the product's other Q&A are ranked for "
                                                                      "a question: `bm25` or `biencoder` (MiniLM)")
    k: int = Field(3, ge=1, le=20, description="answered questions in the prompt, e.g. `3`")
    threshold: float | None = Field(None, description="below this best score the product's Q&A is taken not to "
                                                      "answer the question (default: bm25 4.0, biencoder 0.5)")
    budget_chars: int = Field(600, ge=50, le=8000, description="context characters at most, e.g. `600`")
    refusal: str = Field("The product's other answers do not say.", min_length=1,
                         description="the answer when the context does not support one")


class QATraining(GenerateTraining):
    max_pairs: int | None = Field(400, ge=1, description="train the generator on at most this many questions "
                                                         "(the CPU budget), e.g. `400`; null = all")


class QAEvaluation(SliceThresholds):  # + slice_gap, min_slice_size (generate/slices.py)
    metric: Literal["rouge-l", "rouge-l_supported", "yes_no_accuracy"] = Field(
        "rouge-l", description="the test metric `ecomtune compare` ranks methods by, e.g. `rouge-l`")
    rows: int = Field(200, ge=1, description="test questions answered and scored, e.g. `200`")
    batch_size: int = Field(8, ge=1, le=256, description="prompts decoded together, e.g. `8`")
    baselines: list[Literal["retrieved", "untuned"]] = Field(
        ["retrieved", "untuned"], description="`retrieved` (the top context answer as is) and `untuned` (the "
                                              "instruct model zero-shot)")
    untuned_rows: int | None = Field(50, ge=1, description="score the zero-shot model on this many rows, e.g. `50`")


def _model() -> GenerateModel:
    return GenerateModel(backbone="smollm2-135m", template=PROMPT, max_prompt_tokens=320, max_target_tokens=96)


class QARecipe(_Section):
    name: str = run_name()
    task: Literal["qa"] = Field(description="`qa`")
    language: Literal["en", "zh"] = Field("en", description="`en` or `zh` (how ROUGE tokenizes)")
    description: str = Field("", description="free text shown in the model card")
    data: QAData
    context: QAContextConfig = Field(default_factory=QAContextConfig)
    model: GenerateModel = Field(default_factory=_model)
    training: QATraining = Field(default_factory=QATraining)
    generation: GenerationSettings = Field(default_factory=lambda: GenerationSettings(max_new_tokens=64))
    evaluation: QAEvaluation = Field(default_factory=QAEvaluation)
    output: OutputConfig = Field(default_factory=OutputConfig)
