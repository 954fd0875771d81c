"""compress.json (everything measured) and compress.md (the table people read), written into the new run dir."""
from __future__ import annotations

import json
from pathlib import Path

from ecomtune.reports import write_model_card
from ecomtune.rundir import read_manifest

HEADERS = ["model", "accuracy", "macro-F1", "texts/s (batch)", "p50 ms (1 text)", "p95 ms", "size MB"]


def unit(result: dict) -> str:
    """What the rows measure: `text` (text runs; the default) or `image` (image runs: `<unit>s_per_second`)."""
    return result.get("unit", "text")


def headers(result: dict) -> list[str]:
    return [h.replace("text", unit(result)) for h in HEADERS]


def table_rows(result: dict) -> list[list[str]]:
    rate = f"{unit(result)}s_per_second"

    def fmt(name: str, row: dict) -> list[str]:
        m = row["metrics"]
        return [name, f"{m.get('accuracy', float('nan')):.4f}", f"{m.get('macro_f1', float('nan')):.4f}",
                f"{row[rate]:.1f}", f"{row['latency_ms_p50']:.1f}", f"{row['latency_ms_p95']:.1f}",
                f"{row['size_mb']:.0f}"]

    rows = [fmt(f"original ({name})", row) for name, row in result["before"].items()]
    return [*rows, fmt(result["method"], result["after"])]


def summary(result: dict) -> str:
    return (f"{result['method']}: {result['quality_change_points']:+.2f} pt {result['quality_metric']}, "
            f"{result['speedup_vs_fp32']:.2f}x the fp32 PyTorch throughput, "
            f"{result['size_ratio']:.0%} of the size, {result['agreement_with_fp32']:.1%} same predictions "
            f"({result['rows']} {unit(result)}s of the {result['data']})")


def write_report(run_dir: Path, result: dict) -> None:
    run_dir = Path(run_dir)
    (run_dir / "compress.json").write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    lines = [f"# Compression: {result['method']}", "", summary(result), "",
             "| " + " | ".join(headers(result)) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(result)]
    batches = "length-sorted batches" if unit(result) == "text" else "batches, decoding included,"
    lines += ["", (f"Throughput: {batches} of {result['batch_size']}; latency: one {unit(result)} per call; "
                   f"{result['threads']} threads. Source: `{result['source']}`.")]
    (run_dir / "compress.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    write_model_card(run_dir, read_manifest(run_dir))
