"""Recommendation benchmarks (leave-one-out, FULL ranking over the catalogue, history excluded).

    python bench/recommend.py beauty                 # SASRec (CE) on Amazon Beauty, ids only -> recommend_beauty.json
    python bench/recommend.py games                  # Games with titles: ID-only vs text SASRec vs two-tower
                                                     # (frozen and LoRA item tower), overall and on cold-start
                                                     # items -> recommend_games.json
    python bench/recommend.py speed                  # full-ranking eval time on all Games users, index build,
                                                     # recommend latency -> recommend_speed.json

Options: --minutes (training budget per model), --users (Games user sample), --only (Games: these variants, e.g.
`--only sasrec-text+id`), --runs (where runs are written), --results (where the JSON goes),
--requests (speed: /v1/recommend requests per concurrency level, 1 and 32 clients, over HTTP).
The peer for Beauty is bench/recbole_sasrec.py (RecBole's SASRec on the same split).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import numpy as np

import ecomtune

HERE = Path(__file__).parent
RESULTS = HERE / "results"
DATA = HERE.parent.parent / "shared" / "data"


def _run(preset: str, sets: list[str], runs: Path, name: str, reuse: bool = False) -> dict:
    name = name.replace("+", "_")  # run names: letters, digits, `-`, `_`, `.`
    run = runs / name
    manifest_path = run / "manifest.json"
    if not (reuse and manifest_path.exists()):
        run = ecomtune.train(preset, sets + [f"output.dir={run}", "output.overwrite=true", f"name={name}"])
    manifest = json.loads(manifest_path.read_text())
    return {"run": str(run), "recipe_overrides": sets, "metrics": manifest["metrics"], "cost": manifest["cost"],
            "baseline": manifest.get("baseline"),  # most-popular on the same split (runs since issue 12)
            "data": manifest["data"], "epochs_history": [h["epoch"] for h in manifest["history"]],
            "validation_curve": [round(h["val_" + manifest["recipe"]["evaluation"]["metric"]], 5)
                                 for h in manifest["history"]]}


def beauty(args) -> dict:
    data = f"data.interactions={DATA / 'amazon_seqrec_beauty_sports_toys' / 'Beauty.txt'}"
    sets = [data, f"training.max_minutes={args.minutes}"]
    return {"sasrec": _run("seqrec-beauty", sets, args.runs, "seqrec-beauty", args.reuse),
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
        "two-tower-lora": ["model.type=two_tower", "model.item_embedding=id", "model.finetune=lora",
                           "model.hidden=128", "model.dropout=0.1",
                           "training.batch_size=128", "training.negatives=128", "training.refresh_every=150",
                           "training.evaluate_every=0.5"],
    }
    out = {}
    for name, sets in variants.items():
        if args.only and name not in args.only:
            continue
        out[name] = _run("seqrec-games-text", base + sets, args.runs, f"games-{name}", args.reuse)
        print(name, json.dumps({k: out[name]["metrics"].get(k) for k in ("test", "test_cold")}))
        if out[name]["baseline"]:
            print("  most-popular", json.dumps(out[name]["baseline"]["metrics"]["test"]))
        _save("games", out, merge=True, results=args.results)  # after each model: a later crash keeps the finished ones
    return out


def speed(args) -> dict:
    from ecomtune.retrieval.index import build_index
    from ecomtune.tasks.recommend.data import load_data
    from ecomtune.tasks.recommend.predict import Recommender
    from ecomtune.tasks.recommend.recipe import RecommendRecipe
    from ecomtune.tasks.recommend.train import evaluate_split

    run = args.runs / "games-sasrec-text_id"
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
    histories = [[rec.item_ids[i] for i in h[-rec.model.max_history:]] for h in data.test.histories[:2000]]
    out["serve"] = serve_latency(run, histories, args.requests)
    return out


async def load_level(url: str, histories: list[list[str]], concurrency: int, requests: int) -> dict:
    """Closed loop: `concurrency` clients each send one history per request, the next when the last answers."""
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=300) as client:
        while (await client.get("/readyz")).status_code != 200:
            await asyncio.sleep(0.2)
        for i in range(concurrency):  # warm-up, one request per connection
            await client.post("/v1/recommend", json={"histories": [histories[-1 - i]], "k": 10})
        latencies, failures = [], []
        counter = iter(range(requests))
        start = time.perf_counter()

        async def loop():
            for i in counter:
                sent = time.perf_counter()
                r = await client.post("/v1/recommend", json={"histories": [histories[i % len(histories)]], "k": 10})
                if r.status_code == 200:
                    latencies.append(time.perf_counter() - sent)
                else:
                    failures.append(f"{r.status_code}: {r.text[:200]}")

        await asyncio.gather(*(loop() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    lat = np.array(latencies) * 1000
    return {"concurrency": concurrency, "requests": len(latencies), "failures": len(failures),
            "first_failure": failures[0] if failures else None,
            "requests_per_second": round(len(lat) / elapsed, 1),
            "p50_ms": round(float(np.percentile(lat, 50)), 1), "p99_ms": round(float(np.percentile(lat, 99)), 1)}


def serve_latency(run: Path, histories: list[list[str]], requests: int) -> dict:
    """`ecomtune serve RUN --cache-size 0` in a subprocess (no user-vector cache: every request is computed)."""
    from load_test import Server

    server = Server(run, ["--cache-size", "0"])
    url = server.url(timeout=300)
    rows = [asyncio.run(load_level(url, histories, c, requests)) for c in (1, 32)]
    for row in rows:
        print(f"  serve {row['concurrency']:>2} clients: p50 {row['p50_ms']:7.1f} ms  p99 {row['p99_ms']:7.1f} ms  "
              f"{row['requests_per_second']:6.1f} req/s ({row['failures']} failures)", flush=True)
    return {"server": " ".join(server.cmd[3:]), "levels": rows, "exit_code": server.stop()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["beauty", "games", "speed"])
    parser.add_argument("--minutes", type=float, default=30, help="training budget per model (minutes)")
    parser.add_argument("--users", type=int, default=15000, help="Games: seeded user sample")
    parser.add_argument("--only", nargs="*", help="games: only these variants")
    parser.add_argument("--requests", type=int, default=600, help="speed: requests per concurrency level")
    parser.add_argument("--reuse", action="store_true", help="read finished runs' manifests instead of retraining")
    parser.add_argument("--runs", type=Path, default=Path("runs/bench-recommend"))
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="where recommend_PART.json goes (another folder: a check that leaves the committed "
                             "results alone)")
    args = parser.parse_args()
    result = {"beauty": beauty, "games": games, "speed": speed}[args.part](args)
    print(json.dumps(_save(args.part, result, merge=args.part == "games", results=args.results), indent=2)[:4000])


def _save(part: str, result: dict, merge: bool, results: Path = RESULTS) -> dict:
    """bench/results/recommend_PART.json; `merge` keeps the models of earlier runs that this one did not redo."""
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"recommend_{part}.json"
    if merge and path.exists():
        result = {**json.loads(path.read_text()), **result}
    path.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
