"""What one batch worker does: load a run (or a bare backbone) once, then turn table batches into vectors or labels.

The same classes run in-process (the `local` engine) and as a Ray Data actor pool (the `ray` engine), so both
engines give the same numbers. Every output batch carries the input's id column: results are joined back by id,
never by position, so the order in which batches finish does not matter.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ecomtune.data.vectors import VECTOR  # the vectors file: the id column + `vector`, fixed-size list<float32>
from ecomtune.errors import DataError, EcomtuneError, RunDirError
from ecomtune.registry import task
from ecomtune.rundir import MANIFEST, read_manifest


def joined_texts(batch: pd.DataFrame, columns: list[str]) -> list[str]:
    """One text per row: the text columns joined by a space, stripped (missing values count as empty)."""
    texts = batch[columns[0]].fillna("").astype(str)
    for col in columns[1:]:
        texts = texts.str.cat(batch[col].fillna("").astype(str), sep=" ")
    return texts.str.strip().tolist()


def text_encoder(source: str | Path, device: str = "cpu", batch_size: int = 64, max_length: int = 64):
    """(encode(texts) -> float32 [n, dim] unit vectors, dim) of a run directory or a backbone name/path.

    Classifier runs embed with their fine-tuned encoder (the pooled states their heads read), search runs with
    their product tower (as the catalogue index is built), recommender runs with their item-text encoder (as
    new items are added); a backbone (`minilm`, a local Hugging Face folder) embeds as the recommender's item
    texts are (mean pooling, unit length, `max_length` tokens)."""

    path = Path(source)
    if (path / MANIFEST).is_file():
        name = read_manifest(path)["task"]
        if name == "search":
            engine = task(name).part("load")(path, device=device)
            return (lambda texts: engine.encoder.encode(texts, batch_size)), engine.encoder.dim
        if name == "recommend":
            from ecomtune.tasks.recommend import item_text

            folder = path / "model" / "encoder"
            if not folder.is_dir():
                raise RunDirError(f"{path}: this recommend run has no item-text encoder (an id-only model) — embed "
                                  "the catalogue with a backbone instead, e.g. `ecomtune embed minilm ...`")
            tokenizer, model, pooling = item_text.load_saved_encoder(folder)
            return _backbone_encoder(tokenizer, model, pooling, device, batch_size, max_length)
        predictor = task(name).part("load")(path, device=device)
        if not hasattr(predictor, "encode") or task(name).inputs != "texts" or not hasattr(predictor, "space"):
            raise RunDirError(f"{path}: a {name} run has no text encoder to embed with — use a classifier, search "
                              "or recommend run, or a backbone name such as `minilm`")
        dim = predictor.encode(["ok"]).shape[1]
        return (lambda texts: predictor.encode(texts, batch_size)), dim
    if path.exists() and path.is_dir() and not (path / "config.json").is_file():
        raise RunDirError(f"{path}: neither a run directory (no {MANIFEST}) nor a model folder (no config.json) — "
                          "pass a run written by `ecomtune train` or a backbone name such as `minilm`")
    from ecomtune.tasks.recommend import item_text

    tokenizer, model, pooling = item_text.load_encoder(str(source))
    return _backbone_encoder(tokenizer, model, pooling, device, batch_size, max_length)


def _backbone_encoder(tokenizer, model, pooling: str, device: str, batch_size: int, max_length: int):
    from ecomtune.tasks.recommend import item_text
    from ecomtune.training.device import resolve_device

    dev = resolve_device(device)
    model = model.to(dev)

    def encode(texts: list[str]) -> np.ndarray:
        return item_text.encode_texts(tokenizer, model, pooling, texts, max_length, batch_size, dev).numpy()

    return encode, int(model.config.get_text_config().hidden_size)


def vector_table(ids: pd.Series, vectors: np.ndarray, present: np.ndarray, dim: int) -> pa.Table:
    """id + `vector` (fixed-size list<float32>[dim]; null where the row had no text)."""
    values = np.zeros((len(ids), dim), dtype=np.float32)
    values[present] = vectors
    column = pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), dim, mask=pa.array(~present))
    return pa.table({ids.name: pa.array(ids.to_numpy()), VECTOR: column})


class Embedder:
    """A batch of rows -> id + unit vector per row (rows with an empty text get a null vector)."""

    def __init__(self, source: str, text_columns: list[str], id_column: str, batch_size: int = 64,
                 device: str = "cpu", max_length: int = 64):
        self.encode, self.dim = text_encoder(source, device, batch_size, max_length)
        self.text_columns, self.id_column = text_columns, id_column

    def __call__(self, batch: pd.DataFrame) -> pa.Table:
        texts = joined_texts(batch, self.text_columns)
        present = np.array([bool(t) for t in texts], dtype=bool)
        vectors = self.encode([t for t in texts if t]) if present.any() else np.zeros((0, self.dim), np.float32)
        return vector_table(batch[self.id_column].reset_index(drop=True), vectors, present, self.dim)


class Labeller:
    """A batch of rows -> id + the prediction columns of `ecomtune predict` (empty where the text is empty)."""

    def __init__(self, source: str, text_columns: list[str], id_column: str, batch_size: int = 64,
                 device: str = "cpu"):
        self.model = task(read_manifest(source)["task"]).part("load")(source, device=device)
        if not hasattr(self.model, "predict_arrays") or task(self.model.task).inputs != "texts":
            raise EcomtuneError(f"{source}: batch jobs label tables with text classifier runs — use the run's own "
                                "verbs (`ecomtune recommend`, `ecomtune search`) or `--engine local` for images")
        self.columns = task(self.model.task).module("model").table_columns
        self.text_columns, self.id_column, self.batch_size = text_columns, id_column, batch_size

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        texts = joined_texts(batch, self.text_columns)
        present = np.array([bool(t) for t in texts], dtype=bool)
        out = pd.DataFrame({self.id_column: batch[self.id_column].to_numpy()})
        if present.any():
            pred, probs = self.model.predict_arrays([t for t in texts if t], self.batch_size)
            rows = out.index[present]
            for name, values in self.columns(pred, probs, self.model.space).items():
                out[name] = pd.Series(list(values), index=rows)
        return out


def check_columns(frame: pd.DataFrame, columns: list[str], where: str, option: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{where}: missing column '{missing[0]}' — columns present: "
                        f"{', '.join(map(str, frame.columns))}; pass {option}")
