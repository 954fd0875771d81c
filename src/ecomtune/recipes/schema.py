"""The recipe: one validated YAML document that says what to train, on what data, and how.

Every section forbids unknown keys, so a typo is an error that names the key instead of a silently ignored
setting. Field descriptions double as the "fix" part of error messages.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


def run_name():
    """The `name` field of every recipe: it names the folder `runs/<name>`, so `.`, `..` and paths are refused."""
    return Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=100,
                 description="run name: a letter or digit, then letters, digits, `-`, `_`, `.`, e.g. `sentiment-v2`")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class SplitConfig(_Section):
    """How to split the train file when no validation/test file is given."""

    test: float = Field(0.2, ge=0.0, lt=1.0, description="fraction held out for test, e.g. `0.2`")
    validation: float = Field(0.1, ge=0.0, lt=1.0, description="fraction of the rest held out for validation, e.g. `0.1`")
    seed: int = Field(42, description="random seed of the split, e.g. `42`")
    stratify: bool = Field(True, description="keep label proportions in every split: `true` or `false`")
    group_column: str | None = Field(
        None, description="column whose values never straddle two splits (e.g. a product id), or `null`"
    )


class AugmentConfig(_Section):
    """Extra training rows made by editing existing ones (small-data help)."""

    fraction: float = Field(0.5, gt=0, le=10, description="augmented rows as a fraction of training rows, e.g. `0.5`")
    ops: list[Literal["delete", "swap", "insert", "synonym", "char_noise"]] | None = Field(
        None, description="edits to draw from, e.g. `[delete, swap, synonym]` (default: per language)"
    )
    rate: float = Field(0.1, gt=0, lt=1, description="fraction of words/characters edited per text, e.g. `0.1`")
    seed: int = Field(42, description="random seed of the augmentation, e.g. `42`")


class DataConfig(_Section):
    """Where the rows come from and which columns mean what."""

    train: str = Field(description="path of the training table (csv, tsv, jsonl, parquet; .gz allowed)")
    validation: str | None = Field(None, description="optional path of a validation table")
    test: str | None = Field(None, description="optional path of a test table")
    text_column: str | list[str] = Field(
        description="column holding the text, or a list of columns joined with a space, e.g. `[Title, Review Text]`"
    )
    label_column: str | None = Field(None, description="label column for `task: classify`, e.g. `label`")
    label_columns: list[str] | None = Field(
        None, description="one column per taxonomy level, top first, e.g. `[masterCategory, subCategory]`"
    )
    path_column: str | None = Field(None, description="taxonomy path column like `Apparel > Topwear > Shirts`")
    path_separator: str = Field(">", description="separator between levels in `path_column`, e.g. `>`")
    label_map: dict[str, str | None] | None = Field(
        None,
        description="rename raw labels, e.g. `{1: negative, 5: positive}`; map a value to `null` to drop its rows",
    )
    filters: dict[str, list[str]] | None = Field(
        None, description="drop rows whose column value is listed, e.g. `{cat: [酒店]}`"
    )
    max_train_rows: int | None = Field(None, ge=1, description="stratified sample of at most this many training rows")
    max_validation_rows: int | None = Field(None, ge=1, description="sample of at most this many validation rows")
    max_test_rows: int | None = Field(None, ge=1, description="sample of at most this many test rows")
    min_label_count: int = Field(2, ge=1, description="labels with fewer training rows are rare, e.g. `5`")
    rare_labels: Literal["error", "drop"] = Field("error", description="what to do with rare labels: `error` or `drop`")
    bad_rows: Literal["error", "drop"] = Field(
        "error", description="what to do with empty texts or labels: `error` (list them) or `drop` (skip them)"
    )
    dedupe: bool = Field(True, description="drop repeated (text, label) rows before splitting: `true` or `false`")
    pii: Literal["mask", "drop", "keep"] = Field(
        "mask", description="personal data in the texts (phones, e-mails, CN ID and bank-card numbers, street "
        "addresses): `mask` (replace with [PHONE], [EMAIL], …), `drop` (leave out the rows) or `keep`; docs/privacy.md"
    )
    split: SplitConfig = Field(default_factory=SplitConfig)
    augment: AugmentConfig | None = Field(
        None, description="add edited copies of training rows, e.g. `{fraction: 0.5, ops: [delete, swap]}`"
    )

    @field_validator("label_map", "filters", mode="before")
    @classmethod
    def _string_keys(cls, value):
        # YAML reads `1: negative` with an int key; labels are compared as the strings read from the file.
        if isinstance(value, dict):
            return {str(k): v if v is None or not isinstance(v, (int, float)) else str(v) for k, v in value.items()}
        return value

    @property
    def text_columns(self) -> list[str]:
        return [self.text_column] if isinstance(self.text_column, str) else list(self.text_column)


class AdapterConfig(_Section):
    """A parameter-efficient adapter (via `peft`): the backbone stays frozen, only the adapter and heads train."""

    method: Literal["lora", "adalora", "ia3", "prefix", "prompt"] = Field(
        description="`lora`, `adalora`, `ia3`, `prefix` (prefix tuning) or `prompt` (prompt tuning)"
    )
    r: int = Field(8, ge=1, le=512, description="LoRA rank (AdaLoRA: the average rank it ends with), e.g. `8`")
    alpha: float = Field(16, gt=0, description="LoRA scaling numerator (scale = alpha / r), e.g. `16`")
    dropout: float = Field(0.05, ge=0, lt=1, description="dropout on the adapter input, e.g. `0.05`")
    target_modules: list[str] | None = Field(
        None, description="module names or regex the adapter wraps, e.g. `[q_proj, v_proj]` (default: per backbone)"
    )
    layers: list[int] | None = Field(
        None, description="only adapt these transformer layers (0 = bottom), e.g. `[14, 15, 16, 17]` (default: all)"
    )
    virtual_tokens: int = Field(20, ge=1, le=512, description="prefix/prompt length in virtual tokens, e.g. `20`")
    init_text: str | None = Field(
        None, description="prompt tuning: initialise the virtual tokens from this text, e.g. `判断评论的情感`"
    )


class ModelConfig(_Section):
    """The pretrained backbone and the head on top of it."""

    backbone: str = Field(description="a registered backbone (`minilm`, `gemma3-270m`), a hub name or a local path")
    pooling: Literal["mean", "last", "cls"] | None = Field(
        None, description="how token states become one vector: `mean`, `last` or `cls` (default: per backbone)"
    )
    max_length: int = Field(128, ge=8, le=8192, description="tokens per input after truncation, e.g. `128`")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout before the classification head, e.g. `0.1`")
    template: str | None = Field(
        None, description="wrap every text before tokenizing, with `{text}` where it goes, e.g. `评论：{text} 情感：`"
    )

    adapter: AdapterConfig | None = Field(
        None, description="train a peft adapter instead of the whole backbone, e.g. `{method: lora, r: 8}`"
    )
    keep_layers: int | None = Field(
        None, ge=1, description="keep only the bottom N transformer layers (a smaller, faster model), e.g. `4`"
    )

    @field_validator("template")
    @classmethod
    def _has_slot(cls, value):
        if value is not None and "{text}" not in value:
            raise ValueError(f"`model.template` must contain `{{text}}`, got {value!r} — e.g. `Review: {{text}}`")
        return value


class EarlyStoppingConfig(_Section):
    patience: int = Field(2, ge=1, description="evaluations without improvement before stopping, e.g. `2`")
    min_delta: float = Field(0.0, ge=0.0, description="smallest improvement that counts, e.g. `0.001`")


class LossConfig(_Section):
    """The training loss; class weights and focal loss help when one label is rare (fake or abusive reviews)."""

    name: Literal["ce", "focal"] = Field("ce", description="`ce` (cross-entropy) or `focal`")
    gamma: float = Field(2.0, ge=0, le=10, description="focal loss focusing strength, e.g. `2.0`")
    class_weights: Literal["none", "balanced"] | dict[str, float] = Field(
        "none", description="`none`, `balanced` (inverse frequency) or per-label weights, e.g. `{fake: 5, real: 1}`"
    )

    @field_validator("class_weights", mode="before")
    @classmethod
    def _label_keys(cls, value):
        # YAML reads `1: 5` with an int key; labels are the strings read from the data file.
        if isinstance(value, dict):
            bad = {k: v for k, v in value.items() if not isinstance(v, (int, float)) or v <= 0}
            if bad:
                raise ValueError(f"`training.loss.class_weights` values must be numbers > 0, got {bad} — e.g. "
                                 "`{fake: 5, real: 1}`")
            return {str(k): v for k, v in value.items()}
        return value


class AdversarialConfig(_Section):
    """Adversarial training: perturb the input embeddings along the loss gradient and train on both."""

    method: Literal["fgm", "pgd"] = Field(description="`fgm` (one step) or `pgd` (several projected steps)")
    epsilon: float = Field(1.0, gt=0, description="L2 radius of the embedding perturbation, e.g. `1.0`")
    steps: int = Field(3, ge=1, le=20, description="PGD: ascent steps per batch, e.g. `3`")
    alpha: float = Field(0.3, gt=0, description="PGD: size of each ascent step, e.g. `0.3`")


class DistillConfig(_Section):
    """Knowledge distillation from a fine-tuned teacher run directory into this (smaller) model."""

    teacher: str = Field(description="run directory of the fine-tuned teacher, e.g. `runs/sentiment-zh`")
    temperature: float = Field(2.0, gt=0, description="softmax temperature of the soft labels, e.g. `2.0`")
    alpha: float = Field(0.5, ge=0, le=1, description="weight of the soft-label loss (1 - alpha: hard labels)")
    unlabeled: str | None = Field(
        None, description="extra unlabeled table the teacher labels for the student (a transfer set), or `null`"
    )
    unlabeled_column: str | None = Field(None, description="text column of `unlabeled` (default: `data.text_column`)")
    max_unlabeled_rows: int | None = Field(None, ge=1, description="sample at most this many unlabeled rows")


class FewShotConfig(_Section):
    """Few-shot mode (SetFit): contrastive sentence-pair fine-tuning of the encoder, then logistic regression on its
    embeddings, saved as the usual linear head. For a handful of labels per class, or small skewed data."""

    pairs_per_example: int = Field(
        20, ge=2, le=1000, description="sentence pairs generated per training row, half same-label, e.g. `20`"
    )
    epochs: float = Field(1, gt=0, le=100, description="passes over the generated pairs, e.g. `1`")
    batch_size: int = Field(16, ge=1, description="sentence pairs per step, e.g. `16`")
    learning_rate: float = Field(2e-5, gt=0, lt=1, description="encoder learning rate of the pair stage, e.g. `2e-5`")
    head: Literal["logistic"] = Field("logistic", description="the classifier fitted on the embeddings: `logistic`")
    class_weights: Literal["balanced", "none"] = Field(
        "balanced", description="class weights of the head: `balanced` (inverse frequency, for skewed labels) or `none`"
    )


class TrainingConfig(_Section):
    """Optimisation and the adaptation methods of the core menu."""

    epochs: float = Field(3, gt=0, description="passes over the training data, e.g. `3`")
    max_steps: int | None = Field(None, ge=1, description="stop after this many optimizer steps (overrides epochs)")
    batch_size: int = Field(16, ge=1, description="training examples per optimizer step (over all processes with "
                                                  "--nproc), e.g. `16`")
    eval_batch_size: int = Field(64, ge=1, description="examples per evaluation/prediction batch, e.g. `64`")
    gradient_accumulation: int = Field(1, ge=1, description="steps accumulated per optimizer update, e.g. `2`")
    learning_rate: float = Field(5e-5, gt=0, lt=1, description="peak learning rate of the backbone, e.g. `5e-5`")
    head_learning_rate: float | None = Field(
        None, gt=0, lt=1, description="learning rate of the new head (default: 10x learning_rate, capped at 1e-3)"
    )
    weight_decay: float = Field(0.01, ge=0, lt=1, description="AdamW weight decay, e.g. `0.01`")
    warmup: float = Field(0.1, ge=0, description="warmup as a fraction of steps (< 1) or a number of steps, e.g. `0.1`")
    scheduler: Literal["linear", "cosine", "constant"] = Field(
        "linear", description="learning-rate schedule after warmup: `linear`, `cosine` or `constant`"
    )
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="label smoothing of the loss, e.g. `0.1`")
    max_grad_norm: float = Field(1.0, gt=0, description="gradient clipping norm, e.g. `1.0`")
    freeze_embeddings: bool = Field(False, description="keep the token embeddings fixed: `true` or `false`")
    freeze_layers: int = Field(0, ge=0, description="keep the bottom N transformer layers fixed, e.g. `2`")
    linear_probe: bool = Field(False, description="keep the whole backbone fixed, train the head only: `true` or "
                                                  "`false`")
    gradual_unfreeze: bool = Field(
        False, description="start with only the head trainable and unfreeze one layer group per epoch (top first)"
    )
    layer_lr_decay: float = Field(
        1.0, gt=0, le=1, description="layer-wise learning-rate decay, 1.0 = off, e.g. `0.9`"
    )
    early_stopping: EarlyStoppingConfig | None = Field(
        None, description="stop when the validation metric stops improving, e.g. `{patience: 2}`"
    )
    evaluate_every: Literal["epoch"] | int = Field(
        "epoch", description="`epoch` or a number of optimizer steps between validations, e.g. `50`"
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="`bf16` mixed precision, `fp32`, or `auto` (bf16 on GPUs and CPUs with AMX)"
    )
    device: Literal["auto", "cpu", "cuda", "mps"] = Field("auto", description="`auto`, `cpu`, `cuda` or `mps`")
    seed: int = Field(42, description="random seed of initialisation and data order, e.g. `42`")
    group_by_length: bool = Field(True, description="batch texts of similar length together: `true` or `false`")
    save_total_limit: int = Field(2, ge=1, description="checkpoints kept while training, e.g. `2`")
    gradient_checkpointing: bool = Field(
        False, description="recompute layer activations in the backward pass: less memory, ~30% more compute"
    )
    loss: LossConfig = Field(default_factory=LossConfig)
    adversarial: AdversarialConfig | None = Field(
        None, description="FGM/PGD adversarial training on the embeddings, e.g. `{method: fgm, epsilon: 1.0}`"
    )
    distill: DistillConfig | None = Field(
        None, description="learn from a teacher run's soft labels, e.g. `{teacher: runs/big, temperature: 2}`"
    )
    keep_checkpoints: bool = Field(False, description="keep checkpoints after a successful run: `true` or `false`")
    fsdp: bool = Field(False, description="with `ecomtune train --nproc N`: shard weights, gradients and optimizer "
                                          "state over the processes (FSDP) instead of copying them (DDP), for "
                                          "backbones too large for one device: `true` or `false`")
    few_shot: FewShotConfig | None = Field(
        None, description="few-shot mode (SetFit-style pair training + logistic head) instead of fine-tuning, e.g. "
                          "`{pairs_per_example: 20}`"
    )


class NoiseConfig(_Section):
    """A perturbed copy of the test set: typos/character swaps (English), similar characters/deletions (Chinese)."""

    rate: float = Field(0.1, gt=0, lt=1, description="fraction of characters perturbed, e.g. `0.1`")
    seed: int = Field(42, description="random seed of the perturbation, e.g. `42`")


class ThresholdConfig(_Section):
    """Tune the decision threshold of one label on the validation set for a target precision or recall."""

    label: str = Field(description="the label the threshold is for, e.g. `fake`")
    target: Literal["precision", "recall"] = Field(description="`precision` or `recall`")
    value: float = Field(gt=0, le=1, description="the precision/recall to reach on validation, e.g. `0.9`")

    @field_validator("label", mode="before")
    @classmethod
    def _label_string(cls, value):
        return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


class SliceThresholds(_Section):
    """When a slice is flagged (reports/slices.py): every task's `evaluation` section carries these keys."""

    slice_gap: float = Field(5.0, gt=0, description="flag slices more than this many points below the overall "
                             "figure, e.g. `5.0`")
    min_slice_size: int = Field(30, ge=1, description="smaller slices are reported but never flagged, e.g. `30`")


