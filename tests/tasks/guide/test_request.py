"""Request parsing: the hand-written fixture (requests.yaml) row by row and in aggregate, the Chinese numeral
converter, budget distractors (ages, sizes, areas, counts, years), occupants and must-haves the shopper declines."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ecomtune.tasks.guide.pieces import PIECES
from ecomtune.tasks.guide.request import (
    SCENES,
    Request,
    parse_budget,
    parse_request,
    zh_number,
)

ROWS = yaml.safe_load((Path(__file__).parent / "requests.yaml").read_text(encoding="utf-8"))
LISTS = ("must_have", "colours", "styles")


def _misses(row: dict, got: Request) -> list[str]:
    fields = ("scene", "budget", "currency", *LISTS)
    return [f"{name}: got {getattr(got, name)!r}, want {row[name]!r}"
            for name in fields if name in row and getattr(got, name) != row[name]]


def test_fixture_is_varied_and_valid():
    assert len(ROWS) >= 70
    languages = [row["language"] for row in ROWS]
    assert languages.count("zh") >= 30 and languages.count("en") >= 30
    assert {row["scene"] for row in ROWS} == set(SCENES)
    assert sum(row["budget"] is None for row in ROWS) >= 5
    for row in ROWS:
        assert set(row) <= {"text", "language", "scene", "budget", "currency", *LISTS}, row
        assert all(piece in PIECES for piece in row.get("must_have", [])), row


@pytest.mark.parametrize("row", ROWS, ids=[f"{i:02d}" for i in range(len(ROWS))])
def test_request_row(row):
    """Language is exact; a miss on the other fields is reported here (xfail) and counted by the aggregate test."""
    got = parse_request(row["text"])
    assert got.language == row["language"]
    assert got.scene is None or got.scene in SCENES
    misses = _misses(row, got)
    if misses:
        pytest.xfail("; ".join(misses))


def test_fixture_accuracy():
    """Budget ≥ 95% and scene ≥ 90% exact; currency, must-haves, colours and styles ≥ 90% where given."""
    parsed = [(row, parse_request(row["text"])) for row in ROWS]
    report = []
    for name, floor in (("budget", 0.95), ("scene", 0.90), ("currency", 0.90), *((f, 0.90) for f in LISTS)):
        rows = [(row, got) for row, got in parsed if name in row]
        wrong = [f"{row['text']!r}: got {getattr(got, name)!r}, want {row[name]!r}"
                 for row, got in rows if getattr(got, name) != row[name]]
        accuracy = 1 - len(wrong) / len(rows)
        if accuracy < floor:
            report.append(f"{name} {accuracy:.1%} < {floor:.0%} over {len(rows)} rows:\n  " + "\n  ".join(wrong))
    assert not report, "\n".join(report)


@pytest.mark.parametrize("text, value", [
    ("五千", 5000), ("两千", 2000), ("三千五", 3500), ("一万二", 12000), ("两万", 20000), ("1.2万", 12000),
    ("1万5", 15000), ("十五", 15), ("二十", 20), ("两百五", 250), ("一千二百", 1200), ("三千零五", 3005),
    ("一万零五百", 10500), ("三四千", 4000), ("5000", 5000), ("五", 5)])
def test_zh_number(text, value):
    assert zh_number(text) == value


@pytest.mark.parametrize("text", ["", "万", "千万", "abc", "五个"])
def test_zh_number_rejects_non_numbers(text):
    assert zh_number(text) is None


@pytest.mark.parametrize("text, budget, currency", [
    ("预算5000", 5000, None), ("5000元", 5000, "CNY"), ("¥5000", 5000, "CNY"), ("两千块", 2000, "CNY"),
    ("5,000", 5000, None), ("$1.5k", 1500, "USD"), ("3K", 3000, None), ("600 dollars", 600, "USD"),
    ("budget of 2,500", 2500, None), ("不超过3000", 3000, None), ("3000以内", 3000, None),
    ("2000-3000", 3000, None), ("2000到3000", 3000, None), ("$2-3k", 3000, "USD"), ("around 800", 800, None),
    ("800左右", 800, None), ("between 500 and 900 euros", 900, "EUR"), ("SAR 1,200", 1200, "SAR"),
    ("£250", 250, "GBP"), ("预算2w", 20000, None)])
def test_budget_forms(text, budget, currency):
    assert parse_budget(text) == (budget, currency)


@pytest.mark.parametrize("text", [
    "给五岁女儿布置儿童房", "a room for my 5-year-old", "she is 8 years old", "1.8米的床", "160x200 cm bed",
    "a 90 cm desk", "15平米的卧室", "20 m² living room", "12 square metres", "两把椅子", "2 chairs for 4 people",
    "we moved in 2019", "3-6岁的孩子", "一块地毯", "50% off"])
def test_distractors_are_not_budgets(text):
    assert parse_budget(text) == (None, None)


def test_budget_word_beats_a_bare_number_and_currency_beats_both():
    assert parse_budget("预算3000，沙发长度2200") == (3000, None)
    assert parse_budget("sofa 1200, total budget $3000") == (3000, "USD")


@pytest.mark.parametrize("text, scene, occupant", [
    ("给五岁女儿布置儿童房，预算5000", "children_room", "child, 5"),
    ("cosy bedroom for a teenager, under $600", "bedroom", "teenager"),
    ("room for my 16 year old daughter", "bedroom", "teenager, 16"),
    ("8岁儿子的卧室", "children_room", "child, 8"),
    ("need a cot and a changing table for our newborn", "children_room", "baby"),
    ("我和老公的卧室", "bedroom", "couple"),
    ("3 bedroom flat, doing the kitchen first", "kitchen", None),
    ("a new sofa please", None, None),
])
def test_scene_and_occupant(text, scene, occupant):
    got = parse_request(text)
    assert (got.scene, got.occupant) == (scene, occupant)


def test_pieces_the_shopper_has_or_declines_are_not_must_haves():
    assert parse_request("we already have a bed, need a wardrobe and a desk").must_have == ["wardrobe", "desk"]
    assert parse_request("卧室要衣柜和床头柜，不要地毯").must_have == ["wardrobe", "bedside_table"]


def test_styles_and_colours_are_canonical_english():
    got = parse_request("北欧风客厅，浅灰色沙发配原木茶几，粉红抱枕")
    assert got.styles == ["scandinavian"]
    assert got.colours == ["grey", "wood", "pink"]
    assert parse_request("网红蓝牙音箱旁边放绿植").colours == []


def test_non_string_is_a_clear_error():
    with pytest.raises(TypeError, match="text must be a string"):
        parse_request(None)  # type: ignore[arg-type]
