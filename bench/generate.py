"""Generation benchmark: AdvertiseGen (Chinese attributes -> ad copy) fine-tuned with LoRA vs the retrieval
baseline and the untuned instruct model; the cost of LoRA, full and prompt tuning per step; decoding speed in
process and through `/v1/generate`.

    python bench/generate.py --part adgen --train-rows 320     # LoRA run of the adgen-zh preset, ~60 min on 2 cores
    python bench/generate.py --part methods                     # a few steps of lora / full / prompt tuning each
    python bench/generate.py --part speed --run bench/work/generate/adgen-zh

Only the 1,070 AdvertiseGen dev pairs are available, split 870 / 200 (seed 42): the numbers are NOT comparable
with published ones, which train on 114k pairs. On the 2-core CPU the LoRA run trains on the first `--train-rows`
of the 870 (both baselines see the same rows). Writes bench/results/generate.json (one key per part).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("ECOMTUNE_QUIET", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "generate.json"
WORK = HERE / "work" / "generate"


def record(part: str, value: dict) -> None:
    found = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    found[part] = value
    RESULTS.write_text(json.dumps(found, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps(value, indent=1, ensure_ascii=False))


def adgen(args) -> None:
    from ecomtune.api import train

    overrides = [f"data.max_rows={args.train_rows}", f"training.epochs={args.epochs}",
                 f"output.dir={WORK / 'adgen-zh'}", "output.overwrite=true",
                 f"evaluation.untuned_rows={args.untuned_rows}"]
    start = time.perf_counter()
    run = train("adgen-zh", overrides + (args.set or []))
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    test, base = manifest["metrics"]["test"], manifest["baselines"]
    record("adgen", {"command": "python bench/generate.py --part adgen --train-rows " + str(args.train_rows),
                     "backbone": manifest["backbone"]["name"], "rows": manifest["data"]["rows"], "lora": test, "retrieval": base.get("retrieval"),
                     "untuned": base.get("untuned"), "cost": manifest["cost"],
                     "wall_seconds": round(time.perf_counter() - start, 1)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["adgen", "methods", "speed"], required=True)
    parser.add_argument("--train-rows", type=int, default=320)
    parser.add_argument("--epochs", type=float, default=1)
    parser.add_argument("--untuned-rows", type=int, default=50)
    parser.add_argument("--run", type=Path, default=WORK / "adgen-zh")
    parser.add_argument("--set", action="append", help="a recipe override, e.g. model.backbone=gemma3-270m")
    args = parser.parse_args()
    {"adgen": adgen}[args.part](args)


if __name__ == "__main__":
    sys.exit(main())
