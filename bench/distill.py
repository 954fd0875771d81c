"""Distillation benchmark: the gemma3-270m sentiment-zh teacher -> gemma3-270m cut to its bottom 4 layers.

    python bench/distill.py                      # teacher bench/work/sentiment-zh-reg (trained first if missing)
    python bench/distill.py --tiny               # a seconds-long slice, to check the script

Why this student: the packaged `minilm` tokenizer is English WordPiece and maps 62% of the Chinese review tokens to
[UNK], so a minilm student cannot read the reviews. Cutting the teacher's own backbone to its bottom layers
(`model.keep_layers: 4`) keeps the multilingual tokenizer, the embeddings and the pretrained lower layers, with
~4.5x fewer layer FLOPs. The transfer set is unlabeled reviews from the *training* portion of the same split (never
validation or test rows): the teacher labels them with soft labels and the student learns from those too.

Three numbers matter: the student's accuracy over the teacher's (retention, goal >= 97%), the student's inference
samples/s over the teacher's (speed-up, goal >= 3x; both timed in this process on the same 2,000 test reviews),
and the same student trained on the 1,000 labelled rows alone (the lift distillation brings).
Writes bench/results/distill.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("ECOMTUNE_QUIET", "1")

import ecomtune
from ecomtune.data.prepare import normalize, prepare_data
from ecomtune.recipes import load_recipe
from ecomtune.recipes.schema import Recipe

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"


def teacher_dir(path: Path) -> Path:
    """The finished teacher run; trained with the `sentiment-zh` preset when missing."""
    if (path / "manifest.json").exists():
        return path
    print(f"no teacher at {path}: training it with the sentiment-zh preset (about 6 minutes on 2 CPU cores)")
    return ecomtune.train(load_recipe("sentiment-zh", [f"output.dir={path}", "output.overwrite=true"]))


def transfer_set(base: dict, rows: int, out: Path, seed: int = 0) -> Path:
    """Unlabeled reviews from the training portion of the split, minus the labelled training rows themselves."""
    full = json.loads(json.dumps(base))
    full["data"]["max_train_rows"] = None
    portion = prepare_data(Recipe.model_validate(full))
    used = prepare_data(Recipe.model_validate(base))
    taken = {normalize(t) for split in used.splits() for t in split.texts}
    import pandas as pd

    texts = pd.Series([t for t in portion.train.texts if normalize(t) not in taken]).drop_duplicates()
    texts = texts.sample(n=min(rows, len(texts)), random_state=seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"review": texts}).to_csv(out, index=False)
    print(f"transfer set: {len(texts)} unlabeled reviews of {len(portion.train)} in the training portion -> {out}")
    return out


def run(raw: dict, name: str) -> dict:
    raw = json.loads(json.dumps(raw))
    raw["name"] = name
    raw["output"] = {"dir": str(WORK / name), "overwrite": True}
    start = time.perf_counter()
    path = ecomtune.train(raw)
    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    manifest["_wall_seconds"] = round(time.perf_counter() - start, 1)
    return manifest


def summary(m: dict) -> dict:
    c = m["cost"]
    return {"accuracy": m["metrics"]["test"]["accuracy"], "macro_f1": m["metrics"]["test"]["macro_f1"],
            "train_rows": m["data"]["rows"]["train"], "train_seconds": c["train_seconds"],
            "wall_seconds": m["_wall_seconds"], "inference_samples_per_second": c["inference_samples_per_second"],
            "total_params": c["total_params"], "trainable_params": c["trainable_params"],
            "model_size_mb": c["model_size_mb"], "peak_memory_mb": c["peak_memory_mb"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", type=Path, default=WORK / "sentiment-zh-reg",
                        help="finished teacher run (default: the 0.9235-accuracy sentiment-zh run)")
    parser.add_argument("--keep-layers", type=int, default=4)
    parser.add_argument("--transfer-rows", type=int, default=4000)
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--kd-epochs", type=float, default=None, help="epochs of the distilled student "
                        "(default: --epochs; it sees more rows per epoch)")
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--skip-hard", action="store_true", help="skip the no-distillation student")
    parser.add_argument("--reuse-hard", action="store_true",
                        help="reuse a finished no-distillation student run in bench/work instead of training it")
    parser.add_argument("--tiny", action="store_true", help="a few rows only: check that the script runs")
    args = parser.parse_args()
    tag = "-tiny" if args.tiny else ""

    teacher = teacher_dir(args.teacher)
    base = load_recipe("sentiment-zh").model_dump(mode="json")
    base["model"]["keep_layers"] = args.keep_layers
    base["training"].update(epochs=args.epochs, learning_rate=args.learning_rate)
    base["evaluation"]["baseline"] = False
    if args.tiny:
        base["data"].update(max_train_rows=40, max_validation_rows=20, max_test_rows=40)
        base["training"].update(epochs=1)
        args.transfer_rows = 40
    transfer = transfer_set(base, args.transfer_rows, WORK / f"distill-transfer{tag}.csv")

    results = {}
    hard_dir = WORK / f"distill-student-hard{tag}"
    if args.reuse_hard and (hard_dir / "manifest.json").exists():
        print(f"student without distillation: reusing {hard_dir}")
        hard = json.loads((hard_dir / "manifest.json").read_text(encoding="utf-8"))
        results["student_hard"] = summary({**hard, "_wall_seconds": None})
        results["student_hard"]["settings"] = {k: hard["recipe"]["training"][k] for k in ("epochs", "learning_rate")}
    elif not args.skip_hard:
        print("student without distillation (the labelled rows only, hard labels)")
        results["student_hard"] = summary(run(base, f"distill-student-hard{tag}"))
    kd = json.loads(json.dumps(base))
    kd["training"]["epochs"] = args.kd_epochs or args.epochs
    kd["training"]["distill"] = {"teacher": str(teacher), "temperature": args.temperature, "alpha": args.alpha,
                                 "unlabeled": str(transfer), "unlabeled_column": "review"}
    print(f"student with distillation (+{args.transfer_rows} unlabeled reviews)")
    manifest = run(kd, f"distill-student-kd{tag}")
    results["student_kd"] = summary(manifest)
    d = manifest["distill"]
    teacher_manifest = json.loads((teacher / "manifest.json").read_text(encoding="utf-8"))
    result = {
        "teacher": {"run": teacher.name, "backbone": d["teacher"]["backbone"], "test": d["teacher"]["test"],
                    "recorded_test": d["teacher"]["recorded_test"],
                    "inference_samples_per_second": d["teacher"]["inference_samples_per_second"],
                    "total_params": teacher_manifest["cost"]["total_params"],
                    "model_size_mb": teacher_manifest["cost"]["model_size_mb"],
                    "train_seconds": teacher_manifest["cost"]["train_seconds"]},
        "student": {"backbone": "gemma3-270m", "keep_layers": args.keep_layers},
        **results,
        "retention": d["retention"],
        "speedup": d["speedup"],
        "distill": {k: d[k] for k in ("temperature", "alpha", "rows", "teacher_train_agreement", "notes")},
        "settings": {"epochs": args.epochs, "kd_epochs": kd["training"]["epochs"], "learning_rate": args.learning_rate,
                     "tiny": args.tiny},
        "goals": {"retention_accuracy>=0.97": d["retention"]["accuracy"] >= 0.97, "speedup>=3": d["speedup"] >= 3},
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
        "versions": manifest["versions"],
    }
    if "student_hard" in results:
        result["distillation_lift_points"] = round((results["student_kd"]["accuracy"]
                                                    - results["student_hard"]["accuracy"]) * 100, 2)
    out = HERE / "results" / f"distill{tag}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")

    t = result["teacher"]
    print(f"\n{'model':<40}{'accuracy':>10}{'samples/s':>11}{'params':>9}{'train s':>9}")
    print(f"{'teacher gemma3-270m (18 layers)':<40}{t['test']['accuracy']:>10.4f}"
          f"{t['inference_samples_per_second']:>11.1f}{t['total_params'] / 1e6:>8.0f}M{t['train_seconds']:>9.0f}")
    for key, label in (("student_hard", "student, hard labels only"), ("student_kd", "student, distilled")):
        if key in results:
            r = results[key]
            print(f"{label + f' ({args.keep_layers} layers)':<40}{r['accuracy']:>10.4f}"
                  f"{r['inference_samples_per_second']:>11.1f}{r['total_params'] / 1e6:>8.0f}M"
                  f"{r['train_seconds']:>9.0f}")
    print(f"retention {result['retention']['accuracy']:.1%} (goal 97%), speed-up {result['speedup']:.2f}x (goal 3x)"
          + (f", distillation lift {result['distillation_lift_points']:+.1f} points"
             if "distillation_lift_points" in result else "") + f" -> {out}")


if __name__ == "__main__":
    main()
