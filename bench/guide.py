"""The home-furnishing guide's benchmarks -> bench/results/guide.json (each part updates its own key).

    python bench/guide.py --part matching   # room-grouped 5-fold CV over the 99 IKEA photo rooms, vs frozen baselines
    python bench/guide.py --part scenes     # scene accuracy: house_rooms test split, IKEA room photos (5-fold CV)
    python bench/guide.py --part requests   # request parsing on tests/tasks/guide/requests.yaml
    python bench/guide.py --part bundles --guide runs/ikea-sa-guide   # budgets, duplicates, coverage, coherence
    python bench/guide.py --part speed --guide runs/ikea-sa-guide     # ask p50/p95 in process and through /v1/guide
    python bench/guide.py --part picture --guide runs/ikea-sa-guide   # docs/images/guide-bundle.png

Matching folds group rooms by caption: photos of one staged scene share a caption, and most photo rooms have a
text-only twin with the same caption and products, so a fold's test captions are kept out of its training rooms
entirely (a stricter protocol than grouping by room id).
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "guide.json"
CACHE = ROOT / "bench" / "work" / "guide-features.pt"
FOLDS = 5


def _save(key: str, value) -> None:
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[key] = value
    RESULTS.write_text(json.dumps(data, indent=1, ensure_ascii=False))
    print(json.dumps({key: value}, indent=1, ensure_ascii=False))


def _build(preset: str = "ikea-guide"):
    """The preset's catalogue, rooms and encoded features (cached in bench/work)."""
    from ecomtune.recipes.loader import load_recipe
    from ecomtune.tasks.guide.data import Build, encode, read_all

    recipe = load_recipe(preset)
    catalogue, rooms_catalogue, rooms = read_all(recipe)
    b = Build(recipe, catalogue, rooms_catalogue, rooms, None)
    if CACHE.exists():
        b.features = torch.load(CACHE, weights_only=False)
    else:
        encode(b)
        keep = {k: v for k, v in b.features.items() if k != "encoders"}
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        torch.save(keep, CACHE)
        b.features = keep
    return b


def _folds(b) -> list[list[int]]:
    captions = sorted({b.rooms.titles[i] for i in b.rooms.with_photo})
    random.Random(0).shuffle(captions)
    fold_of = {c: k % FOLDS for k, c in enumerate(captions)}
    return [[i for i in b.rooms.with_photo if fold_of[b.rooms.titles[i]] == k] for k in range(FOLDS)]


def matching(args) -> None:
    from ecomtune.tasks.guide.evaluate import _scores
    from ecomtune.tasks.guide.matching import Example, Matcher, fit, ranking_metrics

    b = _build()
    f, t, m = b.features, b.recipe.training, b.recipe.model
    ways = ["photo", "photo + caption", "caption"]
    frozen = ["frozen caption vs product text", "frozen photo vs product photo", "frozen regions vs product photo"]
    scores = {w: [] for w in ways + frozen}
    positives = []
    start = time.perf_counter()
    for k, test in enumerate(_folds(b)):
        held = {b.rooms.titles[i] for i in test}
        b.train = [i for i in range(len(b.rooms)) if b.rooms.titles[i] not in held and b.rooms.products[i]
                   and (args.train_rooms == "all" or b.rooms.images[i])]
        matcher = Matcher(f["rooms_photo"].shape[1], f["rooms_text"].shape[1], m.rank)
        examples = [Example(b.rooms.products[i], torch.from_numpy(f["regions"][i]) if i in f["regions"] else None,
                            torch.from_numpy(f["captions"][i]) if b.rooms.titles[i] else None) for i in b.train]
        fit(matcher, torch.from_numpy(f["rooms_photo"]), torch.from_numpy(f["rooms_text"]), examples,
            epochs=args.epochs or t.epochs, batch_size=t.batch_size, learning_rate=t.learning_rate,
            weight_decay=t.weight_decay, seed=t.seed + k)
        for i in test:
            for w in ways:
                scores[w].append(_scores(b, i, w, matcher))
            for w in frozen:
                scores[w].append(_scores(b, i, w, None))
            positives.append(b.rooms.products[i])
        print(f"fold {k + 1}/{FOLDS}: {len(test)} rooms, {len(b.train)} training rooms", flush=True)
    out = {w: ranking_metrics(s, positives) for w, s in scores.items()}
    out["rooms"] = len(positives)
    out["products"] = len(b.rooms_catalogue)
    out["seconds"] = round(time.perf_counter() - start, 1)
    out["settings"] = {"epochs": args.epochs or t.epochs, "rank": m.rank, "room_size": m.room_size,
                       "train_rooms": args.train_rooms}
    _save("matching" if args.train_rooms == "all" else f"matching:{args.train_rooms}", out)


