"""`ecomtune guide ask` as a user runs it (a real subprocess): the printed bundle, answer.json and answer.html; a
bad photo path and an empty question are one-line errors."""
from __future__ import annotations

import json

from tests.cli.test_cli import ecomtune
from tests.tasks.guide.conftest import COLOURS, collage


def test_guide_ask_prints_and_writes_the_bundle(guide_run, tmp_path):
    photo = tmp_path / "room.jpg"
    photo.write_bytes(collage([COLOURS["white"]] * 3 + [(120, 90, 60)], seed=9))
    out = ecomtune("guide", "ask", guide_run, "--photo", photo, "--text", "卧室，预算800", "--out", tmp_path / "a")
    assert "bedroom" in out.stderr and "answer.html" in out.stderr  # the console is stderr; --json is stdout
    answer = json.loads((tmp_path / "a" / "answer.json").read_text(encoding="utf-8"))
    assert answer["scene"] == "bedroom" and answer["budget"] == 800 and answer["total"] <= 800
    page = (tmp_path / "a" / "answer.html").read_text(encoding="utf-8")
    assert page.count('class="item"') == len(answer["items"]) and "data:image/jpeg;base64," in page

    printed = ecomtune("guide", "ask", guide_run, "--text", "living room", "--budget", "900", "--json",
                       "--out", tmp_path / "b")
    assert json.loads(printed.stdout)["scene"] == "living_room"


def test_guide_ask_errors_are_one_line(guide_run, tmp_path):
    missing = ecomtune("guide", "ask", guide_run, "--photo", tmp_path / "nope.jpg", check=False)
    assert missing.returncode == 2 and "nope.jpg: no such file" in missing.stdout + missing.stderr
    empty = ecomtune("guide", "ask", guide_run, check=False)
    assert empty.returncode == 2 and "nothing to go on" in empty.stdout + empty.stderr
