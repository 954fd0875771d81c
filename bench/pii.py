"""Personal-data detection (`data.pii`): precision and recall per kind on the generated zh/en corpus, and how much
personal data the real text sets in ../shared/data hold (counts per kind, with a few masked examples).

    python bench/pii.py                 # corpus of 5,000 texts (seeds 0-2) + the shared data sets
    python bench/pii.py --n 2000 --no-shared

Writes bench/results/pii.json. Examples are printed masked, never raw.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.data.pii_corpus

from ecomtune.data.pii import KINDS, find, mask, scrub
from ecomtune.data.readers import read_table
from tests.data.pii_corpus import corpus, score

SHARED = ROOT.parent / "shared" / "data"
# (name, file, text columns): every text set a recipe trains on
SETS = [
    ("online_shopping_10_cats (zh reviews)", "online_shopping_10_cats/online_shopping_10_cats.csv.gz", ["review"]),
    ("womens_clothing (en reviews)", "womens_clothing_ecommerce_reviews/womens_clothing_ecommerce_reviews.csv",
     ["Title", "Review Text"]),
    ("amazon_qa_appliances (en Q&A)", "amazon_qa_appliances/qa_Appliances.jsonl.gz", ["question", "answer"]),
    ("advertisegen_dev (zh ad copy)", "advertisegen_dev/dev.json", ["content", "summary"]),
    ("wands_queries (en queries)", "wands_queries/query.csv", ["query"]),
    ("amazon_games titles (en items)", "amazon_games_seqrec_llmrank/Games.item", ["title"]),
    ("ikea_sa_furniture (en catalogue)", "ikea_sa_furniture/ikea.csv", ["name", "short_description", "designer"]),
    ("fashion_product_styles (en titles)", "fashion_product_styles/styles.csv", ["productDisplayName"]),
]


def corpus_table(n: int, seeds: list[int]) -> dict:
    rows = [text for seed in seeds for text in corpus(n, seed)]
    started = time.perf_counter()
    result = score(rows)
    seconds = time.perf_counter() - started
    print(f"generated corpus: {len(rows):,} zh/en texts (seeds {seeds}), {seconds:.2f} s to scan")
    print("| kind | gold | found | precision | recall |\n|---|---|---|---|---|")
    for kind in KINDS:
        r = result[kind]
        print(f"| {kind} | {r['gold']} | {r['found']} | {r['precision']:.3f} | {r['recall']:.3f} |")
    return {"texts": len(rows), "seeds": seeds, "seconds": round(seconds, 3), "per_kind": result}


def _read(path: Path, columns: list[str]):
    import pandas as pd

    if path.name == "ikea.csv":  # `;`-separated (PROVENANCE.md)
        frame = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)
    else:
        frame = read_table(path, ".tsv" if path.suffix in (".item",) or path.name == "query.csv" else None)
    frame.columns = [c.split(":", 1)[0].lstrip("\ufeff") for c in frame.columns]
    return frame[columns].astype(str)


def shared_table(examples: int = 3) -> dict:
    out = {}
    print("\n| data set | texts | with PII | " + " | ".join(KINDS) + " | scan s |\n|---|---|---|"
          + "---|" * len(KINDS) + "---|")
    shown = []
    for name, file, columns in SETS:
        path = SHARED / file
        if not path.exists():
            print(f"| {name} | (absent) |")
            continue
        frame = _read(path, columns)
        texts = frame[columns[0]].str.cat([frame[c] for c in columns[1:]], sep=" ") if len(columns) > 1 \
            else frame[columns[0]]
        texts = texts.tolist()
        started = time.perf_counter()
        _, _, report = scrub(texts, "keep")
        seconds = time.perf_counter() - started
        out[name] = {**report.as_dict(), "seconds": round(seconds, 2)}
        print(f"| {name} | {len(texts):,} | {report.rows} | " + " | ".join(str(report.counts[k]) for k in KINDS)
              + f" | {seconds:.1f} |")
        for text in texts:
            found = find(text)
            if found and sum(s[0] == name for s in shown) < examples:
                f = found[0]
                shown.append((name, f.kind, mask(text[max(0, f.start - 30):f.end + 30])))
    if shown:
        print("\nexamples (masked):")
        for name, kind, text in shown:
            print(f"  {name} [{kind}]: …{text}…")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="texts per seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--no-shared", action="store_true", help="skip the ../shared/data sets")
    args = parser.parse_args()
    result = {"corpus": corpus_table(args.n, args.seeds)}
    if not args.no_shared and SHARED.exists():
        result["shared"] = shared_table()
    out = ROOT / "bench" / "results" / "pii.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\n-> {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
