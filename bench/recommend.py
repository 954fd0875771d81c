"""Recommendation benchmarks (leave-one-out, FULL ranking over the catalogue, history excluded).

    python bench/recommend.py beauty                 # SASRec (CE) on Amazon Beauty, ids only -> recommend_beauty.json
    python bench/recommend.py games                  # Games with titles: ID-only vs text SASRec vs two-tower,
                                                     # overall and on cold-start items -> recommend_games.json
    python bench/recommend.py speed                  # full-ranking eval time on all Games users, index build,
                                                     # recommend latency -> recommend_speed.json

Options: --minutes (training budget per model), --users (Games user sample), --runs (where runs are written).
The peer for Beauty is bench/recbole_sasrec.py (RecBole's SASRec on the same split).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import ecomtune

HERE = Path(__file__).parent
RESULTS = HERE / "results"
DATA = HERE.parent.parent / "shared" / "data"


def _run(preset: str, sets: list[str], runs: Path, name: str) -> dict:
    run = ecomtune.train(preset, sets + [f"output.dir={runs / name}", "output.overwrite=true", f"name={name}"])
    manifest = json.loads((run / "manifest.json").read_text())
    return {"run": str(run), "recipe_overrides": sets, "metrics": manifest["metrics"], "cost": manifest["cost"],
            "data": manifest["data"], "epochs_history": [h["epoch"] for h in manifest["history"]],
            "validation_curve": [round(h["val_" + manifest["recipe"]["evaluation"]["metric"]], 5)
                                 for h in manifest["history"]]}


def beauty(args) -> dict:
    data = f"data.interactions={DATA / 'amazon_seqrec_beauty_sports_toys' / 'Beauty.txt'}"
    sets = [data, f"training.max_minutes={args.minutes}"]
    return {"sasrec": _run("seqrec-beauty", sets, args.runs, "seqrec-beauty"),
            "goal": {"hr@10": 0.0533, "ndcg@10": 0.0327, "source": "SASRec with CE loss, full ranking (published)"}}


def games(args) -> dict:
    games_dir = DATA / "amazon_games_seqrec_llmrank"
    base = [f"data.interactions={games_dir / 'Games.test.inter.gz'}", f"data.items={games_dir / 'Games.item'}",
            f"data.max_users={args.users}", f"training.max_minutes={args.minutes}"]
    variants = {
        "sasrec-id": ["model.item_embedding=id"],
        "sasrec-text": ["model.item_embedding=text"],
        "sasrec-text+id": ["model.item_embedding=text+id"],
        "two-tower": ["model.type=two_tower", "model.item_embedding=id", "model.hidden=128",
                      "model.dropout=0.1", "training.batch_size=512", "training.negatives=512"],
    }
    out = {}
    for name, sets in variants.items():
        if args.only and name not in args.only:
            continue
        out[name] = _run("seqrec-games-text", base + sets, args.runs, f"games-{name}")
        print(name, json.dumps({k: out[name]["metrics"].get(k) for k in ("test", "test_cold")}))
    return out


def speed(args) -> dict:
    from ecomtune.retrieval.index import build_index
    from ecomtune.tasks.recommend.data import load_data
    from ecomtune.tasks.recommend.predict import Recommender
    from ecomtune.tasks.recommend.recipe import RecommendRecipe
    from ecomtune.tasks.recommend.train import evaluate_split

    run = args.runs / "games-sasrec-text+id"
    rec = Recommender.load(run, device="cpu")
    recipe = RecommendRecipe.model_validate(json.loads((run / "manifest.json").read_text())["recipe"])
    recipe.data.max_users = None
    data = load_data(recipe.data, need_text=False)
    out = {"users": len(data.test), "items": data.n_items}
    tic = time.perf_counter()
    evaluate_split(rec.model, data.test, [10])
    out["full_ranking_eval_seconds"] = round(time.perf_counter() - tic, 2)
    vectors = rec.model.item_matrix()[1:].detach().numpy()
    for kind in ("exact", "faiss-flat", "faiss-hnsw"):
        tic = time.perf_counter()
        index = build_index(vectors, kind)
        build = time.perf_counter() - tic
        users = rec.user_vectors(data.test.histories[:1000])
        tic = time.perf_counter()
        index.search(users, 10)
        out[f"index_{kind}"] = {"build_seconds": round(build, 3),
                                "search_ms_per_user_batch1000": round((time.perf_counter() - tic) * 1000, 1)}
    lat = []
    for h in data.test.histories[:300]:
        tic = time.perf_counter()
        rec.recommend_positions([h], 10)
        lat.append(time.perf_counter() - tic)
    out["recommend_latency_ms"] = {"p50": round(float(np.percentile(lat, 50)) * 1000, 2),
                                   "p99": round(float(np.percentile(lat, 99)) * 1000, 2)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["beauty", "games", "speed"])
    parser.add_argument("--minutes", type=float, default=30, help="training budget per model (minutes)")
    parser.add_argument("--users", type=int, default=15000, help="Games: seeded user sample")
    parser.add_argument("--only", nargs="*", help="games: only these variants")
    parser.add_argument("--runs", type=Path, default=Path("runs/bench-recommend"))
    args = parser.parse_args()
    result = {"beauty": beauty, "games": games, "speed": speed}[args.part](args)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"recommend_{args.part}.json"
    if args.part == "games" and path.exists() and args.only:
        result = {**json.loads(path.read_text()), **result}
    path.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2)[:4000])


if __name__ == "__main__":
    main()
