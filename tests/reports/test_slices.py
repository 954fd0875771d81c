"""Metrics per slice (reports/slices.py): language detection, length buckets, gaps and flags on hand-made
predictions, the recipe key's column check, and a tiny text run whose run directory and report carry the slices."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ecomtune.data.labels import LabelSpace
from ecomtune.errors import RecipeError
from ecomtune.reports.slices import (
    bucket_slices,
    column_slices,
    compute_slices,
    flagged,
    language_of,
    length_slices,
    slices_html,
    slices_markdown,
    text_length,
)
from ecomtune.tasks.classify.metrics import compute, headline
from tests.conftest import classify_recipe, toy_reviews


@pytest.mark.parametrize(("text", "language"), [
    ("这件衣服很好看，物流也快", "zh"),
    ("The dress fits well and the colour is lovely", "en"),
    ("这款iPhone手机壳很好用", "zh"),  # mixed: Han characters carry a word each, so Chinese wins
    ("I love my new 小米 phone, works great", "en"),  # a brand name in Han inside English stays English
    ("Très belle robe, je recommande", "en"),  # Latin script: no dictionary, so French counts as en
    ("このドレスはかわいい", "other"),  # kana: Japanese
    ("Отличное платье", "other"),
    ("12345 !!!", "other"),
])
def test_language_of(text, language):
    assert language_of(text) == language


def test_length_buckets_are_quartiles_with_readable_names():
    labels = bucket_slices(list(range(1, 101)), "words")
    assert sorted(set(labels)) == sorted({"≤ 25 words", "26–50 words", "51–75 words", "> 75 words"})
    assert labels.count("≤ 25 words") == 25 and labels.count("> 75 words") == 25
    assert set(bucket_slices([4] * 10, "words")) == {"≤ 4 words"}  # one length: one bucket, never an empty one
    assert length_slices(["很好", "这件衣服很好看物流也快"] * 5)[1].endswith("characters")  # Chinese: characters
    assert text_length("I love 小米 phones", "words") == 5  # a Han character is a word in a mixed data set
    assert text_length("这件 衣服", "characters") == 4
    assert column_slices(["Dresses", None, float("nan"), " ", "Tops"]) == \
        ["Dresses", "(missing)", "(missing)", "(missing)", "Tops"]


def _hand_made():
    """110 rows: category A (60, all right), B (40, half wrong), C (10, all wrong)."""
    space = LabelSpace.from_rows(["label"], [("neg",), ("pos",)])
    true = np.array([[i % 2] for i in range(110)])
    pred = true.copy()
    pred[60:80] = 1 - pred[60:80]  # B: 20 of 40 wrong
    pred[100:] = 1 - pred[100:]  # C: all wrong
    category = ["A"] * 60 + ["B"] * 40 + ["C"] * 10
    return space, true, pred, category


def test_gaps_flags_and_min_size():
    space, true, pred, category = _hand_made()
    report = compute_slices({"category": category},
                            lambda idx: headline(compute(true[idx], pred[idx], space)), "accuracy",
                            threshold=5.0, min_size=30)
    overall = 80 / 110
    assert report["overall"] == pytest.approx(overall, abs=1e-4)
    rows = {r["slice"]: r for r in report["slicings"]["category"]}
    assert [r["slice"] for r in report["slicings"]["category"]] == ["A", "B", "C"]  # biggest first
    assert rows["A"]["value"] == 1.0 and rows["A"]["gap"] == pytest.approx((1 - overall) * 100, abs=0.06)
    assert rows["B"]["value"] == 0.5 and rows["B"]["gap"] == pytest.approx((0.5 - overall) * 100, abs=0.06)
    assert rows["B"]["flagged"] and not rows["A"]["flagged"]
    assert rows["C"]["value"] == 0.0 and not rows["C"]["flagged"]  # 10 rows < min_size: reported, not flagged
    assert rows["B"]["metrics"]["macro_f1"] == 0.5 and rows["B"]["n"] == 40
    assert [r["slice"] for _, r in flagged(report)] == ["B"]
    # a looser threshold flags nothing; a smaller minimum size flags C too, worst first
    assert not flagged(compute_slices({"category": category}, lambda idx: headline(compute(true[idx], pred[idx],
                                                                                           space)),
                                      "accuracy", threshold=30.0, min_size=30))
    small = compute_slices({"category": category}, lambda idx: headline(compute(true[idx], pred[idx], space)),
                           "accuracy", threshold=5.0, min_size=5)
    assert [r["slice"] for _, r in flagged(small)] == ["C", "B"]
    html, md = slices_html(report), slices_markdown(report)
    assert "<h2>Slices</h2>" in html and "Column category: B — accuracy 0.500" in html and "too small to flag" in html
    assert md.startswith("## Slices") and "| B | 40 | 0.500 |" in md


def test_unknown_slice_column_is_one_line_naming_the_columns(reviews_csv, tiny_encoder, tmp_path):
    import ecomtune

    recipe = classify_recipe(reviews_csv, tiny_encoder, tmp_path)
    recipe["evaluation"]["slices"] = ["category"]
    with pytest.raises(RecipeError) as err:
        ecomtune.check_data(recipe)
    message = str(err.value)
    assert "\n" not in message and "'category'" in message and "review, stars, sku" in message
    assert "evaluation.slices" in message


@pytest.fixture(scope="module")
def sliced_run(tiny_encoder, tmp_path_factory):
    """A tiny classify run with `evaluation.slices: [category]` on mixed zh/en toy reviews."""
    import ecomtune

    tmp = tmp_path_factory.mktemp("sliced-run")
    frame = toy_reviews()
    frame["category"] = ["Dresses" if i % 4 else "Tops" for i in range(len(frame))]
    frame.to_csv(tmp / "reviews.csv", index=False)
    recipe = classify_recipe(tmp / "reviews.csv", tiny_encoder, tmp, epochs=1)
    recipe["evaluation"] = {"baseline": False, "slices": ["category"], "slice_gap": 2.0, "min_slice_size": 5}
    return ecomtune.train(recipe), tmp


def test_run_directory_report_and_evaluate_carry_the_slices(sliced_run):
    from typer.testing import CliRunner

    from ecomtune.cli.main import _register, app

    _register()  # the commands register themselves on import

    run_dir, tmp = sliced_run
    report = json.loads((run_dir / "slices.json").read_text(encoding="utf-8"))
    assert report["metric"] == "macro_f1" and report["threshold"] == 2.0 and report["min_size"] == 5
    assert list(report["slicings"]) == ["length", "language", "category"]
    assert [r["slice"] for r in report["slicings"]["language"]] == ["zh", "en"]
    assert {r["slice"] for r in report["slicings"]["category"]} == {"Dresses", "Tops"}
    assert sum(r["n"] for r in report["slicings"]["category"]) == 60  # the test split: 25% of 240
    for row in report["slicings"]["length"]:
        assert row["gap"] == pytest.approx((row["value"] - report["overall"]) * 100, abs=0.06)
        assert row["flagged"] == (row["n"] >= 5 and row["gap"] < -2.0)
        assert {"accuracy", "macro_f1"} <= set(row["metrics"])
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert "slices.json" in manifest["files"]  # listed and checked like every other result file
    assert "<h2>Slices</h2>" in (run_dir / "report.html").read_text(encoding="utf-8")
    assert "## Slices" in (run_dir / "README.md").read_text(encoding="utf-8")

    # `ecomtune evaluate` on new data gives the same view, next to its --json output
    out = tmp / "eval" / "metrics.json"
    out.parent.mkdir()
    result = CliRunner().invoke(app, ["evaluate", str(run_dir), "--input", str(tmp / "reviews.csv"),
                                      "--json", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "per slice" in result.output and "Column category" in result.output
    again = json.loads((tmp / "eval" / "metrics.slices.json").read_text(encoding="utf-8"))
    assert sum(r["n"] for r in again["slicings"]["category"]) == 240
    assert "slices" not in json.loads(out.read_text(encoding="utf-8"))


def test_search_slices_score_each_query_length_with_rank_metrics():
    from ecomtune.tasks.search.metrics import Judgments
    from ecomtune.tasks.search.recipe import SearchEvaluation
    from ecomtune.tasks.search.slices import search_slices
    from ecomtune.tasks.search.tables import QuerySet

    texts = ["dress"] * 40 + ["long red summer dress with pockets"] * 40 + ["红色连衣裙"] * 10 + ["no judged product"]
    judged = [Judgments(np.array([i]), np.array([1.0])) for i in range(90)] + [Judgments(np.array([0]), np.array([0.0]))]
    rows = np.array([[i, 99] for i in range(40)] + [[99, i] for i in range(40, 80)]  # long queries: 2nd place
                    + [[i, 99] for i in range(80, 90)] + [[0, 99]])
    queries = QuerySet(texts, [j.rows for j in judged], [1.0] * len(texts), lambda i, r: judged[i].gain_of(r),
                       lambda i: judged[i])
    recipe = type("R", (), {"evaluation": SearchEvaluation(ndcg_k=[10], recall_k=[10])})()
    report = search_slices(recipe, queries, rows)
    assert report["metric"] == "ndcg@10"
    assert sum(r["n"] for r in report["slicings"]["length"]) == 90  # the query without a relevant product is out
    language = {r["slice"]: r for r in report["slicings"]["language"]}
    assert language["zh"]["n"] == 10 and language["zh"]["value"] == 1.0 and not language["zh"]["flagged"]
    longest = report["slicings"]["length"][-1]
    assert longest["slice"].startswith(">") or longest["slice"].endswith("words")
    assert longest["metrics"]["mrr"] == 0.5 and longest["flagged"]  # second place: MRR 0.5, NDCG 0.63


def test_recommend_run_writes_slices_by_history_length_and_popularity(tmp_path):
    import ecomtune
    from tests.tasks.recommend.conftest import rec_recipe, toy_items, toy_sequences

    (tmp_path / "seqs.txt").write_text("".join(f"u{u} {' '.join(s)}\n" for u, s in enumerate(toy_sequences())))
    toy_items().to_csv(tmp_path / "items.csv", index=False)
    toy = {"sequences": tmp_path / "seqs.txt", "items": tmp_path / "items.csv", "dir": tmp_path}
    recipe = rec_recipe(toy, {"type": "sasrec"}, epochs=2, evaluate_every=1)
    recipe["evaluation"] = {"ks": [1, 5, 10], "metric": "ndcg@10", "min_slice_size": 10}
    run_dir = ecomtune.train(recipe)
    report = json.loads((run_dir / "slices.json").read_text(encoding="utf-8"))
    assert report["metric"] == "ndcg@10" and report["min_size"] == 10
    assert list(report["slicings"]) == ["history_length", "popularity"]
    assert sum(r["n"] for r in report["slicings"]["history_length"]) == 240
    assert all(r["slice"].endswith(("items", "interactions")) for rs in report["slicings"].values() for r in rs)
    assert "slices.json" in json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))["files"]
    assert "## Slices" in (run_dir / "README.md").read_text(encoding="utf-8")
    again = ecomtune.evaluate(run_dir, device="cpu")["slices"]  # `ecomtune evaluate RUN`: the same view
    assert again["slicings"]["popularity"] == report["slicings"]["popularity"]


def test_image_run_slices_by_a_table_column(tmp_path):
    import pandas as pd

    import ecomtune
    from tests.tasks.image_classify.conftest import (
        image_recipe,
        save_tiny_resnet,
        toy_photos,
    )

    photos = toy_photos(tmp_path / "photos")
    rows = [{"path": f"photos/{d.name}/{f.name}", "label": d.name, "shade": "odd" if i % 2 else "even"}
            for d in sorted(photos.iterdir()) for i, f in enumerate(sorted(d.iterdir()))]
    pd.DataFrame(rows).to_csv(tmp_path / "photos.csv", index=False)
    backbone = save_tiny_resnet(tmp_path / "resnet")
    recipe = image_recipe(tmp_path / "photos.csv", backbone, tmp_path / "run")
    recipe["training"]["epochs"] = 1
    recipe["evaluation"].update(baseline=False, slices=["colour"])
    with pytest.raises(RecipeError, match=r"column 'colour' is not in .*photos.csv — columns present: path, label, "
                                          r"shade"):
        ecomtune.train(recipe)
    with pytest.raises(RecipeError, match="column 'colour'"):  # `ecomtune data check` says it too
        ecomtune.check_data(recipe)
    recipe["evaluation"]["slices"] = ["shade"]
    run_dir = ecomtune.train(recipe)
    report = json.loads((run_dir / "slices.json").read_text(encoding="utf-8"))
    assert list(report["slicings"]) == ["shade"]  # images: no text length, no language
    assert {r["slice"] for r in report["slicings"]["shade"]} == {"odd", "even"}
    assert sum(r["n"] for r in report["slicings"]["shade"]) == json.loads(
        (run_dir / "manifest.json").read_text(encoding="utf-8"))["data"]["rows"]["test"]
    assert "<h2>Slices</h2>" in (run_dir / "report.html").read_text(encoding="utf-8")
    again = ecomtune.evaluate(run_dir, tmp_path / "photos.csv", device="cpu")["slices"]
    assert sum(r["n"] for r in again["slicings"]["shade"]) == len(rows)


def test_generate_run_slices_rouge_by_input_length_and_language(tiny_chat_lm, tmp_path):
    import ecomtune
    from tests.tasks.generate.conftest import generate_recipe

    recipe = generate_recipe(tmp_path, tiny_chat_lm, training={"epochs": 1},
                             evaluation={"baselines": [], "min_slice_size": 3, "slice_gap": 2.0})
    run_dir = ecomtune.train(recipe)
    report = json.loads((run_dir / "slices.json").read_text(encoding="utf-8"))
    assert report["metric"] == "rouge-l" and list(report["slicings"]) == ["length", "language"]
    assert report["min_size"] == 3 and report["threshold"] == 2.0
    assert [r["slice"] for r in report["slicings"]["language"]] == ["zh"] and report["slicings"]["language"][0][
        "n"] == 8
    for row in report["slicings"]["length"]:  # ROUGE-L is in points already: the gap is the difference
        assert row["slice"].endswith("characters")
        assert row["gap"] == pytest.approx(row["value"] - report["overall"], abs=0.06)
    assert "## Slices" in (run_dir / "README.md").read_text(encoding="utf-8")
    assert ecomtune.evaluate(run_dir, device="cpu")["slices"]["slicings"]["language"][0]["n"] == 8


def test_slice_column_values_mask_personal_data(tmp_path):
    import pandas as pd

    from ecomtune.tasks.text.slices import column_values

    path = tmp_path / "rows.csv"
    pd.DataFrame({"seller": ["shop A", "call 13812345678", None], "text": ["a", "b", "c"]}).to_csv(path, index=False)
    masked = column_values(["seller"], [3, 2, 1], [str(path)] * 3)["seller"]
    assert masked[1:] == ["call [PHONE]", "shop A"]  # rows count from 1, in any order
    assert column_slices(masked)[0] == "(missing)"
    assert column_values(["seller"], [2], [str(path)], pii="keep")["seller"] == ["call 13812345678"]
