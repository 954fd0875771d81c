"""The recommendation recipe: interactions (+ item text) -> a sequential or two-tower recommender.

    name: games-sasrec
    task: recommend
    data:
      interactions: ../shared/data/amazon_games_seqrec_llmrank/Games.test.inter.gz   # or sequences / a table
      items: ../shared/data/amazon_games_seqrec_llmrank/Games.item                   # item id + text columns
      item_text_column: title
      cold_items: 0.05          # hold out 5% of items from training entirely (cold-start protocol)
    model: {type: sasrec, item_embedding: text+id, text_encoder: minilm}
    training: {epochs: 30, batch_size: 256, learning_rate: 1.0e-3}
"""
from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from ecomtune.recipes.schema import OutputConfig, SliceThresholds, _Section, run_name


class RecommendData(_Section):
    """User histories (chronological) and, for text models, the item catalogue's text."""

    PATH_FIELDS: ClassVar[tuple[str, ...]] = ("interactions", "items", "users", "item_vectors")

    interactions: str = Field(description="user histories: a `user item item ...` text file, a RecBole `.inter` "
                                          "file, or a table with user/item(/time) columns")
    format: Literal["auto", "sequences", "recbole", "table"] = Field(
        "auto", description="`sequences` (`user item item ...` per line), `recbole` (item_id_list + item_id), "
                            "`table` (one interaction per row), or `auto` (by content)")
    user_column: str = Field("user_id", description="table format: the user column, e.g. `user_id`")
    item_column: str = Field("item_id", description="table format: the item column, e.g. `item_id`")
    time_column: str | None = Field(None, description="table format: sort each user's rows by this column, "
                                                      "e.g. `timestamp` (default: file order)")
    items: str | None = Field(None, description="item table with an id column and text columns (text models)")
    item_id_column: str = Field("item_id", description="id column of `data.items`, e.g. `item_id`")
    item_text_column: str | list[str] = Field(
        "title", description="text column(s) of `data.items`, joined with ' | ', e.g. `[title, category]`")
    item_vectors: str | None = Field(
        None, description="text models: the items' vectors, precomputed by `ecomtune embed` (e.g. on Ray for a big "
                          "catalogue) with `model.text_encoder`, ids = `data.item_id_column`; read instead of "
                          "embedding the item texts, e.g. `item_vectors.parquet`")
    users: str | None = Field(None, description="two_tower: optional user table with an id column and profile "
                                                "text columns (users without a row get no profile)")
    user_id_column: str = Field("user_id", description="id column of `data.users`, e.g. `user_id`")
    user_text_column: str | list[str] = Field(
        "profile", description="profile text column(s) of `data.users`, joined with ' | ', e.g. `[age, city]`")
    pii: Literal["mask", "drop", "keep"] = Field(
        "mask", description="personal data in item and user texts (phones, e-mails, CN ID and bank-card numbers, "
        "addresses): `mask`, `drop` (leave out the user profiles holding some; item texts are masked) or `keep`; "
        "docs/privacy.md")
    min_history: int = Field(3, ge=3, description="users with fewer interactions are dropped (leave-one-out "
                                                  "needs train + validation + test), e.g. `3`")
    max_history: int = Field(50, ge=2, le=1024, description="most recent items a model sees per user, e.g. `50`")
    max_users: int | None = Field(None, ge=10, description="seeded sample of at most this many users (quick runs)")
    cold_items: float = Field(0.0, ge=0, lt=0.5, description="fraction of items held out of training entirely, "
                                                             "for the cold-start evaluation, e.g. `0.05`")
    seed: int = Field(42, description="seed of the user sample and the cold-item draw, e.g. `42`")

    @property
    def text_columns(self) -> list[str]:
        c = self.item_text_column
        return [c] if isinstance(c, str) else list(c)

    @property
    def user_text_columns(self) -> list[str]:
        c = self.user_text_column
        return [c] if isinstance(c, str) else list(c)


class RecommendModel(_Section):
    """Which recommender, and how its items are embedded."""

    type: Literal["sasrec", "two_tower"] = Field(
        description="`sasrec` (causal Transformer over the history) or `two_tower` (bilinear h_uᵀ W h_i)")
    item_embedding: Literal["id", "text-init", "text", "text+id"] = Field(
        "id", description="sasrec: `id` (learned table), `text-init` (table initialised from text embeddings), "
                          "`text` (tied: a projection of the text embedding, no per-item table) or `text+id` "
                          "(projection + learned per-item residual)")
    text_encoder: str = Field("minilm", description="backbone that embeds item text (`minilm`, a hub name or a "
                                                   "local dir), e.g. `minilm`")
    text_max_length: int = Field(32, ge=4, le=512, description="tokens of item text the encoder reads, e.g. `32`")
    finetune: Literal["frozen", "lora", "full"] = Field(
        "frozen", description="two_tower: the item tower's text encoder `frozen` (cached embeddings + a learned "
                              "projection), `lora` or `full` fine-tuning")
    lora_r: int = Field(8, ge=1, le=256, description="two_tower with `finetune: lora`: LoRA rank, e.g. `8`")
    user_pooling: Literal["mean", "attention", "mean+attention"] = Field(
        "mean+attention", description="two_tower: how history item embeddings become the user vector")
    hidden: int = Field(64, ge=8, le=2048, description="embedding / Transformer width, e.g. `64`")
    layers: int = Field(2, ge=1, le=12, description="sasrec: Transformer blocks, e.g. `2`")
    heads: int = Field(2, ge=1, le=16, description="sasrec: attention heads (must divide `hidden`), e.g. `2`")
    dropout: float = Field(0.5, ge=0, lt=1, description="dropout, e.g. `0.5` (sparse data) or `0.2`")

    @model_validator(mode="after")
    def _heads_divide(self):
        if self.type == "sasrec" and self.hidden % self.heads:
            raise ValueError(f"`model.heads` ({self.heads}) must divide `model.hidden` ({self.hidden}) — e.g. "
                             f"`heads: {next(h for h in (4, 2, 1) if self.hidden % h == 0)}`")
        return self


