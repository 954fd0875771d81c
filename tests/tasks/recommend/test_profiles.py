"""Two-tower user tower with profile text (`data.users`): the profile is learned, changes the answer, reaches the
CLI and the service, and bad uses are refused in one line."""
import json
import random

import numpy as np
import pytest
from fastapi.testclient import TestClient

import ecomtune
from ecomtune.errors import EcomtuneError, RecipeError
from ecomtune.recipes import load_recipe
from tests.cli.test_cli import ecomtune as cli
from tests.serve.conftest import wait_ready

from .conftest import N_ITEMS, rec_recipe

# toy_items(): item i is "Men" when i is even, "Women" when odd. Each user buys only one gender's items, and
# says so in the profile; with an empty history the profile is the only signal left.
PROFILES = {"Men": ["Men Nike", "Men Levis 3", "Men"], "Women": ["Women Zara", "Women Puma 7", "Women"]}


@pytest.fixture(scope="module")
def profile_run(tmp_path_factory, tiny_encoder):
    from .conftest import toy_items

    tmp = tmp_path_factory.mktemp("rec-profiles")
    rng = random.Random(0)
    lines, users = [], ["user_id,profile"]
    for u in range(240):
        gender = "Men" if u % 2 else "Women"
        pool = [f"i{i}" for i in range(1, N_ITEMS + 1) if (i % 2 == 0) == (gender == "Men")]
        lines.append(f"u{u} {' '.join(rng.sample(pool, rng.randrange(5, 10)))}\n")
        if u % 10:  # every tenth user has no profile row
            users.append(f"u{u},{rng.choice(PROFILES[gender])}")
    (tmp / "seqs.txt").write_text("".join(lines))
    (tmp / "users.csv").write_text("\n".join(users) + "\n")
    toy_items().to_csv(tmp / "items.csv", index=False)
    toy = {"sequences": tmp / "seqs.txt", "items": tmp / "items.csv", "dir": tmp}
    recipe = rec_recipe(toy, {"type": "two_tower", "text_encoder": tiny_encoder, "hidden": 32},
                        negatives=16, epochs=8, evaluate_every=4)
    recipe["data"]["users"] = str(tmp / "users.csv")
    return ecomtune.train(recipe), recipe


def _men_share(items: list[dict]) -> float:
    return np.mean([int(r["item"][1:]) % 2 == 0 for r in items])


def test_profile_text_is_learned_and_changes_the_answer(profile_run):
    run, _ = profile_run
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["model"]["profile_dim"] == 32 and manifest["metrics"]["test"]["cases"] == 240
    rec = ecomtune.load(run)
    assert rec.uses_profiles
    men = rec.recommend([], k=10, profile="Men Nike")
    women = rec.recommend([], k=10, profile="Women Zara")
    assert _men_share(men) >= 0.8 and _men_share(women) <= 0.2, (men, women)
    assert ecomtune.evaluate(run)["hr@10"] == pytest.approx(manifest["metrics"]["test"]["hr@10"])
    key = rec.history_key(["i1", "i3"], "Men Nike")
    served = np.stack(rec.serve_batch([key, rec.history_key(["i2"])]))  # one user vector per key
    direct = rec.user_vectors([rec.positions(["i1", "i3"]), rec.positions(["i2"])], ["Men Nike", None])
    assert np.allclose(served, direct, atol=1e-5)


def test_profiles_through_the_cli_and_the_service(profile_run):
    run, _ = profile_run
    out = cli("recommend", run, "-u", "i2", "--k", "5", "--profile", "Men Levis 3", "--json")
    assert len(json.loads(out.stdout)) == 5
    app = ecomtune.create_app([run], {"max_items": 4})
    with TestClient(app) as client:
        wait_ready(client)
        body = {"histories": [["i2"], ["i2"]], "profiles": ["Men Nike", "Women Zara"], "k": 10}
        recs = client.post("/v1/recommend", json=body)
        assert recs.status_code == 200, recs.text
        men, women = (r["items"] for r in recs.json()["recommendations"])
        assert men != women  # same history, different profiles
        direct = ecomtune.load(run).recommend(["i2"], k=10, profile="Women Zara")
        assert [r["item"] for r in women] == [r["item"] for r in direct]
        bad = client.post("/v1/recommend", json={"histories": [["i2"]], "profiles": ["a", "b"]})
        assert bad.status_code == 422 and bad.json()["detail"].startswith("profiles: 2 profiles for 1 histories")


def test_profiles_need_a_two_tower_model(profile_run, toy_rec):
    _, recipe = profile_run
    with pytest.raises(RecipeError, match="`data.users` .* use `model.type: two_tower`"):
        load_recipe({**recipe, "model": {"type": "sasrec"}})
    sasrec = ecomtune.train(rec_recipe(toy_rec, {"type": "sasrec"}, epochs=1, evaluate_every=1))
    with pytest.raises(EcomtuneError, match="no profile input"):
        ecomtune.load(sasrec).recommend(["i1"], profile="Men")
