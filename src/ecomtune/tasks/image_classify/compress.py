"""`ecomtune compress` for image runs: a faster or smaller copy of the run directory, measured against the original.

    int8        dynamic int8 of the Linear layers (PyTorch, runtime `torch-int8`, quantized when loaded). On a CNN
                that is only the classification head(s): the convolutions stay fp32, so speed and size barely move.
    onnx        the fp32 classifier exported to `model/model.onnx` (runtime `onnx`, ONNX Runtime on the CPU).
    onnx-int8   that export, then STATIC int8 in QDQ form (per-channel int8 weights, uint8 activations) calibrated
                on training images of the run's recipe. Static, because ONNX Runtime's dynamic int8 turns each
                convolution into ConvInteger, which ran ~4x slower than fp32 on EfficientNet-Lite0 (29 vs 115
                images/s), while the static QDQ graph runs as fused QLinearConv kernels (~160 images/s).

The copy is written under a temporary name and renamed at the end (`rundir.replacement`), so a crash never leaves
a half-written run that looks finished. Quality is measured on the run's test split (or `--data`, `--rows`):
accuracy / macro-F1, batched images/s with decoding included (`ImageModel.predict_arrays`), single-image latency,
and the size of `model/`; `write_report` (passed in by `deploy.compress`, which this layer may not import) writes
compress.json / compress.md.
"""
from __future__ import annotations

import random
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ecomtune.console import console
from ecomtune.errors import EcomtuneError, RecipeError, RunDirError
from ecomtune.recipes.loader import recipe_of_run, recipe_to_store
from ecomtune.reports import write_model_card
from ecomtune.rundir import (
    MANIFEST,
    MARKER,
    check_replaceable,
    dir_size_mb,
    read_manifest,
    replacement,
    write_config,
    write_manifest,
)
from ecomtune.tasks.image_classify.images import eval_tensor
from ecomtune.tasks.image_classify.predict import ImageModel, metrics_module
from ecomtune.tasks.image_classify.weights import (
    BACKBONE,
    LABELS,
    ONNX,
    PREPROCESS,
    WEIGHTS,
)

METHODS = ("int8", "onnx", "onnx-int8")
SKIP = ("model", "checkpoints", "compress.json", "compress.md", MANIFEST, MARKER)
OPSET = 17
CALIBRATION_IMAGES = 64  # training images the static int8 ranges are calibrated on
CALIBRATION_BATCH = 8
EXPORT_CHECK_IMAGES = 8  # test images the ONNX export must reproduce the PyTorch logits on
MAX_EXPORT_DIFF = 1e-3  # max |logit difference|, fp32 ONNX vs PyTorch
LATENCY_IMAGES = 50  # single-image predictions timed for the latency percentiles
NETWORK_IMAGES = 256  # decoded once, then timed through the runtime alone (the network's own speed)
HOW = "pass --overwrite to replace it, or --out another folder"


def say(message: str) -> None:
    console.print(f"[dim]compress[/] {message}")


def _onnx_modules():
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise EcomtuneError("ONNX export needs onnx and onnxruntime — `pip install ecomtune[onnx]`") from None
    return onnx, onnxruntime


def _check(source: Path, manifest: dict, method: str, options: dict) -> None:
    """Every refusal, before anything loads."""
    if method not in METHODS:
        hint = " (`prune` removes attention heads of text encoders)" if method == "prune" else ""
        raise RecipeError(f"`--method {method}` does not apply to image runs{hint} — choose one of: "
                          f"{', '.join(METHODS)}")
    runtime = (manifest.get("runtime") or {}).get("name", "torch")
    if runtime != "torch":
        raise RunDirError(f"{source}: already compressed ({runtime}) — compress the original run directory instead"
                          f" (`{(manifest.get('compression') or {}).get('source', 'the source run')}`)")
    if options:
        name = next(iter(options)).replace("_", "-")
        raise RecipeError(f"`--{name}` does not apply to `{method}` on an image run (image methods take no options)")
    if method.startswith("onnx"):
        _onnx_modules()