def scenes(args) -> None:
    from ecomtune.tasks.guide.request import SCENES
    from ecomtune.tasks.guide.scenes import SceneModel

    b = _build()
    f = b.features
    table = f["scene_table"]
    held = table["held_out"].to_numpy(bool)
    house_x, house_y = f["scene_x"], table["label"].to_numpy()
    typed = [i for i in b.rooms.with_photo if b.rooms.types[i] in SCENES]
    right, per_fold = 0, []
    for test in _folds(b):
        test = [i for i in test if i in typed]
        train = [i for i in typed if i not in test]
        model = SceneModel.fit(np.concatenate([house_x[~held], np.stack([f["room_pooled"][i] for i in train])]),
                               [*house_y[~held], *(b.rooms.types[i] for i in train)])
        guess = model.predict(np.stack([f["room_pooled"][i] for i in test]))
        hits = sum(g == b.rooms.types[i] for g, i in zip(guess, test))
        right += hits
        per_fold.append(round(hits / len(test), 3))
    full = SceneModel.fit(np.concatenate([house_x[~held], np.stack([f["room_pooled"][i] for i in typed])]),
                          [*house_y[~held], *(b.rooms.types[i] for i in typed)])
    house = float(np.mean(np.array(full.predict(house_x[held])) == house_y[held]))
    _save("scenes", {"house_rooms_test_accuracy": round(house, 4), "house_rooms_test_n": int(held.sum()),
                     "ikea_rooms_cv_accuracy": round(right / len(typed), 4), "ikea_rooms_n": len(typed),
                     "ikea_per_fold": per_fold, "classes": full.labels,
                     "model": "frozen efficientnet-lite0 pooled features + logistic regression"})


def _fixture(name: str = "requests.yaml") -> list[dict]:
    import yaml

    return yaml.safe_load((ROOT / "tests" / "tasks" / "guide" / name).read_text(encoding="utf-8"))


def requests(args) -> None:
    from ecomtune.tasks.guide.request import parse_request

    out = {}
    for name in ("requests.yaml", "requests_unseen.yaml"):
        rows = _fixture(name)
        got = [parse_request(r["text"]) for r in rows]
        budget = [g.budget == r.get("budget") for g, r in zip(got, rows)]
        scene = [g.scene == r.get("scene") for g, r in zip(got, rows)]
        out[name] = {"n": len(rows), "chinese": sum(g.language == "zh" for g in got),
                     "budget_accuracy": round(float(np.mean(budget)), 4),
                     "scene_accuracy": round(float(np.mean(scene)), 4),
                     "misses": [f"{r['text']} -> {g.scene}, {g.budget}" for g, r, b, s in zip(got, rows, budget, scene)
                                if not (b and s)]}
    _save("requests", out)


def bundles(args) -> None:
    import ecomtune
    from ecomtune.errors import EcomtuneError

    guide = ecomtune.load(args.guide, device="cpu")
    b = _build()
    rows = _fixture() + _fixture("requests_unseen.yaml")
    rng = random.Random(0)
    asks = [{"text": r["text"], "budget": None if r.get("budget") else rng.choice([1500, 3000, 6000])}
            for r in rows]
    room_asks = [(i, {"photo": b.rooms.images[i], "text": b.rooms.titles[i] or None,
                      "budget": rng.choice([2000, 4000, 8000])}) for i in b.rooms.with_photo]
    answers, errors = [], []
    for a in asks + [a for _, a in room_asks]:
        try:
            answers.append(guide.ask(**a))
        except EcomtuneError as exc:
            errors.append(f"{a.get('text')!r}: {exc}")
    within = [a["within_budget"] for a in answers if a["budget"] is not None]
    dups = sum(len(a["items"]) - len({i["piece"] for i in a["items"]}) for a in answers)
    dup_ids = sum(len(a["items"]) - len({i["id"] for i in a["items"]}) for a in answers)
    room_answers = answers[-len(room_asks):] if len(answers) >= len(room_asks) else []
    coverage = []
    for (i, _), a in zip(room_asks, room_answers):
        wanted = {b.rooms_catalogue.pieces[j] for j in b.rooms.products[i]} - {None}
        got = {it["piece"] for it in a["items"]}
        if wanted:
            coverage.append(len(wanted & got) / len(wanted))
    _save(f"bundles:{Path(args.guide).name}", {
        "asked": len(asks) + len(room_asks), "answered": len(answers), "errors": errors[:10],
        "with_budget": len(within), "within_budget": round(float(np.mean(within)), 4) if within else None,
        "duplicate_pieces": dups, "duplicate_ids": dup_ids,
        "piece_coverage_rooms": round(float(np.mean(coverage)), 4) if coverage else None,
        "coherence_mean": round(float(np.mean([a["coherence"] for a in answers])), 4),
        "optimal_share": round(float(np.mean([a["optimal"] for a in answers])), 4),
        "items_mean": round(float(np.mean([len(a["items"]) for a in answers])), 2)})


