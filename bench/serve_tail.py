"""Tail latency of the service per endpoint: `/v1/classify`, `/v1/recommend` and `/v1/search` at 1 and 32
concurrent closed-loop clients, one item per request, the same client for all three.

    python bench/serve_tail.py                                  # bench/results/serve_tail.json
    python bench/serve_tail.py --requests 300 --only search     # one endpoint, fewer requests

Each run is served by `ecomtune serve RUN --cache-size 0` in its own process (bench/load_test.py's `Server`), so
every request is computed; the clients (asyncio + httpx, one shared client) run in this process on the same
cores. Runs: `--classify` a text classifier (default bench/work/sentiment-en-issue12), `--recommend` a recommend
run (default runs/bench-recommend/games-sasrec-text_id), `--search` a search run (default
bench/work/search-fashion-bi). The goal (issue 17): p99 < 4x p50 at 32 clients on every endpoint. The load
average before and after each level is recorded: on a shared machine other work inflates every figure. The client
freezes what it loaded (`gc.freeze()`) before timing, so its own collector's pauses are not counted.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("ECOMTUNE_QUIET", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))


def _recipe(run: Path):
    """The run's recipe, its data paths resolved against the run directory."""
    from ecomtune.recipes.loader import recipe_of_run

    return recipe_of_run(run, json.loads((run / "manifest.json").read_text()), need_data=True)


def classify_payloads(run: Path, n: int) -> list[dict]:
    """Real reviews (title + text, as the sentiment runs read them) in a seeded order."""
    import pandas as pd

    frame = pd.read_csv(REPO.parent / "shared" / "data" / "womens_clothing_ecommerce_reviews" /
                        "womens_clothing_ecommerce_reviews.csv").dropna(subset=["Review Text"])
    texts = (frame["Title"].fillna("") + " " + frame["Review Text"]).str.strip().tolist()
    return [{"texts": [t]} for t in random.Random(0).sample(texts, min(n, len(texts)))]


def recommend_payloads(run: Path, n: int) -> list[dict]:
    """Histories of the run's own test users (external ids, the last 50 items)."""
    from ecomtune.tasks.recommend.data import load_data
    from ecomtune.tasks.recommend.predict import Recommender

    rec = Recommender.load(run, device="cpu")
    recipe = _recipe(run)
    histories = load_data(recipe.data, need_text=False).test.histories
    picked = random.Random(0).sample(range(len(histories)), min(n, len(histories)))
    return [{"histories": [[rec.item_ids[i] for i in histories[j][-rec.model.max_history:]]], "k": 10}
            for j in picked]


def search_payloads(run: Path, n: int) -> list[dict]:
    """The run's own test queries."""
    from ecomtune.tasks.search.data import load_search_data

    queries = load_search_data(_recipe(run).data).test.texts
    return [{"queries": [queries[i % len(queries)]], "k": 10} for i in range(n)]


ENDPOINTS = {"classify": ("/v1/classify", classify_payloads, HERE / "work" / "sentiment-en-issue12"),
             "recommend": ("/v1/recommend", recommend_payloads, REPO / "runs" / "bench-recommend" /
                           "games-sasrec-text_id"),
             "search": ("/v1/search", search_payloads, HERE / "work" / "search-fashion-bi")}


def level(url: str, path: str, payloads: list[dict], concurrency: int, requests: int, client: str) -> dict:
    """`concurrency` closed-loop clients send `requests` requests in all (each its next when the last answers)."""
    measure = _threads if client == "threads" else _httpx
    buckets = server_buckets(_get(url, "/metrics"), path)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    latencies, failures = measure(url, path, payloads, concurrency, requests)
    elapsed = time.perf_counter() - start
    after = server_buckets(_get(url, "/metrics"), path)
    lat = np.array(latencies) * 1000
    p50, p99 = float(np.percentile(lat, 50)), float(np.percentile(lat, 99))
    return {"concurrency": concurrency, "client": client, "requests": len(lat), "failures": len(failures),
            "first_failure": failures[0] if failures else None, "requests_per_second": round(len(lat) / elapsed, 1),
            "p50_ms": round(p50, 1), "p99_ms": round(p99, 1), "max_ms": round(float(lat.max()), 1),
            "p99_over_p50": round(p99 / p50, 2), "server_p50_at_most_ms": server_p(buckets, after, 0.5),
            "server_p99_at_most_ms": server_p(buckets, after, 0.99), "load_average_start": round(load, 2),
            "load_average_end": round(os.getloadavg()[0], 2)}


def _get(url: str, path: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url + path, timeout=60) as r:
        return r.read().decode()