def compress(source: str | Path, method: str, out: str | Path | None = None, overwrite: bool = False,
             data: str | Path | None = None, rows: int | None = None, write_report=None, **options) -> Path:
    """Write a compressed copy of the image run `source` (int8 | onnx | onnx-int8), measure both on the same test
    images and return the new run directory (`write_report(run_dir, result)` writes compress.json/.md there)."""
    source = Path(source)
    manifest = read_manifest(source)
    options = {k: v for k, v in options.items() if v is not None}
    _check(source, manifest, method, options)
    target = Path(out) if out else source.with_name(f"{source.name}-{method}")
    check_replaceable(target, overwrite, HOW)
    recipe = recipe_of_run(source, manifest, need_data=data is None or method == "onnx-int8")

    say(f"loading {source} (fp32)")
    original = ImageModel.load(source, device="cpu")
    prepared = _Prepared(recipe)
    paths, truth = _test_set(original, recipe, prepared, Path(data) if data else None, rows)
    if not paths:
        raise RecipeError(f"{source}: no test images to measure on — pass `--data` with a labelled folder or table")
    batch_size = recipe.training.eval_batch_size
    say(f"measuring the original on {len(paths)} test images")
    before = {"torch fp32": measure(original, paths, truth, batch_size)}

    folder = replacement(target, overwrite, HOW)
    tmp = folder.path
    _copy_run(source, tmp)
    network = original.model.eval()
    with torch.no_grad():
        if method == "int8":
            shutil.copy2(source / "model" / WEIGHTS, tmp / "model" / WEIGHTS)
            runtime, description = _int8_runtime(network)
        else:
            sample = torch.stack([eval_tensor(p, original.pre) for p in paths[:EXPORT_CHECK_IMAGES]])
            runtime = export(network, tmp / "model" / ONNX, sample)
            description = "ONNX Runtime, fp32"
            if method == "onnx-int8":
                calibration = calibration_images(prepared.get().train.paths, recipe.training.seed)
                say(f"calibrating static int8 on {len(calibration)} training images")
                pixels = [eval_tensor(p, original.pre) for p in calibration]
                quantize_static(tmp / "model" / ONNX, tmp / "model" / ONNX, pixels)
                runtime.update(weights="int8", activations="uint8", quantization="static QDQ, per-channel weights",
                               calibration_images=len(pixels))
                description = (f"ONNX Runtime, static int8 (QDQ: per-channel int8 weights, uint8 activations, "
                               f"calibrated on {len(pixels)} training images)")

    new = _updated_manifest(manifest, runtime, method, source)
    new["recipe"] = recipe_to_store(recipe, target)
    write_config(tmp, new["recipe"])
    write_manifest(tmp, new)
    say("measuring the compressed copy")
    compressed = ImageModel.load(tmp, device="cpu")
    after = measure(compressed, paths, truth, batch_size)
    result = _result(before, after, new, method, description, source, tmp, data, rows)
    new["compression"]["result"] = result
    new["cost"].update({"model_size_mb": result["after"]["size_mb"],
                        "inference_samples_per_second": after["images_per_second"],
                        "inference_latency_ms_p50": after["latency_ms_p50"],
                        "inference_latency_ms_p95": after["latency_ms_p95"],
                        "inference_batch_size": batch_size, "device": "cpu", "precision": "fp32"})
    if data is None and rows is None:
        new["metrics"]["test"] = after["all_metrics"]
    write_manifest(tmp, new)
    if write_report is not None:
        write_report(tmp, result)
    _model_card(tmp)
    folder.finish()
    say(f"wrote {target}")
    return target


class _Prepared:
    """The recipe's checked and split images, read once and only when needed."""

    def __init__(self, recipe):
        self.recipe, self.value = recipe, None

    def get(self):
        if self.value is None:
            from ecomtune.tasks.image_classify.data import prepare_images

            self.value = prepare_images(self.recipe)
        return self.value


def _test_set(model: ImageModel, recipe, prepared: _Prepared, data: Path | None, rows: int | None):
    """Image paths and label ids [n, depth] to measure on: a labelled folder/table, or the run's test split."""
    if data is None:
        split = prepared.get().test
        return list(split.paths[:rows]), split.labels[:rows]
    from ecomtune.tasks.image_classify.predict import labelled_images

    paths, raw, _ = labelled_images(recipe, model.space, data)
    return list(paths[:rows]), model.space.encode(raw[:rows])