class RecommendTraining(_Section):
    epochs: float = Field(30, gt=0, description="passes over the training users, e.g. `30`")
    batch_size: int = Field(256, ge=1, description="users (sasrec) or (history, target) pairs per step, e.g. `256`")
    learning_rate: float = Field(1e-3, gt=0, lt=1, description="Adam learning rate, e.g. `1e-3`")
    encoder_learning_rate: float = Field(3e-5, gt=0, lt=1, description="two_tower lora/full: the text encoder's "
                                                                      "learning rate, e.g. `3e-5`")
    weight_decay: float = Field(0.0, ge=0, lt=1, description="AdamW weight decay, e.g. `0.0`")
    negatives: int = Field(256, ge=0, description="two_tower: uniformly sampled negatives per step, added to the "
                                                  "in-batch ones, e.g. `256`")
    max_minutes: float | None = Field(None, gt=0, description="time budget: validate and stop once training has "
                                                              "run this many minutes (null: no limit), e.g. `30`")
    patience: int | None = Field(5, ge=1, description="stop after this many evaluations without a better "
                                                      "validation metric (null: never), e.g. `5`")
    evaluate_every: float = Field(1, gt=0, description="epochs between validations, e.g. `1`")
    max_eval_users: int | None = Field(5000, ge=100, description="validate on a seeded sample of this many users "
                                                                 "(the test uses all), e.g. `5000`")
    refresh_every: int = Field(200, ge=1, description="two_tower lora/full: steps between refreshes of the cached "
                                                      "history embeddings, e.g. `200`")
    device: Literal["auto", "cpu", "cuda", "mps"] = Field("auto", description="`auto`, `cpu`, `cuda` or `mps`")
    seed: int = Field(42, description="seed of initialisation and batch order, e.g. `42`")


class RecommendEvaluation(SliceThresholds):  # + slice_gap, min_slice_size (tasks/*/slices.py)
    ks: list[int] = Field([5, 10, 20], description="cut-offs of HR@K and NDCG@K, e.g. `[5, 10, 20]`")
    metric: str = Field("ndcg@10", description="validation metric for early stopping, e.g. `ndcg@10` or `hr@10`")
    exclude_history: bool = Field(True, description="never rank items the user already has: `true` or `false`")

    @model_validator(mode="after")
    def _metric_known(self):
        name, _, k = self.metric.partition("@")
        if self.metric != "mrr" and (name not in ("hr", "ndcg") or not k.isdigit() or int(k) not in self.ks):
            raise ValueError(f"`evaluation.metric` must be `mrr`, or `hr@K`/`ndcg@K` with K in `evaluation.ks` "
                             f"{self.ks}, got {self.metric!r} — e.g. `metric: ndcg@10`")
        return self


class RecommendRecipe(_Section):
    """A complete recommendation recipe."""

    name: str = run_name()
    task: Literal["recommend"] = Field(description="`recommend`")
    language: Literal["en", "zh", "multi"] = Field("en", description="language of the item text: `en`, `zh`, `multi`")
    description: str = Field("", description="free text shown in the model card")
    data: RecommendData
    model: RecommendModel
    training: RecommendTraining = Field(default_factory=RecommendTraining)
    evaluation: RecommendEvaluation = Field(default_factory=RecommendEvaluation)
    output: OutputConfig = Field(default_factory=OutputConfig)

    @property
    def uses_text(self) -> bool:
        return self.model.type == "two_tower" or self.model.item_embedding != "id"

    @model_validator(mode="after")
    def _text_needs_items(self):
        if self.uses_text and not self.data.items:
            what = "`model.type: two_tower`" if self.model.type == "two_tower" else \
                f"`model.item_embedding: {self.model.item_embedding}`"
            raise ValueError(f"{what} embeds item text — set `data.items` to the item table, or use "
                             "`model.item_embedding: id`")
        if self.model.type == "two_tower" and self.model.item_embedding != "id":
            raise ValueError("`model.item_embedding` is a sasrec option (the two-tower item tower is always the "
                             "text encoder) — remove it")
        if self.data.users and self.model.type != "two_tower":
            raise ValueError("`data.users` (profile text) feeds the two-tower user tower — use "
                             "`model.type: two_tower`, or remove `data.users`")
        return self