class SliceOptions(SliceThresholds):
    """Slices by the data's own columns too, for the tasks whose examples are rows of a table."""

    slices: list[str] = Field(default_factory=list, description="columns to report metrics per value of (besides "
                              "text length and language), e.g. `[category]`")


class EvaluationConfig(SliceOptions):
    metric: Literal["accuracy", "macro_f1"] = Field(
        "macro_f1", description="validation metric for best-model selection: `accuracy` or `macro_f1`"
    )
    baseline: bool = Field(True, description="also train the TF-IDF + logistic regression baseline: `true`/`false`")
    noise: NoiseConfig | None = Field(
        None, description="also evaluate on a noisy copy of the test set (robustness), e.g. `{rate: 0.1}`"
    )
    threshold: ThresholdConfig | None = Field(
        None, description="tune one label's threshold, e.g. `{label: negative, target: recall, value: 0.9}`"
    )
    mistakes: int = Field(10, ge=0, le=100, description="the most confident test mistakes explained in the report "
                          "(attributions + nearest training examples; ~2 min on 3,000 MiniLM rows), `0` to skip")


class OutputConfig(_Section):
    dir: str | None = Field(None, description="run directory (default: `runs/<name>`)")
    overwrite: bool = Field(False, description="replace an existing run directory: `true` or `false`")