def measure(model: ImageModel, paths: list, truth: np.ndarray, batch_size: int = 32) -> dict:
    """Quality, batched throughput and single-image latency, decoding included (what a caller sees), plus the
    network's own speed on pixels decoded beforehand (what the runtime changed)."""
    model.predict_arrays(paths[:batch_size], batch_size)  # warm-up: lazy init, kernel selection per shape
    model.predict_arrays(paths[:1], 1)
    start = time.perf_counter()
    pred, _ = model.predict_arrays(paths, batch_size)
    seconds = time.perf_counter() - start
    single: list[float] = []
    for path in paths[:LATENCY_IMAGES]:
        t0 = time.perf_counter()
        model.predict_arrays([path], 1)
        single.append(time.perf_counter() - t0)
    batches = [pixels for _, pixels in model.pixel_batches(paths[:NETWORK_IMAGES], batch_size)]
    start = time.perf_counter()
    for pixels in batches:
        model.runtime(pixels)
    network_seconds = time.perf_counter() - start
    one = batches[0][:1]
    network_single = []
    for _ in range(min(LATENCY_IMAGES, len(paths))):
        t0 = time.perf_counter()
        model.runtime(one)
        network_single.append(time.perf_counter() - t0)
    metrics = metrics_module(model.space).compute(truth, pred, model.space)
    return {"metrics": {k: metrics[k] for k in ("accuracy", "macro_f1", "path_accuracy") if k in metrics},
            "all_metrics": metrics, "images_per_second": round(len(paths) / seconds, 2), "batch_size": batch_size,
            "latency_ms_p50": round(float(np.percentile(single, 50)) * 1000, 2),
            "latency_ms_p95": round(float(np.percentile(single, 95)) * 1000, 2),
            "network_images_per_second": round(sum(len(b) for b in batches) / network_seconds, 2),
            "network_latency_ms_p50": round(float(np.percentile(network_single, 50)) * 1000, 2),
            "rows": len(paths), "predictions": pred}


def _int8_runtime(network: nn.Module) -> tuple[dict, str]:
    """The runtime entry and an honest description: how much of the network dynamic int8 actually covers."""
    total = sum(p.numel() for p in network.parameters())
    linear = sum(p.numel() for m in network.modules() if isinstance(m, nn.Linear) for p in m.parameters())
    convs = sum(1 for m in network.modules() if isinstance(m, nn.Conv2d))
    share = linear / total if total else 0.0
    description = f"dynamic int8 of the Linear layers (PyTorch): {share:.1%} of the weights"
    if convs:
        description += (" — on a CNN that is the classification head(s) only; the convolutions stay fp32, so "
                        "expect little change in speed or size (use onnx-int8 for an int8 CNN)")
    return {"name": "torch-int8", "quantized": "Linear", "linear_weight_share": round(share, 4)}, description


