"""`task: guide` — the home-furnishing shopping guide: a room photo and/or a request -> a ranked, coherent bundle
within budget, with a reason per item.

Modules: `request` (parse a Chinese or English request: scene, budget, style, colour, must-haves), `pieces` (the
furnishing pieces and the keyword rules that map a catalogue's product types onto them), `bundle` (the exact
branch-and-bound bundle solver).
"""
