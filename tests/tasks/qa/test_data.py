"""Q&A data: normalised columns, one-line errors naming row and column, `bad_rows: drop`, the grouped split."""
from __future__ import annotations

import pandas as pd
import pytest

from ecomtune.errors import DataError
from ecomtune.tasks.qa.data import describe, load_qa, read_qa, split_products
from tests.tasks.qa.conftest import toy_qa, write_jsonl


def test_read_qa_normalises_columns_and_labels(qa_jsonl):
    frame, dropped = read_qa(qa_jsonl)
    assert list(frame.columns) == ["row", "product", "question", "answer", "kind", "label"]
    assert len(frame) == 120 and dropped["dropped"] == 0 and dropped["problems"] == {}
    assert dropped["pii"]["rows"] == 0 and dropped["pii"]["scanned"] == 120
    yes_no = frame[frame["kind"] == "yes/no"]
    assert set(yes_no["label"]) == {"yes", "no"}
    assert (frame.loc[frame["kind"] == "open", "label"] == "").all()
    assert yes_no["label"].tolist()[:4] == ["yes" if a.startswith("yes") else "no" for a in yes_no["answer"][:4]]


def test_custom_column_names_and_labels(tmp_path):
    frame = toy_qa(3).rename(columns={"asin": "sku", "question": "q", "answer": "a", "questionType": "type",
                                      "answerType": "verdict"})
    frame["verdict"] = frame["verdict"].map({"Y": "Yes", "N": "No", "": ""})
    path = tmp_path / "qa.csv"
    frame.to_csv(path, index=False)
    out, _ = read_qa(path, product_column="sku", question_column="q", answer_column="a", kind_column="type",
                     label_column="verdict", labels={"Yes": "yes", "No": "no", "": ""})
    assert (out["label"] != "").sum() == 12 and out["product"].nunique() == 3
    with pytest.raises(DataError, match=r"row 1 \(line 2\), column `verdict`: yes/no label outside 'Y', 'N'"):
        read_qa(path, product_column="sku", question_column="q", answer_column="a", kind_column="type",
                label_column="verdict")
    only_qa, _ = read_qa(path, product_column="sku", question_column="q", answer_column="a", kind_column=None,
                         label_column=None)
    assert (only_qa["kind"] == "open").all() and (only_qa["label"] == "").all()


@pytest.mark.parametrize(("suffix", "where"), [(".csv", r"row 5 \(line 6\)"), (".jsonl", r"row 5 \(line 5\)")])
def test_empty_cell_names_file_row_and_column(tmp_path, suffix, where):
    frame = toy_qa(3)
    frame.loc[4, "answer"] = "  "
    frame.loc[7, "answer"] = ""
    path = tmp_path / f"qa{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else write_jsonl(frame, path)
    with pytest.raises(DataError) as err:
        read_qa(path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ") and "column `answer`: empty value (2 such rows)" in message
    assert pd.Series([message]).str.contains(where).all()
    assert "bad_rows: drop" in message
    out, dropped = read_qa(path, bad_rows="drop")
    assert len(out) == len(frame) - 2 and dropped["dropped"] == 2
    assert dropped["problems"] == {"empty value in `answer`": 2}
    assert 4 not in set(out["row"]) and 7 not in set(out["row"]) and 5 in set(out["row"])


def test_missing_column_and_bad_option_are_one_line_errors(qa_csv):
    with pytest.raises(DataError, match=r"no column `title` \(set by `question_column`\) — columns are: asin, "):
        read_qa(qa_csv, question_column="title")
    with pytest.raises(DataError, match=r"`bad_rows` must be one of error, drop, got 'skip'"):
        read_qa(qa_csv, bad_rows="skip")


def test_split_is_grouped_by_product_and_seeded(qa_csv):
    data = load_qa(qa_csv, test=0.25, seed=7)
    train, test = set(data.train["product"]), set(data.test["product"])
    assert not train & test
    assert len(test) == 5 and len(train) == 15
    assert len(data.train) + len(data.test) == 120
    again = load_qa(qa_csv, test=0.25, seed=7)
    assert set(again.test["product"]) == test
    assert set(load_qa(qa_csv, test=0.25, seed=8).test["product"]) != test
    assert data.info["train"]["rows"] == len(data.train) and data.info["products"] == 20


def test_describe_counts_labels_and_majority_share(qa_jsonl):
    frame, _ = read_qa(qa_jsonl)
    info = describe(frame)
    assert info["labelled"] == info["yes"] + info["no"] == 80 and info["yes_no"] == 80 and info["open"] == 40
    assert info["majority_share"] == round(max(info["yes"], info["no"]) / 80, 4)


def test_split_refuses_impossible_fractions(qa_csv):
    frame, _ = read_qa(qa_csv)
    with pytest.raises(DataError, match=r"test fraction must be in \[0, 1\), got 1.5"):
        split_products(frame, 1.5)
    with pytest.raises(DataError, match="cannot be split"):
        split_products(frame[frame["product"] == "P000"], 0.5)


@pytest.mark.shared_data
def test_amazon_appliances_counts_and_grouped_split(amazon_qa):
    data = load_qa(amazon_qa)
    info = data.info
    assert (info["rows"], info["products"], info["yes_no"], info["labelled"]) == (9011, 1153, 4693, 2271)
    assert info["majority_share"] == pytest.approx(0.7288, abs=1e-4)
    assert not set(data.train["product"]) & set(data.test["product"])
    assert info["test"]["products"] == round(1153 * 0.2)
