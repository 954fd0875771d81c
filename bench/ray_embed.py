"""Embedding throughput of catalogue titles with minilm: in-process vs a Ray Data actor pool on a local cluster.

    OMP_NUM_THREADS=2 python bench/ray_embed.py                 # 44k fashion titles + 17k Games titles
    OMP_NUM_THREADS=2 python bench/ray_embed.py --rows 2000 --out /tmp/ray_embed-smoke.json   # a smoke run

Both engines run the same `Embedder` on the same 256-row batches. `local` uses one process with 2 torch threads;
`ray` starts a 2-CPU local cluster (2 actors, one model and one thread each). The overhead is split into: cluster
start (`ray.init`), model load (per actor, measured in-process), and scheduling + serialisation (the same Ray
pipeline with a worker that returns zero vectors, i.e. without the model's compute). Writes
bench/results/ray_embed.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("ECOMTUNE_QUIET", "1")

import numpy as np
import torch

from ecomtune.data.readers import read_table
from ecomtune.deploy.batch import Embedder, embed_table, start_ray
from ecomtune.deploy.batch.workers import vector_table

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
CATALOGUES = {  # name: (file, reader format, id column, text column)
    "fashion-44k": (DATA / "fashion_product_styles" / "styles.csv", None, "id", "productDisplayName"),
    "games-17k": (DATA / "amazon_games_seqrec_llmrank" / "Games.item", ".tsv", "item_id:token", "title:token_seq"),
}


class NoModel(Embedder):
    """The Ray pipeline without the model: what scheduling, actors and moving batches cost on their own."""

    def __init__(self, source, text_columns, id_column, **_):
        self.text_columns, self.id_column, self.dim = text_columns, id_column, 384

    def __call__(self, batch):
        n = len(batch)
        return vector_table(batch[self.id_column].reset_index(drop=True), np.zeros((n, self.dim), np.float32),
                            np.ones(n, dtype=bool), self.dim)


def catalogue(name: str, rows: int | None, folder: Path) -> tuple[Path, int]:
    path, fmt, id_col, text_col = CATALOGUES[name]
    frame = read_table(path, fmt)[[id_col, text_col]].rename(columns={id_col: "id", text_col: "title"})
    frame = frame.drop_duplicates("id").head(rows) if rows else frame.drop_duplicates("id")
    out = folder / f"{name}.parquet"
    frame.to_parquet(out)
    return out, len(frame)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=None, help="only the first N titles of each catalogue (smoke)")
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "ray_embed.json")
    args = parser.parse_args()
    torch.set_num_threads(args.num_cpus)
    common = {"text_column": "title", "id_column": "id", "batch_size": args.batch_size, "max_length": 32}
    _, load_s = timed(lambda: Embedder("minilm", ["title"], "id", max_length=32))
    _, init_s = timed(lambda: start_ray(num_cpus=args.num_cpus))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in CATALOGUES:
            source, n = catalogue(name, args.rows, tmp)
            local, local_s = timed(embed_table, "minilm", source, tmp / "local.parquet", **common)
            remote, ray_s = timed(embed_table, "minilm", source, tmp / "ray.parquet", engine="ray", **common)
            _, noop_s = timed(embed_table, "minilm", source, tmp / "noop.parquet", engine="ray", worker=NoModel,
                              **common)
            a = np.stack(local["vector"].to_numpy(zero_copy_only=False))
            b = np.stack(remote["vector"].to_numpy(zero_copy_only=False))
            row = {"catalogue": name, "items": n,
                   "local": {"seconds": round(local_s, 2), "items_per_s": round(n / local_s, 1)},
                   "ray": {"seconds": round(ray_s, 2), "items_per_s": round(n / ray_s, 1),
                           "pipeline_without_model_s": round(noop_s, 2)},
                   "same_ids": local["id"].to_pylist() == remote["id"].to_pylist(),
                   "max_abs_vector_diff": float(np.abs(a - b).max()),
                   "vector_file_mb": round((tmp / "ray.parquet").stat().st_size / 1e6, 2)}
            results.append(row)
            print(json.dumps(row))
    result = {"backbone": "minilm", "max_length": 32, "batch_size": args.batch_size, "num_cpus": args.num_cpus,
              "rows_limit": args.rows, "overhead": {"ray_init_s": round(init_s, 2), "model_load_s": round(load_s, 2)},
              "results": results, "torch": torch.__version__, "ray": __import__("ray").__version__,
              "machine": f"{platform.machine()}, {os.cpu_count()} cpus, OMP_NUM_THREADS="
                         f"{os.environ.get('OMP_NUM_THREADS')}"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
