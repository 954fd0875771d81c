"""Data validation names file, row and column; splits are stratified/grouped and reproducible."""
from __future__ import annotations

import gzip

import pandas as pd
import pytest

from ecomtune.data import prepare_data, read_table, summarize
from ecomtune.errors import DataError
from ecomtune.recipes import load_recipe
from tests.conftest import toy_products, toy_reviews


def recipe(train, **data):
    raw = {"name": "t", "task": "classify",
           "data": {"train": str(train), "text_column": "review", "label_column": "stars", **data},
           "model": {"backbone": "minilm"}}
    return load_recipe(raw)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet", ".csv.gz", ".jsonl.gz"])
def test_reads_every_format(tmp_path, suffix):
    frame = toy_reviews(20)
    path = tmp_path / f"d{suffix}"
    kind = suffix.replace(".gz", "")
    comp = "gzip" if suffix.endswith(".gz") else None
    if kind == ".csv":
        frame.to_csv(path, index=False, compression=comp)
    elif kind == ".tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif kind == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False, compression=comp)
    else:
        frame.to_parquet(path)
    got = read_table(path)
    assert got["review"].tolist() == frame["review"].tolist()
    assert got["stars"].tolist() == [str(s) for s in frame["stars"]]


def test_unsupported_type(tmp_path):
    (tmp_path / "d.xlsx").write_text("x")
    with pytest.raises(DataError, match="unsupported file type '.xlsx'"):
        read_table(tmp_path / "d.xlsx")


@pytest.mark.parametrize("name, line, encoding, command", [
    ("gbk.csv", "很好,5\n".encode("gbk"), "GB18030", "iconv -f GB18030 -t UTF-8 gbk.csv > utf8-gbk.csv"),
    ("latin.csv", "café crème,5\n".encode("latin-1"), "CP1252", "iconv -f CP1252 -t UTF-8 latin.csv"),
    ("quotes.csv", "\u201cnice\u201d dress,5\n".encode("cp1252"), "CP1252", "iconv -f CP1252"),
    ("latin.csv.gz", "naïve,5\n".encode("latin-1"), "CP1252",
     "zcat latin.csv.gz | iconv -f CP1252 -t UTF-8 > utf8-latin.csv"),
])
def test_non_utf8_names_the_line_and_the_encoding_it_reads_as(tmp_path, name, line, encoding, command):
    path = tmp_path / name
    data = b"review,stars\nok,5\n" + line
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    with pytest.raises(DataError) as info:
        read_table(path)
    message = str(info.value)
    assert message.startswith(f"{path}: line 3 is not valid UTF-8") and f"it reads as {encoding} —" in message
    assert command in message


def gzipped_reviews() -> bytes:
    return gzip.compress(toy_reviews(500).to_csv(index=False).encode())


def gzip_truncated(path):
    data = gzipped_reviews()
    path.write_bytes(data[:len(data) // 2])


def gzip_damaged(start: int):
    def write(path):
        data = bytearray(gzipped_reviews())
        data[start:start + 4] = b"\xff" * 4
        path.write_bytes(bytes(data))
    return write


@pytest.mark.parametrize("name, write, expected", [
    ("d.csv.gz", gzip_truncated, "the gzip data ends early (truncated) — download or compress the file again"),
    ("d.csv.gz", gzip_damaged(10), "the gzip data is corrupt (Error -3 while decompressing data: invalid block"),
    ("d.csv.gz", gzip_damaged(100), "the gzip data is corrupt (CRC check failed"),
    ("d.csv.gz", lambda p: p.write_bytes(b"review,stars\nok,5\n"), "the gzip data is corrupt (Not a gzipped file"),
    ("d.csv", lambda p: p.write_bytes(b""), "the file is empty (no columns) — write the column names on the first"),
    ("d.jsonl", lambda p: p.write_bytes(b"\n"), "the file is empty (no columns) — write one JSON object per row"),
    ("d.jsonl", lambda p: p.write_bytes(b'{"review": "ok"}\n{oops\n'), "cannot be parsed as JSONL"),
    ("d.parquet", lambda p: p.write_bytes(b"PAR1 not really"), "cannot be parsed as PARQUET"),
    ("d.csv", lambda p: p.mkdir(), "is a folder — name a file, not a folder"),
])
def test_unreadable_files_are_one_line_errors_naming_the_file(tmp_path, name, write, expected):
    path = tmp_path / name
    write(path)
    with pytest.raises(DataError) as info:
        read_table(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and expected in message and "\n" not in message


def test_missing_column_suggests_the_close_one(reviews_csv):
    r = recipe(reviews_csv)
    r.data.label_column = "star"
    with pytest.raises(DataError, match=r"reviews.csv: missing column 'star' \(did you mean 'stars'\?\)"):
        prepare_data(r)


def test_empty_text_names_file_row_and_column(tmp_path):
    frame = toy_reviews(40)
    frame.loc[6, "review"] = "   "
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError) as info:
        prepare_data(recipe(path))
    msg = str(info.value)
    assert "d.csv" in msg and "row 7, column 'review': empty text" in msg and "`data.bad_rows: drop`" in msg
    prepared = prepare_data(recipe(path, bad_rows="drop"))
    assert sum(len(s) for s in prepared.splits()) == 39
    assert any("empty text" in n for n in prepared.notes)


def test_rare_label_is_an_error_or_dropped(tmp_path):
    frame = toy_reviews(40)
    frame.loc[3, "stars"] = 3
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"'3' \(1\) .* `data.rare_labels: drop`"):
        prepare_data(recipe(path))
    assert prepare_data(recipe(path, rare_labels="drop")).space.labels == [["1", "5"]]


def test_unknown_test_label_names_the_row(tmp_path, reviews_csv):
    test = toy_reviews(20, seed=5)
    test["review"] = test["review"] + " extra"
    test.loc[4, "stars"] = 2
    path = tmp_path / "test.csv"
    test.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"test.csv: row 5, column 'stars': label '2' never occurs in training"):
        prepare_data(recipe(reviews_csv, test=str(path)))


