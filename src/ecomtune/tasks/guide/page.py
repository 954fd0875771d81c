"""An answer as one self-contained HTML page: the scene, the budget, and a card per item with its photo (embedded),
price and reasons — what `ecomtune guide ask` writes next to the JSON."""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from ecomtune.tasks.guide.bundle import money


def _thumbnail(path: Path | None, side: int = 220) -> str:
    if path is None:
        return ""
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")
        img.thumbnail((side, side))
        out = io.BytesIO()
        img.save(out, format="JPEG", quality=85)
    return f'<img src="data:image/jpeg;base64,{base64.b64encode(out.getvalue()).decode()}" alt="">'


def render(answer: dict, photo_of, room_photo: bytes | None = None) -> str:
    """`photo_of(product_id) -> Path | None`; `room_photo`: the shopper's photo, shown at the top."""
    e, cur = html.escape, html.escape(answer.get("currency") or "")
    cards = []
    for item in answer["items"]:
        reasons = "".join(f"<li>{e(r)}</li>" for r in item["reasons"])
        price = f'<div class="price">{money(item["price"])} {cur}</div>' if item["price"] is not None else ""
        name = e(item["name"])
        if item.get("link"):
            name = f'<a href="{e(item["link"])}">{name}</a>'
        cards.append(f'<div class="item"><div class="photo">{_thumbnail(photo_of(item["id"]))}</div>'
                     f'<div class="piece">{e(item["piece_name"])} · {e(item["piece_zh"])}</div>'
                     f'<div class="name">{name}</div><div class="type">{e(item["type"])}</div>{price}'
                     f'<ul class="reasons">{reasons}</ul></div>')
    room = ""
    if room_photo:
        room = f'<img class="room" src="data:image/jpeg;base64,{base64.b64encode(room_photo).decode()}" alt="">'
    totals = ""
    if answer.get("budget") is not None:
        totals = (f"<p>budget {money(answer['budget'])} {cur} · total {money(answer['total'])} · left "
                 f"{money(answer['left'])}</p>")
    elif answer.get("total") is not None:
        totals = f"<p>total {money(answer['total'])} {cur}</p>"
    notes = "".join(f"<li>{e(n)}</li>" for n in answer["notes"])
    request = e(answer["request"].get("text") or "")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>ecomtune guide</title><style>
body{{font-family:system-ui,sans-serif;margin:2rem;color:#222}} .room{{max-width:420px;border-radius:8px}}
.grid{{display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:1rem}}
.item{{border:1px solid #ddd;border-radius:8px;padding:.8rem}} .photo img{{width:100%;border-radius:4px}}
.piece{{color:#777;font-size:.85rem}} .name{{font-weight:600}} .price{{font-size:1.1rem;margin:.3rem 0}}
.reasons{{padding-left:1.1rem;font-size:.85rem;color:#444}} .notes{{color:#555;font-size:.9rem}}
</style></head><body><h1>{e(answer['scene'].replace('_', ' '))}</h1>{room}
<p>{request}</p><p>scene from: {e(answer['scene_from'])}</p>{totals}
<div class="grid">{''.join(cards)}</div><ul class="notes">{notes}</ul></body></html>"""


def write(folder: Path, answer: dict, photo_of, room_photo: bytes | None = None) -> tuple[Path, Path]:
    import json

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "answer.json").write_text(json.dumps(answer, indent=1, ensure_ascii=False), encoding="utf-8")
    (folder / "answer.html").write_text(render(answer, photo_of, room_photo), encoding="utf-8")
    return folder / "answer.json", folder / "answer.html"
