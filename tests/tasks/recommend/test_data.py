"""Interaction readers, the leave-one-out split and the cold-start hold-out."""
import gzip

import numpy as np
import pandas as pd
import pytest

from ecomtune.errors import DataError
from ecomtune.tasks.recommend.data import load_data
from ecomtune.tasks.recommend.recipe import RecommendData


def test_leave_one_out_split(toy_rec):
    data = load_data(RecommendData(interactions=str(toy_rec["sequences"])), need_text=False)
    first = toy_rec["seqs"][0]
    ids = [data.item_ids[i] for i in data.train[0]]
    assert ids == first[:-2]
    assert data.item_ids[data.validation.targets[0]] == first[-2]
    assert data.item_ids[data.test.targets[0]] == first[-1]
    assert [data.item_ids[i] for i in data.test.histories[0]] == first[:-1]
    assert data.n_items == 30 and data.item_ids[0] == "[PAD]"


def test_cold_items_never_appear_in_training_or_histories(toy_rec):
    cfg = RecommendData(interactions=str(toy_rec["sequences"]), items=str(toy_rec["items"]), cold_items=0.1)
    data = load_data(cfg, need_text=True)
    assert len(data.cold) == 3
    for seqs in (data.train, data.validation.histories, data.test.histories):
        assert not np.isin(np.concatenate(seqs), data.cold).any()
    assert np.isin(data.test.targets, data.cold).any()  # cold items stay targets
    mask = data.trainable_mask()
    assert not mask[0] and not mask[data.cold].any() and mask.sum() == 27
    assert data.item_texts[data.item_ids.index("i7")].endswith(" 7")


def test_recbole_and_table_layouts_give_the_same_sequences(tmp_path, toy_rec):
    seqs = toy_rec["seqs"][:20]
    inter = tmp_path / "toy.test.inter.gz"
    with gzip.open(inter, "wt") as fh:
        fh.write("user_id:token\titem_id_list:token_seq\titem_id:token\n")
        fh.writelines(f"u{u}\t{' '.join(s[:-1])}\t{s[-1]}\n" for u, s in enumerate(seqs))
    rows = [{"user": f"u{u}", "item": it, "ts": 100 - j} for u, s in enumerate(seqs) for j, it in enumerate(s)]
    table = tmp_path / "log.csv"
    pd.DataFrame(rows[::-1]).to_csv(table, index=False)  # shuffled order; time decides
    a = load_data(RecommendData(interactions=str(inter)), need_text=False)
    b = load_data(RecommendData(interactions=str(table), user_column="user", item_column="item", time_column="ts"),
                  need_text=False)
    decode = lambda d: {d.user_ids[u]: [d.item_ids[i] for i in s] for u, s in enumerate(d.test.histories)}
    assert decode(a) == {f"u{u}": s[:-1] for u, s in enumerate(seqs)}
    # ts falls along each sequence, so sorting by it reverses the file order: the table's sequences are reversed
    assert decode(b) == {f"u{u}": s[::-1][:-1] for u, s in enumerate(seqs)}


def test_bad_inputs_name_the_file_row_and_column(tmp_path, toy_rec):
    bad = tmp_path / "bad.txt"
    bad.write_text("u1 a b c\nu2\n")
    with pytest.raises(DataError, match="line 2 has a user but no items"):
        load_data(RecommendData(interactions=str(bad)), need_text=False)
    table = tmp_path / "t.csv"
    pd.DataFrame({"user": ["a", "", "b"], "item": ["x", "y", "z"]}).to_csv(table, index=False)
    with pytest.raises(DataError, match="row 3 has an empty `user`"):
        load_data(RecommendData(interactions=str(table), user_column="user", item_column="item"), need_text=False)
    with pytest.raises(DataError, match="no column `usr`"):
        load_data(RecommendData(interactions=str(table), user_column="usr", item_column="item"), need_text=False)
    items = tmp_path / "items.csv"
    pd.DataFrame({"item_id": ["i1"], "title": ["only one"]}).to_csv(items, index=False)
    with pytest.raises(DataError, match="is not in .*items.csv"):
        load_data(RecommendData(interactions=str(toy_rec["sequences"]), items=str(items)), need_text=True)


def movielens_lines(seqs: list[list[str]]) -> list[str]:
    """MovieLens `u.data` rows: user, item, rating, timestamp (TAB-separated, no header, not grouped by user)."""
    rows = [(f"{u}", it.lstrip("i"), str(1 + (u + j) % 5), str(881250949 + 100 * j + u))
            for u, s in enumerate(seqs) for j, it in enumerate(s)]
    rows.sort(key=lambda r: (r[1], r[0]))  # file order is not time order
    return ["\t".join(r) + "\n" for r in rows]


def test_a_tab_separated_table_without_a_suffix_is_never_read_as_sequences(tmp_path, toy_rec):
    seqs = toy_rec["seqs"][:40]
    raw = tmp_path / "u.data"
    raw.write_text("".join(movielens_lines(seqs)))
    with pytest.raises(DataError) as info:
        load_data(RecommendData(interactions=str(raw)), need_text=False)
    assert str(info.value).startswith(f"{raw}: reads as a table without a header (4 TAB-separated columns")
    assert "e.g. `sed -i '1i user_id\\titem_id\\trating\\ttimestamp' u.data`, and set `data.time_column: " \
           "timestamp`; or set `data.format: sequences`" in str(info.value)

    # the fix the error gives: a header line -> read as a table, sorted by time
    raw.write_text("user_id\titem_id\trating\ttimestamp\n" + "".join(movielens_lines(seqs)))
    data = load_data(RecommendData(interactions=str(raw), time_column="timestamp"), need_text=False)
    assert len(data.user_ids) == 40
    decoded = {data.user_ids[u]: ["i" + data.item_ids[i] for i in h] for u, h in enumerate(data.test.histories)}
    assert decoded == {str(u): s[:-1] for u, s in enumerate(seqs)}


def test_nothing_to_train_on_is_a_data_error_before_training(tmp_path, toy_rec):
    raw = tmp_path / "u.data"
    raw.write_text("".join(movielens_lines(toy_rec["seqs"][:40])))
    forced = RecommendData(interactions=str(raw), format="sequences")  # each line read as a user with 3 items
    with pytest.raises(DataError, match=rf"^{raw}: nothing to train on — leave-one-out holds out each user's last "
                                        r"two items, and no user keeps 2\+ training items \(\d+ users, the longest "
                                        r"with 3 interactions\) — check .*`data.format`"):
        load_data(forced, need_text=False)


def test_a_sequences_file_that_is_not_utf8_names_the_line(tmp_path):
    raw = tmp_path / "seqs.txt"
    raw.write_bytes(b"u1 a b c\n" + "u2 caf\xe9 b c\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"seqs.txt: line 2 is not valid UTF-8 .* it reads as CP1252"):
        load_data(RecommendData(interactions=str(raw)), need_text=False)
