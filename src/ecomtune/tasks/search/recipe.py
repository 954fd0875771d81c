"""The search recipe: a catalogue and judged queries -> a fine-tuned bi-encoder (+ cross-encoder re-ranker).

    name: search-fashion
    task: search
    data:
      format: attributes            # or `judgments` (ESCI-like tables) or `query-classes` (WANDS)
      catalogue: ../shared/data/fashion_product_styles/styles.csv
    model: {backbone: minilm, reranker: true}
    training: {epochs: 1, batch_size: 32, learning_rate: 5.0e-5, hard_negatives: 1}
"""
from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from ecomtune.recipes.schema import OutputConfig, SliceThresholds, _Section, run_name


class SearchData(_Section):
    """Where the catalogue and the judged queries come from (`format` says which layout)."""

    PATH_FIELDS: ClassVar[tuple[str, ...]] = ("catalogue", "judgments", "products", "queries")

    format: Literal["attributes", "judgments", "query-classes"] = Field(
        description="`attributes` (relevance set built from catalogue attributes, see tasks/search/relevance.py), "
                    "`judgments` (query, product, graded label rows, e.g. Amazon ESCI) or `query-classes` "
                    "(query -> product class, e.g. WANDS query.csv)")
    # attributes
    catalogue: str | None = Field(None, description="attributes: the catalogue table with id, title and the "
                                                    "gender/baseColour/articleType/usage columns")
    id_column: str = Field("id", description="attributes: the product id column, e.g. `id`")
    text_column: str = Field("productDisplayName", description="attributes: the product text column (the title)")
    train_queries: int = Field(2000, ge=1, description="attributes: training queries to compose, e.g. `2000`")
    eval_queries: int = Field(300, ge=1, description="attributes: held-out evaluation queries, e.g. `300`")
    eval_fraction: float = Field(0.3, gt=0, lt=1, description="attributes: share of attribute combinations kept "
                                                               "for evaluation only, e.g. `0.3`")
    # judgments
    judgments: str | None = Field(None, description="judgments: the (query, product, label) table")
    query_column: str = Field("query", description="the query text column, e.g. `query`")
    product_column: str = Field("product_id", description="judgments: product id column (or the product text "
                                                          "when `data.products` is not given), e.g. `product_id`")
    label_column: str = Field("esci_label", description="judgments: graded label column: E/S/C/I letters or "
                                                        "numbers >= 0, e.g. `esci_label`")
    label_map: dict[str, float] | None = Field(None, description="judgments: label -> gain, e.g. "
                                                                 "`{Exact: 2, Partial: 1, Irrelevant: 0}`")
    relevant_min: float | None = Field(None, ge=0, description="judgments: lowest gain counted relevant for MRR, "
                                                               "Recall and training positives (default: the top)")
    products: str | None = Field(None, description="judgments: product table with id and text columns, or `null` "
                                                   "when `product_column` holds the text")
    product_id_column: str = Field("product_id", description="judgments: id column of `data.products`")
    product_text_column: str = Field("product_title", description="judgments: text column of `data.products`")
    # query-classes
    queries: str | None = Field(None, description="query-classes: the query -> class table (WANDS query.csv)")
    class_column: str = Field("query_class", description="query-classes: the class column, e.g. `query_class`")
    pii: Literal["mask", "drop", "keep"] = Field(
        "mask", description="personal data in queries and product texts (phones, e-mails, CN ID and bank-card "
        "numbers, addresses): `mask`, `drop` (leave out the queries; product texts are masked) or `keep`; "
        "docs/privacy.md")
    bad_rows: Literal["error", "drop"] = Field(
        "error", description="rows with an empty query, product, label or class: `error` (name them) or `drop`")
    test: float = Field(0.2, gt=0, lt=1, description="judgments / query-classes: share of queries held out, "
                                                     "e.g. `0.2`")
    seed: int = Field(42, description="seed of the query composition and the splits, e.g. `42`")

    @field_validator("label_map", mode="before")
    @classmethod
    def _string_keys(cls, value):
        return {str(k): v for k, v in value.items()} if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _paths_for_format(self):
        need = {"attributes": "catalogue", "judgments": "judgments", "query-classes": "queries"}[self.format]
        if not getattr(self, need):
            raise ValueError(f"`data.{need}` is required for `data.format: {self.format}` — give the path of the "
                             "table")
        return self


class SearchModel(_Section):
    """The bi-encoder that embeds queries and products, and the optional cross-encoder re-ranker."""

    backbone: str = Field("minilm", description="bi-encoder backbone: `minilm`, a hub name or a local dir")
    pooling: Literal["mean", "cls"] = Field("mean", description="token states -> one vector: `mean` or `cls`")
    query_max_length: int = Field(24, ge=4, le=512, description="query tokens after truncation, e.g. `24`")
    max_length: int = Field(32, ge=4, le=512, description="product text tokens after truncation, e.g. `32`")
    index: Literal["exact", "faiss-flat", "faiss-hnsw"] = Field(
        "exact", description="catalogue index: `exact`, `faiss-flat` (exact) or `faiss-hnsw` (approximate)")
    reranker: bool = Field(True, description="also train a cross-encoder re-ranker: `true` or `false`")
    reranker_backbone: str | None = Field(None, description="cross-encoder backbone (default: `model.backbone`)")
    reranker_max_length: int = Field(48, ge=8, le=512, description="(query, product) pair tokens, e.g. `48`")
    rerank_top: int = Field(50, ge=2, le=1000, description="bi-encoder results the re-ranker re-scores, e.g. `50`")
    rerank_weight: float | None = Field(
        None, ge=0, le=1, description="share of the re-ranker in the re-ranked score (both scores standardised per "
                                      "query): `1` = the cross-encoder alone, `0` = the bi-encoder's order, `null` "
                                      "= tuned on validation queries, e.g. `0.5`")