def test_train_test_overlap(tmp_path, reviews_csv):
    test = toy_reviews(30).iloc[:10]  # the same texts as training rows
    path = tmp_path / "test.csv"
    test.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"10 test row\(s\) repeat a training text .* `data.dedupe: true`"):
        prepare_data(recipe(reviews_csv, test=str(path), dedupe=False))
    extra = pd.concat([test, toy_reviews(10, seed=9).assign(review=lambda f: f.review + " new")])
    extra.to_csv(path, index=False)
    prepared = prepare_data(recipe(reviews_csv, test=str(path)))
    assert len(prepared.test) == 10 and any("same text as a training row" in n for n in prepared.notes)


def test_label_map_renames_and_drops(tmp_path):
    frame = toy_reviews(60)
    frame.loc[frame.index % 10 == 1, "stars"] = 3
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    prepared = prepare_data(recipe(path, label_map={"1": "negative", "5": "positive", "3": None}))
    assert prepared.space.labels == [["negative", "positive"]]
    assert sum(len(s) for s in prepared.splits()) == 54


def test_label_map_drop_leaves_one_label_is_an_error(reviews_csv):
    with pytest.raises(DataError, match="has only one label"):
        prepare_data(recipe(reviews_csv, label_map={"1": "negative", "5": None}))


def test_stratified_split_is_reproducible(reviews_csv):
    a = prepare_data(recipe(reviews_csv))
    b = prepare_data(recipe(reviews_csv))
    assert a.sha256 == b.sha256 and a.test.texts == b.test.texts
    share = lambda s: sum(1 for r in s.raw_labels if r == ("5",)) / len(s)
    assert abs(share(a.test) - 0.5) < 0.05 and abs(share(a.train) - 0.5) < 0.05
    c = prepare_data(recipe(reviews_csv, split={"seed": 7}))
    assert c.test.texts != a.test.texts


def test_grouped_split_keeps_groups_apart(reviews_csv):
    prepared = prepare_data(recipe(reviews_csv, split={"group_column": "sku", "test": 0.25}))
    frame = pd.read_csv(reviews_csv)
    sku = dict(zip(frame["review"], frame["sku"]))
    train_groups = {sku[t] for t in prepared.train.texts}
    test_groups = {sku[t] for t in prepared.test.texts}
    assert train_groups and test_groups and not train_groups & test_groups


def test_max_rows_sampling(reviews_csv):
    prepared = prepare_data(recipe(reviews_csv, max_train_rows=50, max_test_rows=20))
    assert len(prepared.train) == 50 and len(prepared.test) == 20
    assert not prepared.notes  # samples of the recipe's own split: nothing the user named was cut


def test_cutting_a_named_test_file_is_a_note(tmp_path):
    toy_reviews(200).to_csv(tmp_path / "train.csv", index=False)
    toy_reviews(60, seed=1).assign(review=lambda f: "new " + f["review"]).to_csv(tmp_path / "test.csv", index=False)
    cut = prepare_data(recipe(tmp_path / "train.csv", test=str(tmp_path / "test.csv"), max_test_rows=25))
    assert len(cut.test) == 25
    assert cut.notes == [(f"{tmp_path / 'test.csv'}: 60 rows, of which a seeded sample of 25 is used "
                          "(`data.max_test_rows`) — set `data.max_test_rows: null` (`--set data.max_test_rows=null`) "
                          "to use the whole file")]
    assert summarize(cut)["notes"] == cut.notes  # printed by `data check` and `train`, stored in the manifest
    whole = prepare_data(recipe(tmp_path / "train.csv", test=str(tmp_path / "test.csv"), max_test_rows=None))
    assert len(whole.test) == 60 and not whole.notes


def test_taxonomy_from_path_column_and_level_columns(products_csv):
    base = {"name": "t", "task": "taxonomy", "model": {"backbone": "minilm"}}
    by_path = prepare_data(load_recipe({**base, "data": {"train": str(products_csv), "text_column": "title",
                                                          "path_column": "path"}}))
    by_cols = prepare_data(load_recipe({**base, "data": {"train": str(products_csv), "text_column": "title",
                                                          "label_columns": ["l1", "l2", "l3"]}}))
    assert by_path.space.sizes == by_cols.space.sizes == [2, 4, 5]
    assert len(by_path.space.paths) == 5
    assert by_path.train.texts == by_cols.train.texts


def test_taxonomy_path_of_wrong_depth(tmp_path):
    frame = toy_products(30)
    frame.loc[2, "path"] = "Apparel > Topwear"
    path = tmp_path / "p.csv"
    frame.to_csv(path, index=False)
    r = load_recipe({"name": "t", "task": "taxonomy", "model": {"backbone": "minilm"},
                     "data": {"train": str(path), "text_column": "title", "path_column": "path"}})
    with pytest.raises(DataError, match=r"row 3, column 'path': path 'Apparel > Topwear' has 2 levels, expected 3"):
        prepare_data(r)


def test_summary(reviews_csv):
    s = summarize(prepare_data(recipe(reviews_csv)))
    assert s["rows"]["train"] + s["rows"]["validation"] + s["rows"]["test"] == 240
    assert set(s["levels"]["stars"]["counts"]) == {"1", "5"}
    assert s["text_chars"]["p50"] > 0 and len(s["sha256"]) == 64
