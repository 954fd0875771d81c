/* Try it: one form per served model, built from its endpoint; the answer is the API's own, drawn (and shown raw). */
"use strict";
(async function () {
  const { $, el, api, fmt, showAlert } = window.ET;
  let info;
  for (;;) {
    try { info = await api("/ui/api/info"); } catch (e) { $("loading").hidden = true; return showAlert("error", e.message); }
    if (info.status !== "loading") break;
    $("loading").textContent = "The models are still loading…";
    await new Promise((r) => setTimeout(r, 1000));
  }
  $("loading").hidden = true;
  if (info.status === "failed") return showAlert("error", "The models failed to load — see the server's log.");
  if (!info.models.length) return showAlert("error", "No model is served.");

  const FORMS = {
    "/v1/classify": { fields: [["text", "Text", "textarea", "Love this dress, fits perfectly"]], explain: true,
      body: (v, m) => ({ model: m.ref, texts: [v.text] }), show: showLabels },
    "/v1/taxonomy": { fields: [["text", "Product title", "textarea", "Slim fit cotton shirt"]],
      body: (v, m) => ({ model: m.ref, texts: [v.text] }), show: showLabels },
    "/v1/image": { fields: [["image", "Photo", "file", ""]], explain: true,
      body: async (v, m) => ({ model: m.ref, images: [await dataUrl(v.image)] }), show: showLabels },
    "/v1/search": { fields: [["query", "Query", "text", "red dress"], ["k", "Results", "number", "5"]],
      body: (v, m) => ({ model: m.ref, queries: [v.query], k: Number(v.k) || 5 }), show: showSearch },
    "/v1/recommend": { fields: [["history", "History (item ids, oldest first, comma-separated)", "text", ""],
      ["k", "Items", "number", "5"]],
      body: (v, m) => ({ model: m.ref, histories: [v.history.split(",").map((s) => s.trim()).filter(Boolean)], k: Number(v.k) || 5 }),
      show: showRecommend },
    "/v1/generate": { fields: [["input", "Input", "textarea", ""]],
      body: (v, m) => ({ model: m.ref, inputs: [v.input] }), show: (a, out) => out.append(el("p", { class: "generated" }, a.outputs[0].text)) },
    "/v1/qa": { fields: [["product", "Product id", "text", ""], ["question", "Question", "textarea", ""]],
      body: (v, m) => ({ model: m.ref, questions: [{ product: v.product, question: v.question }] }), show: showQA },
  };

  for (const m of info.models) $("models").append(card(m));

  function card(m) {
    const slug = m.ref.replace(/[^A-Za-z0-9_-]/g, "_");
    const box = el("section", { class: "try", "data-model": m.ref, "data-task": m.task, "aria-labelledby": `h-${slug}` });
    box.append(el("h2", { id: `h-${slug}` }, m.name, el("span", { class: "badge" }, m.task)),
      el("p", { class: "muted" }, `${m.ref} · ${m.endpoint}`,
        m.run_id ? el("span", {}, " · ", el("a", { href: `/ui/run?id=${encodeURIComponent(m.run_id)}` }, "run page")) : null));
    if (m.endpoint === "/v1/guide") {
      box.append(el("p", {}, el("a", { href: "/ui/guide" }, "Open the room guide's page")));
      return box;
    }
    const spec = FORMS[m.endpoint];
    if (!spec) { box.append(el("p", { class: "muted" }, `No form for ${m.endpoint} yet — use the API docs.`)); return box; }
    const form = el("form", { "data-endpoint": m.endpoint });
    for (const [name, label, kind, example] of spec.fields) {
      const id = `${slug}-${name}`;
      const input = kind === "textarea" ? el("textarea", { id, name, required: true, rows: 3 }, example)
        : kind === "file" ? el("input", { id, name, type: "file", accept: "image/*", required: true })
        : el("input", { id, name, type: kind, value: example, required: kind !== "number", min: kind === "number" ? 1 : null,
            max: kind === "number" ? 50 : null });
      form.append(el("label", { for: id }, label), input);
    }
    let explain = null;
    if (spec.explain) {
      explain = el("input", { type: "checkbox", id: `${slug}-explain`, name: "explain", checked: true });
      form.append(el("div", { class: "row" }, explain, el("label", { for: `${slug}-explain` }, "Explain the prediction")));
    }
    const submit = el("button", { type: "submit" }, "Predict");
    const out = el("div", { class: "answer", "aria-live": "polite", hidden: true });
    form.append(el("div", { class: "row" }, submit));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const values = {};
      for (const [name] of spec.fields) {
        const input = form.elements[name];
        values[name] = input.type === "file" ? input.files[0] : input.value;
      }
      submit.disabled = true; submit.textContent = "Predicting…";
      out.hidden = false; out.replaceChildren(el("p", { class: "muted" }, "…"));
      try {
        let body = await spec.body(values, m), note = null, answer;
        if (explain && explain.checked) body.explain = true;
        try { answer = await api(m.endpoint, { json: body }); } catch (e) {
          if (!(body.explain && e.status === 422 && JSON.stringify(e.body || {}).includes("explain"))) throw e;
          delete body.explain; // a service without explanations: ask again without
          note = "This service does not return explanations (no `explain` in its API) — showing the prediction alone.";
          answer = await api(m.endpoint, { json: body });
        }
        out.replaceChildren();
        if (note) out.append(el("p", { class: "note" }, note));
        spec.show(answer, out, body);
        out.append(el("details", {}, el("summary", {}, "The API's answer (JSON)"),
          el("pre", { class: "raw" }, JSON.stringify(answer, null, 2))));
      } catch (e) {
        out.replaceChildren(el("p", { class: "alert", role: "alert" }, e.message));
      } finally { submit.disabled = false; submit.textContent = "Predict"; }
    });
    box.append(form, out);
    return box;
  }

  function dataUrl(file) {
    return new Promise((resolve, reject) => {
      const r = new FileReader();
      r.onload = () => resolve(r.result); r.onerror = () => reject(new Error("cannot read the file"));
      r.readAsDataURL(file);
    });
  }

  function bars(probs) {
    const top = Object.entries(probs || {}).sort((a, b) => b[1] - a[1]).slice(0, 6);
    return el("div", { class: "probs" }, top.map(([label, p]) => {
      const fill = el("div", { class: "fill" }); fill.style.width = `${(100 * p).toFixed(1)}%`;
      return el("div", { class: "bar" }, el("span", {}, label), el("div", { class: "track" }, fill),
        el("span", { class: "pct" }, fmt.pct(p)));
    }));
  }

  function showLabels(answer, out) {
    for (const p of answer.predictions) {
      const row = el("div", { class: "prediction", "data-label": p.label ?? JSON.stringify(p.labels),
        "data-score": p.score ?? "" });
      if (p.labels) { // multitask: a label per head
        for (const [head, label] of Object.entries(p.labels))
          row.append(el("p", {}, `${head}: `, el("span", { class: "label" }, label), ` (${fmt.pct(p.scores[head])})`),
            bars(p.probs[head]));
      } else {
        row.append(el("p", {}, el("span", { class: "label" }, p.label), ` — score ${fmt.metric(p.score)}`));
        if (p.path) row.append(el("p", { class: "muted" }, Object.entries(p.level_scores || {})
          .map(([l, s]) => `${l}: ${fmt.pct(s)}`).join(" · ")));
        if (p.probs) row.append(bars(p.probs));
      }
      if (p.explanation) row.append(explanation(p.explanation));
      out.append(row);
    }
  }

  /** Tokens coloured by their score (green: for the label, red: against it), or the image's heatmap. */
  function explanation(x) {
    const box = el("div", { class: "explanation", "data-method": x.method || "" },
      el("p", { class: "muted" }, `Why ${x.target ?? "this label"}: ${x.method || "attribution"}`));
    if (x.heatmap_png) {
      box.append(el("img", { class: "heatmap", alt: `class-activation heatmap for ${x.target}`,
        src: x.heatmap_png.startsWith("data:") ? x.heatmap_png : `data:image/png;base64,${x.heatmap_png}` }));
      return box;
    }
    const tokens = x.tokens || [], scores = x.scores || [];
    const max = Math.max(1e-9, ...scores.map((s) => Math.abs(s) || 0));
    const line = el("p", { class: "tokens" });
    tokens.forEach((t, i) => {
      const s = scores[i] || 0, a = Math.min(1, Math.abs(s) / max);
      let text = String(t);
      const glued = text.startsWith("##");
      text = text.replace(/^##/, "").replace(/^▁/, " ").replace(/^Ġ/, " ");
      if (!glued && i && !text.startsWith(" ")) line.append(" ");
      const span = el("span", { class: "tok", "data-score": s, title: `${t}: ${s.toFixed ? s.toFixed(3) : s}` }, text);
      span.style.backgroundColor = s >= 0 ? `rgba(21, 128, 61, ${0.08 + 0.6 * a})` : `rgba(179, 38, 30, ${0.08 + 0.6 * a})`;
      line.append(span);
    });
    box.append(line, el("p", { class: "muted" }, "green: pushes towards the label · red: against it"));
    return box;
  }

  function showSearch(answer, out) {
    for (const s of answer.searches)
      out.append(el("ol", { class: "hits" }, s.results.map((h) => el("li", { "data-id": h.id }, `${h.text} `,
        el("span", { class: "muted" }, `(${h.id}, ${fmt.metric(h.score)})`)))));
  }
  function showRecommend(answer, out) {
    for (const r of answer.recommendations)
      out.append(el("ol", { class: "hits" }, r.items.map((h) => el("li", { "data-id": h.item }, `${h.text || h.item} `,
        el("span", { class: "muted" }, `(${h.item}, ${fmt.metric(h.score)})`)))));
  }
  function showQA(answer, out) {
    for (const a of answer.answers)
      out.append(el("p", { class: "label" }, a.answer), el("p", { class: "muted" },
        a.supported ? "from the product's answered questions" : "not supported by the product's Q&A"));
  }
})();
