"""The image recipe: photos (a folder per class, or a table of paths and labels) -> a fine-tuned CNN or ViT.

    name: rooms
    task: image-classify
    data:
      train: ../shared/data/house_rooms_5class/labels.csv   # or a folder with one sub-folder per class
      image_column: path                                    # paths relative to the table
      label_column: label                                   # or label_columns: [masterCategory, subCategory, ...]
      split_column: original_split                          # or grouped random splits (`test`, `validation`)
    model: {backbone: efficientnet-lite0}
    training: {epochs: 5, batch_size: 32, learning_rate: 1.0e-3, augment: {flip: true, color_jitter: 0.2}}

The training section is the text recipe's (`recipes.schema.TrainingConfig`: freezing, gradual unfreezing,
layer-wise LR decay, label smoothing, distillation, early stopping) plus `augment`; the methods that only make
sense for token sequences are refused here, with the reason.
"""
from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from ecomtune.recipes.schema import (
    AdapterConfig,
    OutputConfig,
    SliceOptions,
    TrainingConfig,
    _Section,
    run_name,
)

CNN_BACKBONES = ("efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2")


class ImageData(_Section):
    """Where the images and their labels come from."""

    PATH_FIELDS: ClassVar[tuple[str, ...]] = ("train", "validation", "test")

    train: str = Field(description="a folder with one sub-folder of images per class, or a table (csv, tsv, "
                                   "parquet) with an image-path column (relative to the table) and label column(s)")
    validation: str | None = Field(None, description="optional validation folder or table")
    test: str | None = Field(None, description="optional test folder or table")
    image_column: str = Field("path", description="table: the column with image paths, e.g. `path`")
    label_column: str | None = Field(None, description="table: the label column, e.g. `label` (default `label` "
                                                       "when `label_columns` is not given)")
    label_columns: list[str] | None = Field(
        None, description="table: one column per taxonomy level, top first, e.g. "
                          "`[masterCategory, subCategory, articleType]`")
    split_column: str | None = Field(
        None, description="table: a column saying train / valid(ation) / test per row, e.g. `original_split` "
                          "(default: random splits grouped by file hash)")
    test_fraction: float = Field(0.2, ge=0, lt=1, description="share held out for test when no split is given, "
                                                              "e.g. `0.2`")
    validation_fraction: float = Field(0.1, ge=0, lt=1, description="share of the rest held out for validation, "
                                                                    "e.g. `0.1`")
    seed: int = Field(42, description="seed of the grouped split, e.g. `42`")
    bad_rows: Literal["error", "drop"] = Field(
        "error", description="unreadable, truncated, empty or too small images: `error` (name them) or `drop`")
    min_side: int = Field(32, ge=1, description="images whose shorter side is below this many pixels are bad, "
                                                "e.g. `32`")
    max_rows: int | None = Field(None, ge=1, description="use a stratified sample of at most this many images "
                                                         "(quick trials), e.g. `500`")

    @model_validator(mode="after")
    def _one_label_spec(self):
        if self.label_column and self.label_columns:
            raise ValueError("give `data.label_column` (one label) or `data.label_columns` (a taxonomy), not both")
        return self

    @property
    def levels(self) -> list[str]:
        return list(self.label_columns or [self.label_column or "label"])


class AugmentConfig(_Section):
    """Train-time image augmentation (plain torch/PIL, applied on the fly; evaluation never augments)."""

    crop_scale: tuple[float, float] = Field((0.6, 1.0), description="random resized crop: the range of the "
                                                                    "crop's area share, e.g. `[0.6, 1.0]`")
    flip: bool = Field(True, description="random horizontal flip: `true` or `false`")
    color_jitter: float = Field(0.2, ge=0, lt=1, description="brightness/contrast/saturation jitter strength, "
                                                             "0 = off, e.g. `0.2`")
    mixup: float = Field(0.0, ge=0, description="mixup Beta(alpha, alpha), 0 = off, e.g. `0.2`")
    cutmix: float = Field(0.0, ge=0, description="cutmix Beta(alpha, alpha), 0 = off, e.g. `1.0` (with mixup too,"
                                                 " each batch uses one of the two)")

    @model_validator(mode="after")
    def _scale(self):
        low, high = self.crop_scale
        if not 0 < low <= high <= 1:
            raise ValueError(f"`training.augment.crop_scale` must be 0 < low <= high <= 1, got {list(self.crop_scale)}"
                             " — e.g. `[0.6, 1.0]`")
        return self


class ImageTraining(TrainingConfig):
    """The shared training section with image defaults and `augment`."""

    batch_size: int = Field(32, ge=1, description="training images per step per device, e.g. `32`")
    eval_batch_size: int = Field(32, ge=1, description="images per evaluation/prediction batch, e.g. `32`")
    learning_rate: float = Field(1e-3, gt=0, lt=1, description="peak learning rate of the backbone, e.g. `1e-3`")
    warmup: float = Field(0.05, ge=0, description="warmup as a fraction of steps (< 1) or steps, e.g. `0.05`")
    scheduler: Literal["linear", "cosine", "constant"] = Field("cosine", description="`linear`, `cosine` or "
                                                                                     "`constant` after warmup")
    group_by_length: bool = Field(False, description="text only (images have no length): leave `false`")
    precision: Literal["auto", "fp32", "bf16"] = Field("fp32", description="`fp32`, `bf16` (GPUs) or `auto`")
    augment: AugmentConfig = Field(default_factory=AugmentConfig)


