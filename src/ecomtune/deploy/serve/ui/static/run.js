/* One run: headline metrics, metrics per split (and the baseline), per-class scores, slices, cost, plots, card. */
"use strict";
(async function () {
  const { $, el, api, fmt, isNum, cell, sortable, showAlert, keyedImage, keyedLink, metricName, params } = window.ET;
  const id = params.get("id");
  if (!id) { $("loading").hidden = true; return showAlert("error", "No run named — open one from the runs list."); }
  let run;
  try { run = await api(`/ui/api/runs/${encodeURIComponent(id)}`); } catch (e) {
    $("loading").hidden = true;
    return showAlert("error", `Cannot read run ${id} — ${e.message}`);
  }
  $("loading").hidden = true;
  document.title = `${run.name} · ecomtune console`;
  $("run-name").textContent = run.name;
  if (run.error) return showAlert("error", run.error);
  $("run-meta").textContent = [run.task, run.backbone && `from ${run.backbone}`, run.language,
    run.served && `served as ${run.served}`, run.created && `created ${run.created.replace("T", " ")}`, run.dir]
    .filter(Boolean).join(" · ");
  $("run").hidden = false;
  const file = (name) => `/ui/api/runs/${encodeURIComponent(id)}/files/${name.split("/").map(encodeURIComponent).join("/")}`;

  for (const h of run.headline)
    $("headline").append(el("div", { class: "metric-card" }, el("div", { class: "v" }, fmt.metric(h.value)),
      el("div", { class: "n" }, h.name)));

  // metrics: one column per split, plus the baseline's test figures
  const splits = Object.entries(run.splits).map(([name, m]) => [name, flat(m)]);
  if (Object.keys(run.baseline || {}).length) splits.push(["baseline (test)", run.baseline]);
  const keys = [...new Set(splits.flatMap(([, m]) => Object.keys(m)))];
  const table = $("metrics");
  table.append(el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Metric"),
    splits.map(([n]) => el("th", { scope: "col", class: "num" }, n)))),
  el("tbody", {}, keys.map((k) => el("tr", {}, el("th", { scope: "row" }, metricName(k)),
    splits.map(([, m]) => cell(fmt.metric(m[k]), m[k], "num"))))));

  const perClass = (run.splits.test || {}).per_class;
  if (perClass && typeof perClass === "object") {
    $("per-class-wrap").hidden = false;
    const t = $("per-class");
    t.append(el("thead", {}, el("tr", {}, ["Label", "Precision", "Recall", "F1", "Support"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, Object.entries(perClass).map(([label, s]) => el("tr", {}, cell(label),
        cell(fmt.metric(s.precision), s.precision), cell(fmt.metric(s.recall), s.recall), cell(fmt.metric(s.f1), s.f1),
        cell(fmt.num(s.support, 0), s.support)))));
    sortable(t);
  }

  if (run.slices) slices(run.slices);

  const cost = run.cost_all || {};
  const shown = [["Train time", fmt.seconds(cost.train_seconds)], ["Train throughput", cost.train_samples_per_second && `${fmt.num(cost.train_samples_per_second)} samples/s`],
    ["Peak memory", fmt.mb(cost.peak_memory_mb)], ["Model size", fmt.mb(cost.model_size_mb)],
    ["Trainable / total parameters", `${fmt.count(cost.trainable_params)} / ${fmt.count(cost.total_params)}`],
    ["Latency p50 / p95", isNum(cost.inference_latency_ms_p50) ? `${fmt.num(cost.inference_latency_ms_p50)} / ${fmt.num(cost.inference_latency_ms_p95)} ms` : null],
    ["Inference throughput", cost.inference_samples_per_second && `${fmt.num(cost.inference_samples_per_second, 0)} samples/s`],
    ["Device, precision", [cost.device, cost.precision].filter(Boolean).join(", ")], ["Steps", cost.steps]];
  for (const [k, v] of shown) if (v !== null && v !== undefined && v !== "" && v !== "—")
    $("cost").append(el("dt", {}, k), el("dd", {}, String(v)));

  if (run.plots.length) {
    $("plots-section").hidden = false;
    for (const p of run.plots) {
      const caption = p.replace(/^plots\//, "").replace(/\.\w+$/, "").replace(/_/g, " ");
      $("plots").append(el("figure", {}, keyedImage(file(p), caption), el("figcaption", {}, caption)));
    }
  }
  if (run.card_html) {
    $("card-section").hidden = false;
    // markdown-it rendered it server-side with raw HTML escaped, so it is markup we produced, not the run's HTML
    const card = new DOMParser().parseFromString(run.card_html, "text/html").body;
    for (const img of card.querySelectorAll("img")) {
      const src = img.getAttribute("src") || "";
      if (!/^[a-z]+:|^\//i.test(src)) img.replaceWith(keyedImage(file(src.replace(/^\.\//, "")), img.alt));
    }
    $("card").replaceChildren(...card.childNodes);
  }
  for (const f of run.files) $("files").append(el("li", {}, keyedLink(file(f), f)));
  if (run.recipe) { $("recipe-box").hidden = false; $("recipe").textContent = run.recipe; }

  function flat(m) {
    const out = {};
    for (const [k, v] of Object.entries(m || {})) if (isNum(v) && !/^(rows|cases|queries)/.test(k)) out[k] = v;
    for (const [level, lm] of Object.entries((m || {}).levels || {}))
      for (const k of ["accuracy", "macro_f1"]) if (isNum((lm || {})[k])) out[`${level}_${k}`] = lm[k];
    return out;
  }

  function slices(s) {
    $("slices-section").hidden = false;
    if (s.error) return ($("slices-note").textContent = s.error);
    const metric = metricName(s.metric || "metric");
    $("slices-note").textContent = `${metric} per slice against the overall ${fmt.metric(s.overall)}; flagged: more ` +
      `than ${s.threshold ?? "?"} points below it (slices of at least ${s.min_size ?? "?"} rows).`;
    for (const [name, rows] of Object.entries(s.slicings || {})) {
      if (!Array.isArray(rows)) continue;
      const t = el("table", { class: "data sortable slices", "data-slicing": name },
        el("caption", { class: "sr-only" }, `${metric} by ${name}`),
        el("thead", {}, el("tr", {}, ["Slice", "Rows", metric, "Gap (points)", "Flag"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, rows.map((r) => el("tr", { class: r.flagged ? "flagged" : null },
          cell(String(r.slice)), cell(fmt.num(r.n, 0), r.n), cell(fmt.metric(r.value), r.value),
          cell(isNum(r.gap) ? r.gap.toFixed(1) : "—", r.gap),
          cell(r.flagged ? "below" : "", r.flagged ? 1 : 0, r.flagged ? "flag" : null)))));
      $("slices").append(el("h3", {}, `By ${name}`), el("div", { class: "table-wrap" }, t));
      sortable(t);
    }
    for (const f of document.querySelectorAll("#slices td.flag")) f.replaceChildren(el("span", { class: "badge bad" }, "below"));
  }
})();