class RerankerTraining(_Section):
    """The cross-encoder re-ranker: trained after the bi-encoder, on negatives the fine-tuned bi-encoder ranks high
    (see tasks/search/crossencoder.py)."""

    loss: Literal["listwise", "pointwise"] = Field(
        "listwise", description="`listwise` (softmax over 1 relevant product + `negatives` mined ones) or "
                                "`pointwise` (binary cross-entropy on gain / max gain, lowers MRR: kept to compare)")
    epochs: float = Field(1, gt=0, description="passes over the training queries, e.g. `1`")
    batch_size: int = Field(16, ge=1, description="(query, product) pairs per step (listwise: whole groups of "
                                                  "1 + `negatives`, at least one), e.g. `16`")
    learning_rate: float = Field(5e-5, gt=0, lt=1, description="peak learning rate, e.g. `5e-5`")
    negatives: int = Field(7, ge=1, le=64, description="mined negatives per query, e.g. `7`")
    max_queries: int | None = Field(None, ge=1, description="train on at most this many queries, e.g. `1000`")
    validation_queries: int = Field(200, ge=0, description="training queries kept out of the re-ranker's training "
                                                           "to tune `model.rerank_weight` on, e.g. `200`")


class SearchTraining(_Section):
    """Bi-encoder training: in-batch negatives plus mined hard negatives; the re-ranker's own settings."""

    epochs: float = Field(1, gt=0, description="passes over the training queries, e.g. `1`")
    max_steps: int | None = Field(None, ge=1, description="stop after this many steps (overrides epochs)")
    batch_size: int = Field(32, ge=2, description="queries per step (each also sees the others' products as "
                                                  "negatives), e.g. `32`")
    eval_batch_size: int = Field(128, ge=1, description="texts per embedding batch, e.g. `128`")
    learning_rate: float = Field(5e-5, gt=0, lt=1, description="peak learning rate, e.g. `5e-5`")
    weight_decay: float = Field(0.01, ge=0, lt=1, description="AdamW weight decay, e.g. `0.01`")
    warmup: float = Field(0.1, ge=0, lt=1, description="warmup as a fraction of the steps, e.g. `0.1`")
    scale: float = Field(20.0, gt=0, le=100, description="similarity scale of the softmax over the batch, e.g. `20`")
    hard_negatives: int = Field(1, ge=0, le=16, description="mined hard negatives per query per step, `0` = only "
                                                            "in-batch negatives, e.g. `1`")
    mine_top: int = Field(30, ge=1, le=1000, description="ids kept per query from the base encoder's top results "
                                                         "(bounds mining memory), e.g. `30`")
    mine_skip: int = Field(0, ge=0, description="skip this many top non-relevant results (likely unjudged "
                                                "positives), e.g. `0`")
    reranker: RerankerTraining = Field(default_factory=RerankerTraining)
    checkpoint_minutes: float = Field(10, gt=0, description="minutes between checkpoints (also written at each "
                                                            "epoch's end), which `--resume` continues from, "
                                                            "e.g. `10`")
    seed: int = Field(42, description="random seed, e.g. `42`")
    device: Literal["auto", "cpu", "cuda", "mps"] = Field("auto", description="`auto`, `cpu`, `cuda` or `mps`")

    @model_validator(mode="after")
    def _mine_enough(self):
        if self.hard_negatives > self.mine_top:
            raise ValueError(f"`training.hard_negatives` ({self.hard_negatives}) cannot exceed "
                             f"`training.mine_top` ({self.mine_top}) — raise `mine_top`")
        return self


class SearchEvaluation(SliceThresholds):  # + slice_gap, min_slice_size (tasks/*/slices.py)
    ndcg_k: list[int] = Field([10], min_length=1, description="cut-offs of NDCG, e.g. `[10]`")
    recall_k: list[int] = Field([10, 100], min_length=1, description="cut-offs of Recall, e.g. `[10, 100]`")
    baselines: bool = Field(True, description="also score BM25 and the un-tuned bi-encoder: `true` or `false`")

    @field_validator("ndcg_k", "recall_k")
    @classmethod
    def _positive(cls, value):
        if any(k < 1 for k in value):
            raise ValueError(f"cut-offs must be integers >= 1, got {value} — e.g. `[10, 100]`")
        return sorted(set(value))


class SearchRecipe(_Section):
    """A complete search recipe."""

    name: str = run_name()
    task: Literal["search"] = Field(description="`search`")
    language: Literal["en", "zh", "multi"] = Field("en", description="`en`, `zh` or `multi`")
    description: str = Field("", description="free text shown in the model card")
    data: SearchData
    model: SearchModel = Field(default_factory=SearchModel)
    training: SearchTraining = Field(default_factory=SearchTraining)
    evaluation: SearchEvaluation = Field(default_factory=SearchEvaluation)
    output: OutputConfig = Field(default_factory=OutputConfig)
