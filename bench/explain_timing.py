"""Time explanations on a real MiniLM sentiment run (docs/explain.md): `python bench/explain_timing.py RUN_DIR`."""
import sys
import time

import numpy as np
import torch

import ecomtune
from ecomtune.data.prepare import prepare_data
from ecomtune.recipes.loader import recipe_of_run
from ecomtune.tasks.text.explain import Neighbours, explain_texts, report_sections

run = sys.argv[1]
torch.set_num_threads(2)
m = ecomtune.load(run, device="cpu")
print("backbone", m.manifest["backbone"]["name"], "runtime", m.runtime.name, "precision", m.precision)
prepared = prepare_data(recipe_of_run(run, m.manifest, need_data=True))
test = prepared.test
rng = np.random.default_rng(0)
idx = rng.choice(len(test), 8, replace=False)
texts = [test.texts[i] for i in idx]
print("mean words", np.mean([len(t.split()) for t in texts]))
m.predict(texts[:2]); explain_texts(m, texts[:1])  # warm up
t = time.perf_counter(); m.predict(texts); pred_s = (time.perf_counter() - t) / len(texts)
res = {}
for method, steps in [("integrated_gradients", 32), ("occlusion", 32), ("integrated_gradients", 256)]:
    t = time.perf_counter(); ex = explain_texts(m, texts, method=method, steps=steps)
    res[(method, steps)] = ex
    print(f"{method} steps={steps}: {(time.perf_counter() - t) / len(texts):.3f} s/text   (predict {pred_s*1000:.1f} ms/text)")
a, b = res[("integrated_gradients", 32)], res[("integrated_gradients", 256)]
diffs = [np.max(np.abs(np.array(x.scores) - np.array(y.scores))) for x, y in zip(a, b)]
same_top = [x.tokens[int(np.argmax(x.scores))] == y.tokens[int(np.argmax(y.scores))] for x, y in zip(a, b)]
occ = res[("occlusion", 32)]
same_top_occ = [x.tokens[int(np.argmax(x.scores))] == y.tokens[int(np.argmax(y.scores))] for x, y in zip(a, occ)]
print(f"IG 32 vs 256 steps: max |score diff| median {np.median(diffs):.3f} max {np.max(diffs):.3f}; same top word {sum(same_top)}/{len(a)}; IG vs occlusion same top word {sum(same_top_occ)}/{len(a)}")
t = time.perf_counter(); nb = Neighbours(m, prepared.train.texts, [r[0] for r in prepared.train.raw_labels]); print(f"nearest: embedding {len(nb.texts)} training rows {time.perf_counter() - t:.1f} s")
t = time.perf_counter(); near = nb.find(texts, k=2); print(f"nearest: query {(time.perf_counter() - t) / len(texts) * 1000:.1f} ms/text")
for text, e, n, p in zip(texts[:4], a[:4], near[:4], m.predict(texts[:4])):
    print("---"); print(text); print(e.target, round(p["score"], 3), "top:", e.top(5))
    print("neg:", sorted(zip(e.scores, e.tokens))[:3]); print("nearest:", n)
t = time.perf_counter(); html, md = report_sections(m, prepared); print(f"report section {time.perf_counter() - t:.1f} s"); print(md)