def _threads(url: str, path: str, payloads: list[dict], concurrency: int, requests: int):
    """One thread and one keep-alive `http.client` connection per client: the client's own cost per request is
    small next to the server's (the asyncio + httpx client below costs ~1 ms of the same 2 cores per request, and
    its event loop, not the service, made /v1/recommend's p99 ~10x its p50)."""
    import http.client
    import threading
    from urllib.parse import urlsplit

    where = urlsplit(url)
    latencies, failures, lock, counter = [], [], threading.Lock(), iter(range(requests))

    def post(conn, i: int):
        conn.request("POST", path, json.dumps(payloads[i % len(payloads)]), {"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, r.read()

    def loop(first: int):
        conn = http.client.HTTPConnection(where.hostname, where.port, timeout=300)
        post(conn, -1 - first)  # open the connection, warm the path
        ready.wait()
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            sent = time.perf_counter()
            status, body = post(conn, i)
            with lock:
                if status == 200:
                    latencies.append(time.perf_counter() - sent)
                else:
                    failures.append(f"{status}: {body[:200]!r}")

    ready = threading.Event()
    threads = [threading.Thread(target=loop, args=(c,)) for c in range(concurrency)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    ready.set()
    for t in threads:
        t.join()
    return latencies, failures


def _httpx(url: str, path: str, payloads: list[dict], concurrency: int, requests: int):
    """The first client of this benchmark: asyncio + httpx, one shared client (`--client httpx`)."""
    import httpx

    async def run():
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=300) as client:
            for i in range(concurrency):  # open the connections, warm the path
                await client.post(path, json=payloads[-1 - i % len(payloads)])
            latencies, failures = [], []
            counter = iter(range(requests))

            async def loop():
                for i in counter:
                    sent = time.perf_counter()
                    r = await client.post(path, json=payloads[i % len(payloads)])
                    if r.status_code == 200:
                        latencies.append(time.perf_counter() - sent)
                    else:
                        failures.append(f"{r.status_code}: {r.text[:200]}")

            await asyncio.gather(*(loop() for _ in range(concurrency)))
            return latencies, failures

    return asyncio.run(run())


def server_buckets(text: str, path: str) -> dict[float, float]:
    """Cumulative counts of the server's own request-latency histogram for `path` (le seconds -> count)."""
    import re

    out: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith("ecomtune_request_seconds_bucket{") and f'endpoint="{path}"' in line:
            le = re.search(r'le="([^"]+)"', line).group(1)
            if le != "+Inf":
                out[float(le)] = out.get(float(le), 0) + float(line.rsplit(" ", 1)[1])
    return out


def server_p(before: dict, after: dict, q: float) -> float | None:
    """The upper bound (ms) of the histogram bucket holding the server-side q-quantile of the requests between."""
    diff = {le: after.get(le, 0) - before.get(le, 0) for le in after}
    total = max(diff.values(), default=0)
    for le in sorted(diff):
        if total and diff[le] >= q * total:
            return le * 1000
    return None


def endpoint(name: str, run: Path, requests: int, server_args: list[str], repeat: int = 1,
             client: str = "threads") -> dict:
    from load_test import Server

    path, make, _ = ENDPOINTS[name]
    payloads = make(run, max(200, requests))
    # The client's own garbage collector: building the payloads loads a model and its data here too, and a full
    # collection over them (~0.25 s) would be timed as the server's latency for every request in flight.
    gc.collect()
    gc.freeze()
    server = Server(run, ["--cache-size", "0", *server_args])
    url = server.url(timeout=300)
    while True:
        try:
            if "ready" in _get(url, "/readyz"):
                break
        except OSError:
            pass
        time.sleep(0.2)
    rows = [level(url, path, payloads, c, requests if c > 1 else max(50, requests // 4), client)
            for c in (1, *[32] * repeat)]
    for row in rows:
        print(f"  {name:<9} {row['concurrency']:>2} clients: p50 {row['p50_ms']:7.1f} ms  p99 {row['p99_ms']:7.1f} ms "
              f"(x{row['p99_over_p50']}; server p50/p99 <= {row['server_p50_at_most_ms']}/{row['server_p99_at_most_ms']} ms)  "
              f"{row['requests_per_second']:6.1f} req/s  load {row['load_average_start']}"
              f"->{row['load_average_end']} ({row['failures']} failures)", flush=True)
    return {"run": str(run), "server": " ".join(server.cmd[3:]), "levels": rows, "exit_code": server.stop()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=600, help="requests at 32 clients (1 client: a quarter)")
    parser.add_argument("--only", nargs="*", choices=list(ENDPOINTS), help="these endpoints only")
    for name, (_, _, default) in ENDPOINTS.items():
        parser.add_argument(f"--{name}", type=Path, default=default, help=f"the {name} run")
    parser.add_argument("--repeat", type=int, default=1, help="run the 32-client level this many times in a row")
    parser.add_argument("--server-arg", action="append", default=[], help="extra `ecomtune serve` argument")
    parser.add_argument("--client", choices=["threads", "httpx"], default="threads",
                        help="threads + http.client (default), or the first asyncio + httpx client")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "serve_tail.json")
    args = parser.parse_args()
    os.chdir(REPO)
    results = {"command": "python " + " ".join(sys.argv), "cpu_count": os.cpu_count(),
               "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "endpoints": {}}
    for name in args.only or list(ENDPOINTS):
        results["endpoints"][name] = endpoint(name, getattr(args, name), args.requests, args.server_arg, args.repeat,
                                              args.client)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