def speed(args) -> None:
    import ecomtune

    guide = ecomtune.load(args.guide, device="cpu")
    b = _build()
    photos = [b.rooms.images[i] for i in b.rooms.with_photo][:40]
    texts = [r["text"] for r in _fixture()][:40]
    guide.ask(photo=photos[0], text=texts[0])
    times = []
    for p, t in zip(photos, texts):
        start = time.perf_counter()
        guide.ask(photo=p, text=t)
        times.append(1000 * (time.perf_counter() - start))
    out = {"in_process_ms": _pcts(times), "products": len(guide.products)}
    out["service_ms"] = _service(args.guide, photos, texts)
    _save(f"speed:{Path(args.guide).name}", out)


def _pcts(ms: list[float]) -> dict:
    ms = sorted(ms)
    return {"n": len(ms), "p50": round(statistics.median(ms), 1), "p95": round(ms[int(0.95 * (len(ms) - 1))], 1)}


def _service(guide_dir: str, photos: list[str], texts: list[str]) -> dict:
    """p50/p95 of POST /v1/guide (multipart: photo + text) against `ecomtune serve` on a free port."""
    import socket
    import subprocess

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "ecomtune", "serve", guide_dir, "--port", str(port),
                             "--device", "cpu"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the service did not become ready in 180 s")
            time.sleep(0.5)
        times = []
        with httpx.Client(timeout=60) as client:
            for k, (p, t) in enumerate(zip(photos, texts)):
                start = time.perf_counter()
                r = client.post(f"{url}/v1/guide", files={"photo": Path(p).read_bytes()}, data={"text": t})
                r.raise_for_status()
                if k:  # the first request pays for the connection
                    times.append(1000 * (time.perf_counter() - start))
        return _pcts(times)
    finally:
        proc.terminate()
        proc.wait(30)


def picture(args) -> None:
    """docs/images/guide-bundle.png: the answer page for an IKEA room photo + request on the priced catalogue, drawn by
    headless Chromium. Neither the room photo nor product photos are drawn into it: the IKEA and house_rooms images
    are research-only and may not be copied into the repository."""
    import subprocess
    import tempfile

    import ecomtune
    from ecomtune.tasks.guide.page import render

    guide = ecomtune.load(args.guide, device="cpu")
    b = _build()
    room = next(i for i in b.rooms.with_photo if b.rooms.types[i] == "bedroom")
    answer = guide.ask(photo=b.rooms.images[room], text="给十几岁的女儿布置卧室，白色北欧风，预算6000")
    page = render(answer, lambda _: None).replace(
        "<body>", f"<body><p><i>room photo: IKEA room {b.rooms.ids[room]} (not reproduced: research-only licence)"
                  "</i></p>", 1)
    out = ROOT / "docs" / "images" / "guide-bundle.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        html = Path(tmp) / "answer.html"
        html.write_text(page, encoding="utf-8")
        subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--screenshot={out}", "--window-size=1200,900", html.as_uri()], check=True,
                       capture_output=True, timeout=120)
    _save("picture", {"room": b.rooms.ids[room], "scene": answer["scene"], "scene_from": answer["scene_from"],
                      "items": [(i["piece"], i["name"], i["price"]) for i in answer["items"]],
                      "total": answer["total"], "file": str(out.relative_to(ROOT))})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", required=True, choices=["matching", "scenes", "requests", "bundles", "speed", "picture"])
    parser.add_argument("--guide", help="a built guide folder (bundles, speed)")
    parser.add_argument("--epochs", type=int, help="matcher epochs (default: the preset's)")
    parser.add_argument("--train-rooms", default="all", choices=["all", "photo"],
                        help="matching: learn from every room (default) or only the rooms with a photo")
    args = parser.parse_args()
    torch.set_num_threads(2)
    globals()[args.part](args)


if __name__ == "__main__":
    main()
