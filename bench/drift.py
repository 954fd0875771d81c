"""Drift monitoring benchmark on real data: does `DriftMonitor` stay quiet on data like the training data and say
"fine-tune again" when the product mix changes?

    flock /tmp/ecomtune-bench.lock nice -n 10 .venv/bin/python bench/drift.py
    .venv/bin/python bench/drift.py --rows 200        # a quicker run
    ... bench/drift.py --http                         # also through a live `ecomtune serve`

Model: the Chinese sentiment run `bench/work/sentiment-zh-reg` (gemma3-270m, trained on 1,000 reviews of
online_shopping_10_cats, all ten categories). Its reference profile (profile.json) is built first if the run
predates profiles. Feeds, each `--rows` reviews that the run never used (no train/validation/test row, no
duplicate of one):

    held-out        the training category mix (a random sample of the unused rows)
    books (书籍)    one category only: book reviews, much longer than the average review
    fruit (水果)    one category only: short reviews, like most training rows

Every feed is streamed through a `DriftMonitor` (window 1000, verdicts from 200 rows) in requests of 32 texts,
as the HTTP service does. With `--http` the same feeds also go through a live `ecomtune serve` process (one
served name per feed, each with its own monitor), and GET /v1/monitor is compared with the offline numbers.
Writes bench/results/drift.json and drift.png and prints a table.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("ECOMTUNE_QUIET", "1")

import numpy as np
import pandas as pd

import ecomtune
from ecomtune.data.prepare import normalize, prepare_data
from ecomtune.data.readers import read_table
from ecomtune.deploy.monitor import DriftMonitor, ensure_profile
from ecomtune.recipes import Recipe
from ecomtune.reports.drift import plot_drift

HERE = Path(__file__).resolve().parent
RUN = HERE / "work" / "sentiment-zh-reg"
REQUEST = 32  # texts per observed request
FEEDS = {"held-out": None, "books (书籍)": "书籍", "fruit (水果)": "水果"}


def unused_rows(recipe: Recipe) -> pd.DataFrame:
    """Rows of the recipe's file that no split of the run used, nor repeat the text of one."""
    prepared = prepare_data(recipe)
    used_rows = {r for s in prepared.splits() for r in s.rows}
    used_texts = {normalize(t) for s in prepared.splits() for t in s.texts}
    frame = read_table(recipe.data.train)
    frame["_row"] = np.arange(1, len(frame) + 1)
    text = frame[recipe.data.text_column].str.replace("\ufeff", "", regex=False).str.strip()
    keep = ~frame["_row"].isin(used_rows) & ~text.map(normalize).isin(used_texts) & (text.str.len() > 0)
    keep &= frame[recipe.data.label_column].isin(list(recipe.data.label_map))
    out = frame[keep].assign(text=text[keep]).drop_duplicates("text")
    return out


def stream(model, texts: list[str], pred, probs) -> tuple[dict, int | None, list]:
    """Observe the feed request by request; -> (final report, rows seen when first flagged, action timeline)."""
    monitor = DriftMonitor.for_model(model, RUN, window=1000, min_rows=200)
    first, timeline = None, []
    for start in range(0, len(texts), REQUEST):
        end = min(start + REQUEST, len(texts))
        monitor.observe(texts[start:end], pred[start:end], [p[start:end] for p in probs])
        report = monitor.report()
        timeline.append([end, report["action"]])
        if first is None and report["action"] == "fine-tune again":
            first = end
    return report, first, timeline


