"""Batch jobs (`ecomtune embed`, `ecomtune predict --engine ray`): the local and Ray engines agree, ids survive any
batch order, a failed batch is retried rather than lost, and bad inputs fail with one clear line.

The Ray tests share one local 2-CPU cluster (started once for this module; starting Ray costs seconds).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from ecomtune.deploy.batch import Embedder, embed_table, predict_table, read_vectors
from ecomtune.errors import DataError, EcomtuneError
from tests.conftest import toy_products, toy_reviews


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="Ray Data is an optional extra: pip install 'ecomtune[ray]'")
    from ecomtune.deploy.batch import start_ray

    start_ray(num_cpus=2)  # ray #28822: a 2-CPU machine has exactly two actor slots, nothing else reserves one
    yield ray
    ray.shutdown()


@pytest.fixture
def catalogue(tmp_path) -> Path:
    frame = toy_products(60).rename(columns={"title": "name"})
    frame.insert(0, "sku", [f"p{i:03d}" for i in range(len(frame))])
    frame.loc[7, "name"] = ""  # a product without a title
    path = tmp_path / "catalogue.parquet"
    frame.to_parquet(path)
    return path


class FailOnce(Embedder):
    """A real failure of one batch: the first worker to see sku p042 raises (a flag file remembers it across
    processes and actor restarts), as a flaky worker would; the retry must embed it."""

    def __call__(self, batch):
        flag = Path(self.flag)
        if "p042" in set(batch["sku"]) and not flag.exists():
            flag.write_text("failed once")
            raise RuntimeError("transient failure on the batch with p042")
        return super().__call__(batch)


def _fail_once(flag: Path):
    return type("FailOnceHere", (FailOnce,), {"flag": str(flag)})


def test_local_embed_keeps_ids_and_order(tiny_encoder, catalogue, tmp_path):
    table = embed_table(tiny_encoder, catalogue, tmp_path / "v.parquet", text_column="name", id_column="sku",
                        batch_size=16)
    ids, vectors = read_vectors(tmp_path / "v.parquet", "sku")
    assert table.column_names == ["sku", "vector"] and str(table.schema.field("vector").type) == \
        "fixed_size_list<item: float>[32]"
    assert ids == [f"p{i:03d}" for i in range(60) if i != 7]          # input order; the empty title has no vector
    assert table["vector"][7].as_py() is None
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    # the same text embedded alone gives the same vector: batching and length sorting do not change it
    alone, _ = Embedder(tiny_encoder, ["name"], "sku").encode, None
    title = pd.read_parquet(catalogue)["name"][3]
    np.testing.assert_allclose(alone([title])[0], vectors[3], atol=1e-5)


def test_ray_embed_equals_local_after_shuffle(ray_cluster, tiny_encoder, catalogue, tmp_path):
    shuffled = pd.read_parquet(catalogue).sample(frac=1.0, random_state=1)
    shuffled.to_parquet(tmp_path / "shuffled.parquet")
    local = embed_table(tiny_encoder, catalogue, tmp_path / "local.parquet", text_column="name", id_column="sku",
                        batch_size=8)
    remote = embed_table(tiny_encoder, tmp_path / "shuffled.parquet", tmp_path / "ray.parquet", text_column="name",
                         id_column="sku", engine="ray", batch_size=8)
    assert remote["sku"].to_pylist() == shuffled["sku"].tolist()      # the output follows its input's order
    joined = local.to_pandas().merge(remote.to_pandas(), on="sku", suffixes=("_local", "_ray"))
    assert len(joined) == 60
    present = joined["vector_local"].notna()
    np.testing.assert_allclose(np.stack(joined["vector_local"][present]), np.stack(joined["vector_ray"][present]),
                               atol=1e-5)
    assert joined["vector_ray"][~present].isna().all()


def test_ray_retries_a_failed_batch(ray_cluster, tiny_encoder, catalogue, tmp_path):
    flag = tmp_path / "failed"
    table = embed_table(tiny_encoder, catalogue, tmp_path / "v.parquet", text_column="name", id_column="sku",
                        engine="ray", batch_size=8, worker=_fail_once(flag))
    assert flag.exists(), "the batch with p042 never failed: the test did not test a retry"
    assert table.num_rows == 60 and table["sku"].to_pylist()[42] == "p042"
    assert table["vector"][42].as_py() is not None


def test_local_retries_a_failed_batch_then_gives_up(tiny_encoder, catalogue, tmp_path):
    flag = tmp_path / "failed"
    table = embed_table(tiny_encoder, catalogue, tmp_path / "v.parquet", text_column="name", id_column="sku",
                        batch_size=8, worker=_fail_once(flag))
    assert flag.exists() and table.num_rows == 60
    broken = type("Broken", (Embedder,), {"__call__": lambda self, batch: 1 / 0})
    with pytest.raises(EcomtuneError, match="failed 2 times: ZeroDivisionError"):
        embed_table(tiny_encoder, catalogue, tmp_path / "w.parquet", text_column="name", id_column="sku",
                    retries=1, worker=broken)


def test_predict_ray_equals_local(ray_cluster, tiny_run, tmp_path):
    reviews = toy_reviews(50)
    reviews.to_csv(tmp_path / "reviews.csv", index=False)               # no id column: the row number is added
    local = predict_table(tiny_run, tmp_path / "reviews.csv", tmp_path / "local.csv", batch_size=16)
    remote = predict_table(tiny_run, tmp_path / "reviews.csv", tmp_path / "ray.parquet", engine="ray",
                           batch_size=16)
    assert local["id"].tolist() == list(range(50)) == remote["id"].tolist()
    assert local["review"].tolist() == reviews["review"].tolist()
    assert (local["pred_label"] == remote["pred_label"]).all()
    probs = [c for c in local.columns if c.startswith("prob_")]
    assert probs
    np.testing.assert_allclose(local[probs].to_numpy(float), remote[probs].to_numpy(float), atol=1e-5)
    assert pd.read_parquet(tmp_path / "ray.parquet")["pred_label"].tolist() == remote["pred_label"].tolist()


def test_clear_errors(tiny_encoder, tiny_run, catalogue, tmp_path):
    with pytest.raises(DataError, match="missing column 'title'.*--text-column"):
        embed_table(tiny_encoder, catalogue, tmp_path / "v.parquet", text_column="title")
    with pytest.raises(DataError, match="missing column 'product_id'.*--id-column"):
        embed_table(tiny_encoder, catalogue, tmp_path / "v.parquet", text_column="name", id_column="product_id")
    with pytest.raises(DataError, match="repeats ids"):
        embed_table(tiny_encoder, catalogue, tmp_path / "v.parquet", text_column="name", id_column="l1")
    with pytest.raises(EcomtuneError, match="not a registered name"):
        embed_table(str(tmp_path / "runs" / "nosuch"), catalogue, tmp_path / "v.parquet", text_column="name")
    (tmp_path / "empty-folder").mkdir()
    with pytest.raises(EcomtuneError, match="neither a run directory"):
        embed_table(tmp_path / "empty-folder", catalogue, tmp_path / "v.parquet", text_column="name")
    with pytest.raises(EcomtuneError, match="unknown engine 'spark'"):
        embed_table(tiny_encoder, catalogue, tmp_path / "v.parquet", text_column="name", engine="spark")
    with pytest.raises(DataError, match="missing column 'review'"):
        predict_table(tiny_run, catalogue, tmp_path / "p.csv")


def test_embed_with_a_classifier_run(tiny_run, tmp_path):
    toy_reviews(20).to_csv(tmp_path / "reviews.csv", index=False)
    table = embed_table(tiny_run, tmp_path / "reviews.csv", tmp_path / "v.parquet")   # the recipe's text column
    ids, vectors = read_vectors(tmp_path / "v.parquet")
    assert ids == list(range(20)) and vectors.shape == (20, 32) and table.num_rows == 20
    assert pq.read_schema(tmp_path / "v.parquet").names == ["id", "vector"]


def test_cli_embed_and_errors(tiny_encoder, catalogue, tmp_path):
    import os
    import subprocess
    import sys

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "ecomtune", "embed", *map(str, args)], capture_output=True,
                              text=True, check=False, env={**os.environ, "ECOMTUNE_QUIET": "1"})

    done = cli(tiny_encoder, "-i", catalogue, "-o", tmp_path / "v.parquet", "-t", "name", "--id-column", "sku")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "wrote 60 vectors (32 dims)" in " ".join((done.stdout + done.stderr).split())
    assert read_vectors(tmp_path / "v.parquet", "sku")[0][:2] == ["p000", "p001"]
    bad = cli(tiny_encoder, "-i", catalogue, "-o", tmp_path / "w.parquet", "-t", "title")
    assert bad.returncode == 2 and "missing column 'title'" in " ".join((bad.stdout + bad.stderr).split())
    assert not (tmp_path / "w.parquet").exists()
