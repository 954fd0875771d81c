"""`Guide`: a built guide folder, answering `ask(photo, text, history, budget)` with a bundle.

1. the request -> scene, budget, styles, colours, must-haves (`request.parse_request`);
2. the photo -> scene probabilities (`scenes`) and region features; photo and text scenes agree, or the answer
   says which it trusted (the shopper's words win over the photo);
3. the pieces: the scene's usual pieces (share of its rooms that have one >= `answer.min_share`), must-haves first,
   less what the shopper's history shows they own;
4. every product is scored: match to the photo and the request (the trained matcher), fit to the shopper's style
   (profile), colour and style words, and price against the piece's share of the budget;
5. the top candidates of each piece go to the exact bundle solver (`bundle.solve`): one per piece, score + style
   coherence, total within the budget;
6. each item gets its reasons, built from the signals that chose it.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file

from ecomtune.errors import EcomtuneError
from ecomtune.rundir import loading
from ecomtune.tasks.guide.bundle import Candidate, money, solve
from ecomtune.tasks.guide.features import Encoders
from ecomtune.tasks.guide.matching import Matcher
from ecomtune.tasks.guide.pieces import PIECES
from ecomtune.tasks.guide.profile import Profile
from ecomtune.tasks.guide.request import SCENES, Request, parse_request
from ecomtune.tasks.guide.scenes import SceneModel

SCENE_WORDS = {s: s.replace("_", " ").replace("children room", "children's room") for s in SCENES}
TRUST_PHOTO = 0.5  # a photo scene at least this likely is used when the request names none
# US dollars per unit, fixed (late 2026, rounded): a budget written in one currency is compared with a catalogue
# priced in another. SAR and AED are pegged; the others move, so the answer always says the rate it used.
USD_PER = {"USD": 1.0, "SAR": 1 / 3.75, "AED": 1 / 3.6725, "EUR": 1.08, "GBP": 1.27, "CNY": 0.14, "JPY": 0.0067,
           "HKD": 0.128, "INR": 0.012}



@dataclass
class Guide:
    run_dir: Path
    manifest: dict
    recipe: object
    products: pd.DataFrame
    text: np.ndarray  # [n, text dim] unit
    photo: np.ndarray | None  # [n, image dim] projected unit (zero rows: no photo)
    matcher: Matcher
    scene_model: SceneModel | None
    pieces: dict
    encoders: Encoders
    currency: str

    @classmethod
    def load(cls, run_dir: str | Path, device: str = "cpu") -> Guide:
        from ecomtune.recipes.loader import recipe_of_run
        from ecomtune.rundir import open_manifest

        run_dir = Path(run_dir)
        manifest = open_manifest(run_dir)
        with loading(run_dir):
            return cls.open(run_dir, manifest, recipe_of_run(run_dir, manifest))

    @classmethod
    def open(cls, run_dir: Path, manifest: dict, recipe, encoders: Encoders | None = None) -> Guide:
        """The guide in `run_dir` (its manifest read and checked by the caller)."""
        m = recipe.model
        config = json.loads((run_dir / "model" / "matcher.json").read_text(encoding="utf-8"))
        matcher = Matcher(**config)
        matcher.load_state_dict(load_file(run_dir / "model" / "matcher.safetensors"))
        matcher.eval()
        scenes = run_dir / "model" / "scenes.npz"
        text_columns = ("id", "name", "type", "text", "piece", "link", "image")
        products = pd.read_csv(run_dir / "catalogue" / "products.csv", dtype=dict.fromkeys(text_columns, str),
                               keep_default_na=False, na_values={"price": [""]})
        photo = run_dir / "catalogue" / "photo.npy"
        encoders = encoders or Encoders(m.image_backbone, m.text_backbone, m.image_size, m.room_size, m.max_length)
        info = json.loads((run_dir / "catalogue" / "catalogue.json").read_text(encoding="utf-8"))
        return cls(run_dir, manifest, recipe, products, np.load(run_dir / "catalogue" / "text.npy"),
                   np.load(photo) if photo.exists() else None, matcher,
                   SceneModel.load(scenes) if scenes.exists() else None,
                   json.loads((run_dir / "model" / "pieces.json").read_text(encoding="utf-8")), encoders,
                   info.get("currency", ""))

    # ---------------------------------------------------------------- the steps
    @property
    def priced(self) -> bool:
        return bool(self.products["price"].notna().any())

    def _scene(self, request: Request, scene_probs: dict | None, notes: list[str]) -> tuple[str, str]:
        """(scene, where it came from)."""
        photo_scene, p = (max(scene_probs.items(), key=lambda kv: kv[1]) if scene_probs else (None, 0.0))
        said = request.scene
        if said and photo_scene and said != photo_scene:
            notes.append(f"the photo looks like a {SCENE_WORDS[photo_scene]} ({p:.0%}) but the request says "
                         f"{SCENE_WORDS[said]}: used {SCENE_WORDS[said]}, as asked")
            return said, "request (photo disagreed)"
        if said:
            return said, "request and photo agree" if photo_scene == said else "request"
        if photo_scene and p >= TRUST_PHOTO:
            return photo_scene, f"photo ({p:.0%})"
        if photo_scene:
            notes.append(f"the photo is not clearly one room ({SCENE_WORDS[photo_scene]} {p:.0%}): used it anyway —"
                         " name the room in the request to be sure")
            return photo_scene, f"photo ({p:.0%}, unsure)"
        notes.append("no room named and no photo: assumed a living room — say which room (bedroom, 卧室...)")
        return "living_room", "default"

    def _pieces(self, scene: str, request: Request, profile: Profile, max_pieces: int, min_share: float,
                notes: list[str]) -> list[str]:
        available = set(self.products["piece"]) - {""}
        usual = self.pieces.get(scene, {}).get("pieces", {})
        wanted = [p for p in request.must_have if p in available]
        for p in request.must_have:
            if p not in available:
                notes.append(f"the catalogue has no {PIECES[p]['en'].lower()}: left out")
        owned = [p for p in profile.owned if p in usual and p not in wanted]
        if owned:
            notes.append(f"you already have: {', '.join(PIECES[p]['en'].lower() for p in owned)} — not repeated")
        for piece, share in usual.items():
            if len(wanted) >= max_pieces:
                break
            if share >= min_share and piece in available and piece not in wanted and piece not in owned:
                wanted.append(piece)
        return wanted

    def _query_text(self, request: Request, scene: str) -> str:
        """What the text encoder reads: the request itself when English, plus its parsed fields in English (the
        text encoder is English; a Chinese request is understood through its parsed fields)."""
        parts = [*request.styles, *request.colours, SCENE_WORDS[scene],
                 *(PIECES[p]["en"].lower() for p in request.must_have)]
        if request.occupant:
            parts.append(f"for a {request.occupant}")
        english = " ".join(parts)
        return f"{request.text} ({english})" if request.language == "en" and request.text else english

    def _match(self, regions: np.ndarray | None, query: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(combined match score, the photo part or None), each standardised over the catalogue."""
        with torch.no_grad():
            text = self.matcher.scene_text(torch.from_numpy(query)).numpy() @ self.text.T
            visual = None
            if regions is not None and self.photo is not None:
                reg = self.matcher.room_region(torch.from_numpy(regions)).numpy()
                visual = (reg @ self.photo.T).max(0)
        z = lambda x: (x - x.mean()) / (x.std() + 1e-9)
        if visual is None:
            return z(text), None
        return z(z(text) + z(visual)), z(visual)

    # ---------------------------------------------------------------- the answer
    def ask(self, photo=None, text: str | None = None, history: list[str] | None = None, budget: float | None = None,
            max_pieces: int | None = None, must_have: list[str] | None = None) -> dict:
        """One bundle. `photo`: a path, bytes or PIL image of the room; `text`: the request (Chinese or English);
        `history`: product ids the shopper bought or viewed; `budget` overrides the one in the text."""
        start = time.perf_counter()
        a = self.recipe.answer
        if photo is None and not (text or "").strip():
            raise EcomtuneError("nothing to go on — send a room photo, a request (e.g. \"cosy bedroom under 600\"), "
                                "or both")
        request = parse_request(text or "")
        if must_have:
            unknown = [p for p in must_have if p not in PIECES]
            if unknown:
                raise EcomtuneError(f"must_have: unknown piece {unknown[0]!r} — pieces are {', '.join(PIECES)}")
            request.must_have = list(dict.fromkeys([*must_have, *request.must_have]))
        notes: list[str] = []
        regions, scene_probs = None, None
        if photo is not None and self.encoders.image is not None:
            regions, pooled = self.encoders.room(photo)
            if self.scene_model is not None:
                probs = self.scene_model.proba(pooled)[0]
                scene_probs = {s: float(p) for s, p in zip(self.scene_model.labels, probs)}
        elif photo is not None:
            notes.append("this guide has no image model (text-only catalogue): the photo was not used")
        scene, scene_from = self._scene(request, scene_probs, notes)
        if budget is None and request.budget is not None:
            budget = request.budget
            said, ours = request.currency, (self.currency or "").upper()
            if said and ours and said != ours and said in USD_PER and ours in USD_PER:
                budget = round(request.budget * USD_PER[said] / USD_PER[ours], 2)
                notes.append(f"your {money(request.budget)} {said} is about {money(budget)} {ours} (fixed rate "
                             f"{USD_PER[said] / USD_PER[ours]:.4g})")
            elif ours and not said:
                notes.append(f"budget read as {money(budget)} {ours}, the catalogue's currency (no currency written)")
        if budget is not None and not self.priced:
            notes.append("the catalogue has no prices: the budget could not be applied")
        profile = Profile.build(history or [], {pid: i for i, pid in enumerate(self.products["id"])}, self.text,
                                list(self.products["piece"].replace("", None)))
        if profile.unknown:
            notes.append(f"history: {len(profile.unknown)} id(s) not in the catalogue were ignored")
        pieces = self._pieces(scene, request, profile, max_pieces or a.max_pieces, a.min_share, notes)
        if not pieces:
            raise EcomtuneError(f"no piece of a {SCENE_WORDS[scene]} is in this catalogue — ask for another room, "
                                "or build the guide from a catalogue that sells them")
        query_text = self._query_text(request, scene)
        query = self.encoders.texts([query_text])[0]
        match, visual = self._match(regions, query)
        unary = match.copy()
        style = profile.style @ self.text.T if profile.style is not None else None
        if style is not None:
            unary += 0.5 * (style - style.mean()) / (style.std() + 1e-9)
        names = self.products["text"].str.lower()  # name, type, colour, description, URL words
        words = [w for w in [*request.colours, *request.styles] if len(w) > 2]
        word_hits = [names.str.contains(re.escape(w)).to_numpy() for w in words]
        for hits in word_hits:
            unary += 0.5 * hits
        usual = self.pieces.get(scene, {}).get("pieces", {})
        rooms_n = self.pieces.get(scene, {}).get("rooms", 0)
        prices = self.products["price"].to_numpy(float)
        use_budget = budget if (budget is not None and self.priced) else None
        weights = {p: max(usual.get(p, 0.0), 0.3) for p in pieces}
        candidates: dict[str, list[Candidate]] = {}
        for piece in pieces:
            rows = np.flatnonzero(self.products["piece"].to_numpy() == piece)
            score = unary[rows].copy()
            if use_budget is not None:
                fair = use_budget * weights[piece] / sum(weights.values())
                over = np.nan_to_num(prices[rows] / fair - 1.0, nan=0.0)
                score -= 0.5 * np.clip(over, 0, None)
                rows, score = rows[np.isfinite(prices[rows])], score[np.isfinite(prices[rows])]
                cheapest = rows[np.argsort(prices[rows], kind="stable")[:1]]
                keep = prices[rows] <= use_budget
                rows, score = rows[keep], score[keep]
                if not len(rows) and piece in request.must_have:  # the solver names the budget it would need
                    rows, score = cheapest, unary[cheapest]
            top = np.argsort(-score, kind="stable")[:a.candidates]
            vec = self.photo if self.photo is not None else self.text
            weight = 2.0 if piece in request.must_have else 0.5 + usual.get(piece, 0.3)  # how much a room needs it
            candidates[piece] = [
                Candidate(self.products["id"].iat[r], piece, float(weight * (1.0 + 0.3 * s)),
                          None if np.isnan(prices[r]) else float(prices[r]), vec[r] if vec[r].any() else None,
                          {"row": int(r)}) for r, s in zip(rows[top], score[top])]
        required = [p for p in request.must_have if p in candidates]
        bundle = solve(candidates, budget=use_budget, required=required, coherence=a.coherence)
        items = []
        for c in bundle.items:
            r = c.info["row"]
            reasons = []
            share = usual.get(c.piece)
            if share and rooms_n:
                reasons.append(f"in {round(share * rooms_n)} of {rooms_n} {SCENE_WORDS[scene]}s like yours")
            if c.piece in request.must_have:
                reasons.append("you asked for one")
            if visual is not None and visual[r] > 1.0:
                reasons.append(f"looks like it belongs in your photo (top {max(1, round(100 * (visual > visual[r]).mean()))}%)")
            elif match[r] > 1.0:
                reasons.append(f"close to your request (top {max(1, round(100 * (match > match[r]).mean()))}%)")
            hits = [w for w, h in zip(words, word_hits) if h[r]]
            if hits:
                reasons.append(f"matches {', '.join(repr(w) for w in hits)}")
            if style is not None and style[r] > np.quantile(style, 0.9):
                reasons.append("in the style of what you bought before")
            if c.price is not None and use_budget is not None:
                reasons.append(f"{money(c.price)} of your {money(use_budget)}")
            row = self.products.iloc[r]
            items.append({"piece": c.piece, "piece_name": PIECES[c.piece]["en"], "piece_zh": PIECES[c.piece]["zh"],
                          "id": c.id, "name": row["name"], "type": row["type"], "price": c.price,
                          "image": row["image"] or None, "link": row["link"] or None, "score": round(c.score, 4),
                          "reasons": reasons})
        if use_budget is not None and bundle.total_price is not None:
            notes.append(f"total {money(bundle.total_price)} leaves {money(use_budget - bundle.total_price)} of "
                         f"your {money(use_budget)} {self.currency}".rstrip())
        notes += bundle.notes
        return {"request": {"text": text, "language": request.language, "scene": request.scene,
                            "budget": request.budget, "currency": request.currency, "styles": request.styles,
                            "colours": request.colours, "must_have": request.must_have, "occupant": request.occupant},
                "scene": scene, "scene_from": scene_from,
                "photo_scenes": dict(sorted(scene_probs.items(), key=lambda kv: -kv[1])[:3]) if scene_probs else None,
                "budget": use_budget, "currency": self.currency, "pieces": pieces, "items": items,
                "total": bundle.total_price, "left": None if use_budget is None or bundle.total_price is None
                else round(use_budget - bundle.total_price, 2),
                "within_budget": use_budget is None or (bundle.total_price or 0) <= use_budget + 1e-9,
                "coherence": round(bundle.coherence_score(), 4), "optimal": bundle.optimal,
                "missing": bundle.missing, "owned": profile.owned, "notes": notes,
                "seconds": round(time.perf_counter() - start, 4)}

    def photo_path(self, product_id: str) -> Path | None:
        """The product's photo file, or None."""
        hit = self.products.index[self.products["id"] == product_id]
        if not len(hit) or not self.products.at[hit[0], "image"]:
            return None
        path = (self.run_dir / "catalogue" / self.products.at[hit[0], "image"]).resolve()
        return path if path.is_file() else None

    # ---------------------------------------------------------------- the predictor protocol
    def predict(self, inputs: list) -> list[dict]:
        """Requests (texts, or dicts with `text`, `photo`, `history`, `budget`) -> one answer each."""
        return [self.ask(**item) if isinstance(item, dict) else self.ask(text=str(item)) for item in inputs]

    def serve_batch(self, items: list) -> list[dict]:
        return self.predict(items)

    def warmup(self, bucket_size: int = 8) -> None:
        self.encoders.texts(["warm up"])
        if self.encoders.image is not None:
            from PIL import Image

            self.encoders.room(Image.new("RGB", (64, 48), (200, 200, 200)))

    def evaluate(self, data=None) -> dict:
        """The matching metrics on the recipe's held-out rooms, recomputed from the data (rebuilds features)."""
        from ecomtune.tasks.guide.evaluate import evaluation_of

        return evaluation_of(self, data)
