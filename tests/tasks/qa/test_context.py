"""Q&A context: a question's own row (and exact duplicates of it) never in its context, BM25 ranking, `related`,
`format_context`'s budget, the bi-encoder method on a tiny random BERT."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecomtune.tasks.qa.context import (
    ContextItem,
    QAContext,
    answers_text,
    format_context,
    is_related,
)
from ecomtune.tasks.qa.data import load_qa, read_qa


def frame_of(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["product", "question", "answer"])


FRIDGE = frame_of([
    ("A", "where is the reset button?", "behind the kick plate at the bottom"),
    ("A", "how do I reset the ice maker?", "hold the reset button for ten seconds"),
    ("A", "is it energy star rated?", "yes it is"),
    ("A", "what colour is it?", "stainless steel"),
    ("A", "where is the reset button?", "behind the kick plate at the bottom"),  # the same record stored twice
    ("B", "does the reset button work?", "mine never worked"),
])


def test_context_never_holds_the_question_itself_nor_its_duplicate():
    rows = QAContext(k=10).fit(FRIDGE).rows()
    for i, items in enumerate(rows):
        assert i not in [item.row for item in items]
    assert [item.row for item in rows[0]] == [1, 2, 3]  # row 4 is row 0 stored again
    assert [item.row for item in rows[4]] == [1, 2, 3]
    assert rows[5] == []  # product B has no other Q&A


def test_bm25_ranks_the_related_question_first_within_the_product():
    ctx = QAContext(k=2).fit(FRIDGE)
    items = ctx.retrieve("A", "the ice maker needs a reset")
    assert items[0].row == 1 and items[0].score > items[1].score
    assert all(isinstance(item, ContextItem) for item in items) and len(items) == 2
    assert {item.row for item in ctx.retrieve("B", "reset button", k=5)} == {5}  # never another product's rows
    assert ctx.retrieve("Z", "reset") == []


def test_related_uses_the_best_score_and_the_threshold():
    ctx = QAContext(threshold=1.0).fit(FRIDGE)
    best = ctx.retrieve("A", "how to reset the ice maker", k=1)[0].score
    assert best > 1.0 and ctx.related("A", "how to reset the ice maker")
    assert not QAContext(threshold=best + 0.01).fit(FRIDGE).related("A", "how to reset the ice maker")
    assert QAContext().fit(FRIDGE).threshold_ == 4.0  # the BM25 default
    assert not ctx.related("A", "does it come with a warranty")
    assert not ctx.related("Z", "reset")
    assert not ctx.related("B", "does the reset button work?", exclude=5)  # its only row is itself
    assert is_related([ContextItem(0, "q", "a", 0.6)], 0.5) and not is_related([], 0.0)
    with pytest.raises(ValueError, match="`method` must be one of bm25, biencoder, got 'tfidf'"):
        QAContext(method="tfidf").fit(FRIDGE)


def test_format_context_lines_and_budget():
    items = [ContextItem(0, "where is  the\nbutton?", "at the bottom", 5.0), ContextItem(1, "colour?", "white", 1.0)]
    assert format_context(items) == "Q: where is the button? A: at the bottom\nQ: colour? A: white"
    cut = format_context(items, budget=50)
    assert len(cut) <= 50 and cut.endswith("…") and cut.startswith("Q: where is the button? A: at the bottom\n")
    assert format_context(items, budget=10) == "Q: where…"
    assert format_context([]) == ""
    assert answers_text(items, 1) == "at the bottom" and answers_text(items) == "at the bottom | white"


def test_biencoder_method_on_a_tiny_encoder(tiny_pair_encoder):
    from ecomtune.tasks.search.biencoder import BiEncoder

    ctx = QAContext(k=3, method="biencoder", encoder=BiEncoder.from_pretrained(tiny_pair_encoder)).fit(FRIDGE)
    rows = ctx.rows()
    assert {item.row for item in rows[0]} == {1, 2, 3}
    assert all(-1.0001 <= item.score <= 1.0001 for items in rows for item in items)
    assert ctx.threshold_ == 0.5
    same = QAContext(method="biencoder", fields="question", encoder=ctx.encoder).fit(FRIDGE)
    first = same.rows()[1][0]
    assert first.score == pytest.approx(same.retrieve("A", FRIDGE["question"][1], exclude=1)[0].score, abs=1e-5)


def test_rows_of_the_toy_qa_stay_within_the_product(qa_csv):
    frame, _ = read_qa(qa_csv)
    rows = QAContext(k=3).fit(frame).rows()
    for i, items in enumerate(rows):
        assert len(items) == 3
        assert {frame["product"][item.row] for item in items} == {frame["product"][i]}
        assert i not in {item.row for item in items}


@pytest.mark.shared_data
def test_amazon_context_never_holds_the_question_itself(amazon_qa):
    data = load_qa(amazon_qa)
    frame = data.test
    rows = QAContext(k=3).fit(frame).rows()
    own = [(q, a) for q, a in zip(frame["question"], frame["answer"])]
    for i, items in enumerate(rows):
        assert all(item.row != i and (item.question, item.answer) != own[i] for item in items)
        assert all(frame["product"][item.row] == frame["product"][i] for item in items)
    assert np.mean([len(items) for items in rows]) > 2.5