class _Logits(nn.Module):
    """pixel_values -> one logits tensor per label level: the graph ONNX sees (the network returns a dict)."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def forward(self, pixel_values):
        return tuple(self.network(pixel_values)["logits"])


def export(network: nn.Module, path: Path, sample: torch.Tensor) -> dict:
    """fp32 ONNX with a dynamic batch axis (TorchScript exporter), checked against PyTorch on `sample`; returns
    the runtime entry of the manifest."""
    onnx, _ = _onnx_modules()
    say("exporting to ONNX")
    outputs = [f"logits_{i}" for i in range(len(network.heads))]
    axes = {"pixel_values": {0: "batch"}, **{name: {0: "batch"} for name in outputs}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_Logits(network).eval(), (sample,), str(path), input_names=["pixel_values"],
                          output_names=outputs, dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    network.eval()  # the exporter restores the wrapper's training flag, recursively
    onnx.checker.check_model(str(path))
    diff = max_difference(network, path, sample)
    if not np.isfinite(diff) or diff > MAX_EXPORT_DIFF:
        raise EcomtuneError(f"the ONNX export gives different logits from PyTorch (max |diff| {diff:.2g}) — report "
                            "this backbone; `--method int8` works without ONNX")
    return {"name": "onnx", "file": f"model/{ONNX}", "opset": OPSET, "weights": "fp32", "input": "pixel_values",
            "outputs": outputs, "export_max_abs_diff": diff}


def max_difference(network: nn.Module, path: Path, pixels: torch.Tensor) -> float:
    _, ort = _onnx_modules()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"pixel_values": pixels.numpy()})
    ref = network(pixels)["logits"]
    return max(float(np.abs(r.float().numpy() - g).max()) for r, g in zip(ref, got))


def calibration_images(paths: list, seed: int, n: int = CALIBRATION_IMAGES) -> list:
    """A seeded random sample of the training images (all of them when there are fewer)."""
    paths = list(paths)
    return random.Random(seed).sample(paths, min(n, len(paths)))


def quantize_static(source: Path, target: Path, pixels: list[torch.Tensor]) -> Path:
    """Static int8 QDQ: per-channel int8 weights, uint8 activations with MinMax ranges over `pixels`. The graph is
    shape-inferred and optimised first (ONNX Runtime's `quant_pre_process`), so the QDQ pairs land on fused
    Conv (+ BN + activation) nodes."""
    import logging

    _onnx_modules()
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType
    from onnxruntime.quantization import quantize_static as ort_quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    batches = [torch.stack(pixels[i:i + CALIBRATION_BATCH]).numpy() for i in range(0, len(pixels),
                                                                                  CALIBRATION_BATCH)]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter({"pixel_values": b} for b in batches)

        def get_next(self):
            return next(self.items, None)

    prepared = target.with_name("model-prepared.onnx")
    logging.disable(logging.WARNING)  # ORT logs advice on every call
    try:
        try:
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=False)
        except Exception:  # noqa: BLE001 - pre-processing only helps; quantize the export as it is
            shutil.copy2(source, prepared)
        ort_quantize_static(str(prepared), str(target), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8)
    finally:
        logging.disable(logging.NOTSET)
        prepared.unlink(missing_ok=True)
        for leftover in target.parent.glob("*.onnx.data"):
            leftover.unlink()
    return target


def _copy_run(source: Path, target: Path) -> None:
    for item in source.iterdir():
        if item.name in SKIP or item.name.endswith(".tmp"):
            continue
        (shutil.copytree if item.is_dir() else shutil.copy2)(item, target / item.name)
    (target / "model").mkdir()
    for name in (BACKBONE, PREPROCESS, LABELS):
        shutil.copy2(source / "model" / name, target / "model" / name)


def _model_card(run_dir: Path) -> None:
    """The image model card (the shared report writer writes a text one)."""
    from ecomtune.tasks.image_classify.train import USAGE

    write_model_card(run_dir, read_manifest(run_dir), usage=USAGE, pipeline_tag="image-classification")


def _updated_manifest(manifest: dict, runtime: dict, method: str, source: Path) -> dict:
    new = {**manifest, "cost": dict(manifest.get("cost", {})), "metrics": dict(manifest.get("metrics", {})),
           "runtime": runtime}
    new["compression"] = {"method": method, "source": source.name, "source_name": manifest.get("name"),
                          "options": {}, "source_created": manifest.get("created")}
    new["name"] = f"{manifest.get('name', source.name)}-{method}"
    new["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())  # a new artifact: `serve` versions by it
    new["source_metrics"] = manifest.get("metrics", {})
    return new


def _result(before: dict, after: dict, manifest: dict, method: str, description: str, source: Path, target: Path,
            data, rows) -> dict:
    """What compress.json holds; the keys are the text compressor's, with `unit: image` (deploy.compress.report)."""
    base = before["torch fp32"]
    size_before, size_after = dir_size_mb(source / "model"), dir_size_mb(target / "model")
    agreement = float((after["predictions"] == base["predictions"]).all(axis=1).mean())

    def row(m: dict, size: float) -> dict:
        return {"metrics": m["metrics"], "images_per_second": m["images_per_second"],
                "latency_ms_p50": m["latency_ms_p50"], "latency_ms_p95": m["latency_ms_p95"],
                "network_images_per_second": m["network_images_per_second"],
                "network_latency_ms_p50": m["network_latency_ms_p50"], "size_mb": round(size, 2)}

    main = "accuracy" if "accuracy" in base["metrics"] else next(iter(base["metrics"]))
    return {
        "method": method, "description": description, "unit": "image", "source": str(source), "rows": base["rows"],
        "data": str(data) if data else "test split", "rows_limit": rows, "batch_size": base["batch_size"],
        "threads": torch.get_num_threads(), "runtime": manifest["runtime"],
        "before": {name: row(m, size_before) for name, m in before.items()},
        "after": row(after, size_after),
        "agreement_with_fp32": round(agreement, 4),
        "quality_metric": main,
        "quality_change_points": round((after["metrics"][main] - base["metrics"][main]) * 100, 2),
        "speedup_vs_fp32": round(after["images_per_second"] / base["images_per_second"], 2),
        "network_speedup_vs_fp32": round(after["network_images_per_second"] / base["network_images_per_second"], 2),
        "size_ratio": round(size_after / size_before, 4) if size_before else None,
    }