def through_http(feeds: dict[str, list[str]], timeout: float = 600) -> dict:
    """POST every feed to a live `ecomtune serve` (the run served once per feed) -> {feed: GET /v1/monitor}."""
    import httpx

    names = {feed: re.sub(r"[^a-z]", "", feed.lower()) for feed in feeds}
    env = {**os.environ, "ECOMTUNE_QUIET": "1", "COLUMNS": "200"}
    args = [f"{names[f]}={RUN}" for f in feeds]
    proc = subprocess.Popen([sys.executable, "-m", "ecomtune", "serve", *args, "--port", "0", "--max-items",
                             str(REQUEST)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    try:
        url = None
        for line in proc.stderr:  # the URL is printed before the models load
            if found := re.search(r"serving on (http://\S+)", line):
                url = found.group(1)
                break
        if url is None:
            raise RuntimeError(f"ecomtune serve exited {proc.wait()} before printing its URL")
        out = {}
        with httpx.Client(base_url=url, timeout=timeout) as client:
            deadline = time.monotonic() + timeout
            while client.get("/readyz").status_code != 200:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("ecomtune serve did not get ready")
                time.sleep(0.5)
            for feed, texts in feeds.items():
                start = time.perf_counter()
                for i in range(0, len(texts), REQUEST):
                    client.post("/v1/classify", json={"texts": texts[i:i + REQUEST], "model": names[feed]}
                                ).raise_for_status()
                seconds = time.perf_counter() - start
                for _ in range(100):  # the service observes on a background thread, just after answering
                    report = client.get("/v1/monitor", params={"model": names[feed]}).json()
                    if report["rows_seen"] == len(texts):
                        break
                    time.sleep(0.1)
                out[feed] = {**report, "seconds": round(seconds, 1)}
                print(f"http {feed}: {report['action']} — {report['reason']} ({seconds:.0f}s)", flush=True)
        return out
    finally:
        proc.terminate()
        proc.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1000, help="reviews per feed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--http", action="store_true", help="also feed a live `ecomtune serve` process")
    args = parser.parse_args()

    manifest = json.loads((RUN / "manifest.json").read_text(encoding="utf-8"))
    recipe = Recipe.model_validate(manifest["recipe"])
    model = ecomtune.load(RUN, precision=manifest["cost"]["precision"])
    start = time.perf_counter()
    profile, built = ensure_profile(RUN, model, args.batch_size)
    profile_seconds = time.perf_counter() - start
    print(f"reference profile: {profile['rows']} rows {profile['source']} "
          f"({'built now' if built else 'already there'}, {profile_seconds:.0f}s)", flush=True)

    pool = unused_rows(recipe)
    label_of = {str(k): v for k, v in recipe.data.label_map.items()}
    feeds, reports, texts_of = {}, {}, {}
    for name, category in FEEDS.items():
        rows = pool if category is None else pool[pool["cat"] == category]
        rows = rows.sample(min(args.rows, len(rows)), random_state=args.seed)
        texts = texts_of[name] = rows["text"].tolist()
        start = time.perf_counter()
        pred, probs = model.predict_arrays(texts, args.batch_size)
        seconds = time.perf_counter() - start
        truth = [label_of[v] for v in rows[recipe.data.label_column]]
        predicted = [model.space.labels[0][i] for i in pred[:, 0]]
        report, first, timeline = stream(model, texts, pred, probs)
        reports[name] = report
        feeds[name] = {
            "rows": len(texts),
            "categories": {str(k): int(v) for k, v in rows["cat"].value_counts().items()},
            "mean_chars": round(float(np.mean([len(t) for t in texts])), 1),
            "accuracy": round(float(np.mean([a == b for a, b in zip(truth, predicted)])), 4),
            "action": report["action"],
            "reason": report["reason"],
            "psi": {k: s["psi"] for k, s in report["signals"].items()},
            "first_flagged_at_row": first,
            "timeline": timeline,
            "predict_seconds": round(seconds, 1),
            "report": report,
        }
        print(f"{name}: {report['action']} — {report['reason']} ({seconds:.0f}s)", flush=True)

    if args.http:
        for name, report in through_http(texts_of).items():
            feeds[name]["http"] = {"action": report["action"], "reason": report["reason"],
                                   "rows_seen": report["rows_seen"], "seconds": report["seconds"],
                                   "psi": {k: s["psi"] for k, s in report["signals"].items()}}

    results = HERE / "results"
    results.mkdir(exist_ok=True)
    plot_drift(reports, results / "drift.png")
    result = {
        "run": str(RUN.relative_to(HERE.parent)),
        "backbone": manifest["backbone"]["name"],
        "data": Path(recipe.data.train).name,
        "reference": {"rows": profile["rows"], "source": profile["source"], "built_now": built,
                      "seconds": round(profile_seconds, 1),
                      "mean_chars": profile["signals"]["text_length"].get("mean")},
        "train_categories": "all ten categories, stratified by label (max_train_rows 1000)",
        "settings": {"rows": args.rows, "http": args.http, "seed": args.seed, "window": 1000, "min_rows": 200, "request": REQUEST,
                     "warn": 0.1, "threshold": 0.25},
        "feeds": feeds,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "device": str(model.device),
                    "precision": model.precision},
        "versions": manifest["versions"],
    }
    out = results / "drift.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")

    signals = list(profile["signals"])
    print(f"\nsentiment-zh ({result['backbone']}): PSI per signal vs {profile['rows']} reference rows "
          f"(< 0.1 stable, > 0.25 drifted)")
    print(f"{'feed':<14}{'rows':>6}{'chars':>7}{'acc':>7}" + "".join(f"{s:>18}" for s in signals)
          + f"{'flagged at':>12}  action")
    for name, f in feeds.items():
        print(f"{name:<14}{f['rows']:>6}{f['mean_chars']:>7.0f}{f['accuracy']:>7.3f}"
              + "".join(f"{f['psi'][s]:>18.3f}" for s in signals)
              + f"{f['first_flagged_at_row'] or '-':>12}  {f['action']}")
    if args.http:
        print("through `ecomtune serve` (GET /v1/monitor after POSTing the feed):")
        for name, f in feeds.items():
            h = f["http"]
            print(f"{name:<14}{h['rows_seen']:>6}{'':>14}" + "".join(f"{h['psi'][s]:>18.3f}" for s in signals)
                  + f"{'':>12}  {h['action']}")
    print(f"-> {out}, {results / 'drift.png'}")


if __name__ == "__main__":
    main()