class Recipe(_Section):
    """A complete training recipe."""

    name: str = run_name()
    task: str = Field(
        description="`classify` (one label), `taxonomy` (L1 > L2 > L3) or `multitask` (several independent labels)"
    )
    language: Literal["en", "zh", "multi"] = Field("en", description="`en`, `zh` or `multi`")
    description: str = Field("", description="free text shown in the model card")
    data: DataConfig
    model: ModelConfig
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)

    @field_validator("task")
    @classmethod
    def _text_task(cls, value: str) -> str:
        from ecomtune.registry import tasks

        text = [name for name, t in tasks().items() if t.recipe == "ecomtune.recipes.schema:Recipe"]
        if value not in text:
            raise ValueError(f"Input should be {', '.join(repr(t) for t in text[:-1])} or {text[-1]!r}")
        return value

    @model_validator(mode="after")
    def _task_columns(self) -> Recipe:
        from ecomtune.registry import task

        task(self.task).module("data").check_columns(self.data)  # which label columns the task needs
        if self.training.gradual_unfreeze and self.training.freeze_layers:
            raise ValueError(
                "`training.gradual_unfreeze` and `training.freeze_layers` both decide which layers train "
                "— set `freeze_layers: 0` or `gradual_unfreeze: false`"
            )
        self._check_methods()
        return self

    def _heads(self):
        from ecomtune.registry import task

        return task(self.task).module("model")

    def _check_methods(self) -> None:
        """Combinations that cannot work are refused here, before any data is read or weights loaded."""
        t, m = self.training, self.model
        if m.adapter and (t.freeze_layers or t.gradual_unfreeze or t.layer_lr_decay < 1 or t.freeze_embeddings):
            raise ValueError(
                f"`model.adapter` ({m.adapter.method}) freezes the whole backbone itself — remove "
                "`training.freeze_layers`, `gradual_unfreeze`, `layer_lr_decay` and `freeze_embeddings`"
            )
        a = m.adapter
        if a and a.method in ("prefix", "prompt") and (a.target_modules or a.layers):
            raise ValueError(f"`model.adapter.target_modules`/`layers` do not apply to `{a.method}` tuning (it adds "
                             "virtual tokens, it wraps no modules) — remove them or use `method: lora`")
        if a and a.init_text and a.method != "prompt":
            raise ValueError("`model.adapter.init_text` initialises prompt tuning only — use `method: prompt` or "
                             "remove it")
        if self.evaluation.threshold and not getattr(self._heads(), "THRESHOLD", False):
            raise ValueError("`evaluation.threshold` is for `task: classify` — remove it for "
                             f"`task: {self.task}`")
        if self.evaluation.threshold and not (self.data.split.validation > 0 or self.data.validation):
            raise ValueError("`evaluation.threshold` is tuned on validation rows — set `data.split.validation` > 0")
        if t.loss.name != "ce" and t.label_smoothing:
            raise ValueError("`training.label_smoothing` only applies to `loss.name: ce` — set it to 0 for focal loss")
        if t.linear_probe and (m.adapter or t.freeze_layers or t.gradual_unfreeze or t.layer_lr_decay < 1):
            raise ValueError("`training.linear_probe` trains the head only — remove `model.adapter`, "
                             "`freeze_layers`, `gradual_unfreeze` and `layer_lr_decay`")
        if self.data.augment and t.distill:
            raise ValueError("`data.augment` and `training.distill` do not combine (the teacher labels the training "
                             "rows before augmentation runs) — remove `data.augment`, or give extra texts as "
                             "`training.distill.unlabeled`")
        if t.distill and t.distill.unlabeled and t.distill.alpha == 0:
            raise ValueError("`training.distill.unlabeled` rows only have the teacher's soft labels, which "
                             "`distill.alpha: 0` ignores — set `alpha` above 0 (e.g. `0.5`) or remove `unlabeled`")
        if t.distill and (t.distill.unlabeled_column or t.distill.max_unlabeled_rows) and not t.distill.unlabeled:
            raise ValueError("`training.distill.unlabeled_column`/`max_unlabeled_rows` describe `distill.unlabeled` "
                             "— set `unlabeled: path/to/texts.csv` or remove them")
        if t.few_shot:
            self._check_few_shot()

    def _check_few_shot(self) -> None:
        """Few-shot mode replaces the fine-tuning loop: the options that only that loop reads are refused."""
        if self.task != "classify":
            raise ValueError(f"`training.few_shot` supports `task: classify` (one label) — remove it for "
                             f"`task: {self.task}` or train one classify recipe per label")
        t, m = self.training, self.model
        clash = [name for name, on in (
            ("model.adapter", m.adapter), ("training.distill", t.distill), ("training.adversarial", t.adversarial),
            ("training.gradual_unfreeze", t.gradual_unfreeze), ("training.linear_probe", t.linear_probe),
            ("training.early_stopping", t.early_stopping), ("data.augment", self.data.augment),
            ("training.layer_lr_decay", t.layer_lr_decay < 1)) if on]
        if clash:
            raise ValueError(f"`training.few_shot` trains its own two stages — remove {', '.join(f'`{c}`' for c in clash)}"
                             " or remove `training.few_shot`")
