"""POST /v1/guide through the app: JSON with a base64 photo, a multipart upload, and the 4xx answers that name
what was wrong; the product photos the answer links to are served."""
from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from ecomtune.deploy.serve import create_app
from tests.serve.conftest import wait_ready
from tests.tasks.guide.conftest import COLOURS, collage

PHOTO = collage([COLOURS["blue"]] * 3 + [(120, 90, 60)], seed=3)


@pytest.fixture(scope="module")
def client(guide_run):
    with TestClient(create_app([guide_run], {"device": "cpu"})) as c:
        wait_ready(c)
        yield c


def test_json_with_a_base64_photo(client):
    r = client.post("/v1/guide", json={"text": "bedroom under 700", "photo": base64.b64encode(PHOTO).decode()})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["task"] == "guide" and body["scene"] == "bedroom" and body["total"] <= 700
    assert body["photo_scenes"] and all(i["reasons"] for i in body["items"])
    photo = client.get(body["items"][0]["image"])
    assert photo.status_code == 200 and photo.content[:2] == b"\xff\xd8"


def test_multipart_upload_with_history(client, guide_run):
    r = client.post("/v1/guide", files={"photo": ("room.jpg", PHOTO, "image/jpeg")},
                    data={"text": "客厅", "budget": "900", "history": "nope,000.0"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["scene"] == "living_room" and body["budget"] == 900
    assert any("not in the catalogue" in n for n in body["notes"])


@pytest.mark.parametrize("kwargs, status, words", [
    ({"json": {}}, 422, "nothing to go on"),
    ({"json": {"photo": "%%%"}}, 422, "not valid base64"),
    ({"json": {"photo": base64.b64encode(b"not an image").decode()}}, 422, "not an image"),
    ({"json": {"text": "bedroom", "budget": -1}}, 422, "budget"),
    ({"json": {"text": "bedroom", "colour": "red"}}, 422, "colour"),
    ({"json": {"text": "bedroom", "must_have": ["spaceship"]}}, 422, "unknown piece"),
    ({"content": b"text=bedroom", "headers": {"content-type": "text/plain"}}, 415, "content type"),
])
def test_bad_requests_are_4xx_naming_the_problem(client, kwargs, status, words):
    r = client.post("/v1/guide", **kwargs)
    assert r.status_code == status, r.text
    assert words in r.text


def test_the_page_opens_without_the_key_and_the_api_needs_it(guide_run):
    with TestClient(create_app([guide_run], {"device": "cpu", "api_key": "k"})) as c:
        page = c.get("/guide")
        assert page.status_code == 200 and "/v1/guide" in page.text
        assert c.post("/v1/guide", json={"text": "bedroom"}).status_code == 401
