"""The guide recipe: a catalogue, the rooms that teach which products go together, and the scene photos.

    name: ikea-guide
    task: guide
    data:
      catalogue: ../shared/data/ikea_interior_images/catalogue.csv   # id, name, type, description (+ image, price)
      columns: {id: product_id, name: name, type: type, description: description, image: image, colour: colour}
      rooms: ../shared/data/ikea_interior_images/rooms.csv           # room_id, title, room_type, image, product_ids
      scenes: ../shared/data/house_rooms_5class/labels.csv           # more labelled room photos (path, label)
    model: {image_backbone: efficientnet-lite0, text_backbone: minilm}

`ecomtune guide build RECIPE` (= `ecomtune train`) embeds the catalogue, trains the matching model on the rooms,
counts which pieces each scene has and fits the scene recogniser; `ecomtune guide ask GUIDE ...` answers.
"""
from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from ecomtune.recipes.schema import OutputConfig, _Section, run_name


class Columns(_Section):
    """Which catalogue column means what (`null`: the catalogue has none)."""

    id: str = Field("id", description="the product id column, e.g. `product_id`")
    name: str = Field("name", description="the product name column, e.g. `name`")
    type: str = Field("type", description="the product type column (mapped to pieces), e.g. `type`")
    description: str | None = Field("description", description="the description column, or `null`")
    image: str | None = Field(None, description="photo paths (relative to the catalogue), or `null` (text only)")
    price: str | None = Field(None, description="the price column, or `null` (no budgets), e.g. `price`")
    colour: str | None = Field(None, description="a colour column, or `null`, e.g. `colour`")
    category: str | None = Field(None, description="a coarser category column used when `type` maps to no piece, "
                                                    "or `null`, e.g. `category`")
    link: str | None = Field(None, description="a product page URL column, or `null`, e.g. `link`")


class GuideData(_Section):
    """The catalogue to sell from and the rooms to learn from."""

    PATH_FIELDS: ClassVar[tuple[str, ...]] = ("catalogue", "rooms", "rooms_catalogue", "scenes")

    catalogue: str = Field(description="the catalogue table (csv/tsv), e.g. `catalogue.csv`")
    columns: Columns = Field(default_factory=Columns)
    sep: str = Field(",", description="the catalogue's field separator, e.g. `;`")
    decimal: str = Field(".", description="the catalogue's decimal mark, e.g. `,`")
    duplicate_ids: Literal["error", "first"] = Field(
        "error", description="a product id on several rows (one item listed in two categories): `error`, or `first`"
                             " (keep its first row)")
    currency: str = Field("", description="the catalogue's currency, shown with prices, e.g. `SAR`")
    rooms: str = Field(description="rooms table: `room_id, title, room_type, image, product_ids` (space-separated "
                                   "ids), e.g. `rooms.csv`")
    rooms_catalogue: str | None = Field(
        None, description="the catalogue the rooms' product ids refer to, when not `catalogue` (same columns as the "
                          "IKEA image catalogue: product_id, name, type, colour, description, image)")
    scenes: str | None = Field(None, description="a table of extra labelled room photos for the scene recogniser "
                                                "(the rooms' photos are used too), e.g. `house_rooms/labels.csv`")
    scene_image_column: str = Field("path", description="`scenes`: the image-path column (relative to the table)")
    scene_label_column: str = Field("label", description="`scenes`: the scene label column, e.g. `label`")
    scene_split_column: str | None = Field(None, description="`scenes`: a train/valid/test column whose test rows "
                                                             "are held out, e.g. `original_split`")
    test_fraction: float = Field(0.2, ge=0, lt=1, description="share of the photo rooms held out (grouped by "
                                                              "caption) to measure matching, e.g. `0.2`")
    seed: int = Field(42, description="seed of the held-out split, e.g. `42`")


class GuideModel(_Section):
    """The backbones (frozen) and the learned projections on top."""

    image_backbone: str | None = Field("efficientnet-lite0", description="image backbone for photos, e.g. "
                                                                         "`efficientnet-lite0`; `null`: text only")
    text_backbone: str = Field("minilm", description="text encoder for product texts and requests, e.g. `minilm`")
    image_size: int = Field(224, ge=16, le=1024, description="product photo side in pixels, e.g. `224`")
    room_size: int = Field(448, ge=16, le=1024, description="room photo side in pixels (regions = side / 32 "
                                                            "squared), e.g. `448`")
    rank: int = Field(64, ge=1, le=1024, description="rank of the learned residual maps on the frozen features, e.g. "
                                                 "`64`")
    text_weight: float = Field(0.3, ge=0, description="weight of the caption's score next to the photo's when a "
                                                      "room has both, e.g. `0.3`")
    max_length: int = Field(64, ge=8, le=512, description="tokens per product text, e.g. `64`")


class GuideTraining(_Section):
    """Training of the matching projections (on cached backbone features: seconds on a CPU)."""

    epochs: int = Field(8, ge=1, le=1000, description="passes over the training rooms, e.g. `8`")
    batch_size: int = Field(8, ge=1, description="rooms per step, e.g. `8`")
    learning_rate: float = Field(1e-3, gt=0, lt=1, description="AdamW learning rate, e.g. `1e-3`")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay, e.g. `0.0`")
    seed: int = Field(42, description="random seed, e.g. `42`")


class GuideAnswer(_Section):
    """Defaults of `guide ask` (each can be overridden per request)."""

    max_pieces: int = Field(6, ge=1, le=15, description="pieces in a bundle, must-haves included, e.g. `6`")
    min_share: float = Field(0.25, ge=0, le=1, description="a piece joins the bundle when at least this share of "
                                                          "rooms of the scene have one, e.g. `0.25`")
    candidates: int = Field(12, ge=1, le=100, description="candidates per piece given to the solver, e.g. `12`")
    coherence: float = Field(0.15, ge=0, description="weight of style coherence between chosen items, e.g. "
                                                     "`0.15`")


class GuideRecipe(_Section):
    """A complete guide recipe."""

    name: str = run_name()
    task: Literal["guide"] = Field(description="`guide`")
    language: Literal["en", "zh", "multi"] = Field("multi", description="request languages: `multi`")
    description: str = Field("", description="free text shown in the model card")
    data: GuideData
    model: GuideModel = Field(default_factory=GuideModel)
    training: GuideTraining = Field(default_factory=GuideTraining)
    answer: GuideAnswer = Field(default_factory=GuideAnswer)
    output: OutputConfig = Field(default_factory=OutputConfig)

    @model_validator(mode="after")
    def _images_need_a_backbone(self) -> GuideRecipe:
        if self.data.columns.image and not self.model.image_backbone:
            raise ValueError("`data.columns.image` is set but `model.image_backbone` is null — set "
                             "`model.image_backbone: efficientnet-lite0` or `data.columns.image: null`")
        return self