class ImageModelConfig(_Section):
    """The pretrained image backbone and the head on top of it."""

    backbone: str = Field("efficientnet-lite0", description="`efficientnet-lite0` (packaged), `efficientnet-lite1`,"
                                                            " `efficientnet-lite2`, a Hugging Face image model name "
                                                            "or a local folder, e.g. `google/vit-base-patch16-224`")
    image_size: int | None = Field(None, ge=16, le=1024, description="input side in pixels (default: the "
                                                                     "backbone's own, 224 for Lite0)")
    dropout: float = Field(0.2, ge=0, lt=1, description="dropout before the classification head, e.g. `0.2`")
    adapter: AdapterConfig | None = Field(
        None, description="LoRA on a ViT-style backbone (its attention projections), e.g. `{method: lora, r: 8}`")


class ImageEvaluation(SliceOptions):  # + slices, slice_gap, min_slice_size (image_classify/slices.py)
    metric: Literal["accuracy", "macro_f1"] = Field("macro_f1", description="validation metric for best-model "
                                                                            "selection: `accuracy` or `macro_f1`")
    baseline: bool = Field(True, description="also fit frozen backbone features + logistic regression: `true` or "
                                             "`false`")
    mistakes: int = Field(16, ge=0, le=100, description="the most confident test mistakes drawn in the report, "
                                                        "e.g. `16`")
    gradcam: int = Field(6, ge=0, le=32, description="test images with a Grad-CAM heatmap in the report, e.g. `6`")


class ImageRecipe(_Section):
    """A complete image-classification recipe."""

    name: str = run_name()
    task: Literal["image-classify"] = Field(description="`image-classify`")
    language: Literal["en", "zh", "multi"] = Field("en", description="language of the label names: `en`, `zh`, "
                                                                     "`multi`")
    description: str = Field("", description="free text shown in the model card")
    data: ImageData
    model: ImageModelConfig = Field(default_factory=ImageModelConfig)
    training: ImageTraining = Field(default_factory=ImageTraining)
    evaluation: ImageEvaluation = Field(default_factory=ImageEvaluation)
    output: OutputConfig = Field(default_factory=OutputConfig)

    @model_validator(mode="after")
    def _methods(self) -> ImageRecipe:
        """Methods of the menu that cannot apply to an image model are refused with the reason."""
        t, m = self.training, self.model
        if t.adversarial:
            raise ValueError("`training.adversarial` perturbs token embeddings, and an image model has none — "
                             "remove it (use `training.augment` for robustness)")
        if t.freeze_embeddings:
            raise ValueError("`training.freeze_embeddings` is for text (token embeddings) — for images freeze the "
                             "stem and the bottom blocks with `training.freeze_layers: N`")
        a = m.adapter
        if a and a.method in ("prefix", "prompt"):
            raise ValueError(f"`model.adapter.method: {a.method}` adds virtual tokens to a text sequence; an image "
                             "model reads pixels — use `lora` on a ViT backbone, or `training.linear_probe` / "
                             "`freeze_layers`")
        if a and m.backbone in CNN_BACKBONES:
            raise ValueError(f"`model.adapter` ({a.method}) adapts attention projections, and {m.backbone} is a CNN "
                             "with none — use `training.freeze_layers` / `linear_probe`, or a ViT backbone (e.g. "
                             "`google/vit-base-patch16-224`)")
        if a and (t.freeze_layers or t.gradual_unfreeze or t.layer_lr_decay < 1 or t.linear_probe):
            raise ValueError(f"`model.adapter` ({a.method}) freezes the whole backbone itself — remove "
                             "`training.freeze_layers`, `gradual_unfreeze`, `layer_lr_decay` and `linear_probe`")
        if t.linear_probe and (t.freeze_layers or t.gradual_unfreeze or t.layer_lr_decay < 1):
            raise ValueError("`training.linear_probe` trains the head only — remove `freeze_layers`, "
                             "`gradual_unfreeze` and `layer_lr_decay`")
        if t.gradual_unfreeze and t.freeze_layers:
            raise ValueError("`training.gradual_unfreeze` and `training.freeze_layers` both decide which layers "
                             "train — set `freeze_layers: 0` or `gradual_unfreeze: false`")
        if t.distill and (t.distill.unlabeled or t.distill.unlabeled_column or t.distill.max_unlabeled_rows):
            raise ValueError("`training.distill.unlabeled` is a text transfer set — remove it (image distillation "
                             "uses the teacher's soft labels on the training images)")
        if t.loss.name != "ce" and t.label_smoothing:
            raise ValueError("`training.label_smoothing` only applies to `loss.name: ce` — set it to 0 for focal loss")
        if t.early_stopping and not (self.data.validation or self.data.split_column or
                                     self.data.validation_fraction > 0):
            raise ValueError("`training.early_stopping` needs validation images — set `data.validation_fraction` "
                             "> 0 or give `data.validation`")
        return self
