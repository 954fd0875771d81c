/* Comparison: the ticked runs (?runs=a,b) or a compare folder (?folder=id) as a sortable table and a Pareto plot of
   quality against the cost axis chosen (latency, size, train time). */
"use strict";
(async function () {
  const { $, el, api, fmt, isNum, cell, sortable, showAlert, metricName, params, pareto } = window.ET;
  const COSTS = { inference_latency_ms_p50: ["latency p50 (ms)", (v) => `${fmt.num(v)} ms`],
    model_size_mb: ["model size (MB)", fmt.mb], train_seconds: ["train time (s)", fmt.seconds] };
  let rows = [], title = "", recommended = null, best = null, defaultQuality = null;
  try {
    if (params.get("folder")) {
      const c = await api(`/ui/api/compares/${encodeURIComponent(params.get("folder"))}`);
      if (c.error) return showAlert("error", c.error);
      rows = c.rows.map((r) => ({ ...r, key: r.name }));
      recommended = c.recommended; best = c.best; defaultQuality = c.metric;
      title = `compare folder ${c.id}: ${c.recipe || ""} (quality = ${metricName(c.metric)}, cost = ${c.cost})`;
      if (COSTS[c.cost]) $("cost-axis").value = c.cost;
    } else if (params.get("runs")) {
      const ids = params.get("runs").split(",").filter(Boolean);
      const all = await api("/ui/api/runs");
      const byId = Object.fromEntries(all.runs.map((r) => [r.id, r]));
      const missing = ids.filter((i) => !byId[i]);
      if (missing.length) showAlert("error", `Not found: ${missing.join(", ")}`);
      rows = ids.filter((i) => byId[i] && !byId[i].error).map((i) => ({ ...byId[i], key: i }));
      const names = rows.map((r) => r.name);  // runs of one name (copies, compare methods): call them by their id
      rows = rows.map((r) => names.filter((n) => n === r.name).length > 1 ? { ...r, name: r.id } : r);
      const tasks = [...new Set(rows.map((r) => r.task))];
      title = `${rows.length} runs (${tasks.join(", ")})` + (tasks.length > 1 ? " — different tasks: their metrics differ" : "");
      defaultQuality = rows.length ? rows[0].quality : null;
    } else {
      return pick();
    }
  } catch (e) { return showAlert("error", `Cannot load the comparison — ${e.message}`); }

  $("result").hidden = false;
  $("summary").textContent = title;
  const metrics = [...new Set(rows.flatMap((r) => Object.keys(r.metrics || {})))]
    .filter((k) => rows.some((r) => isNum((r.metrics || {})[k])));
  const quality = $("quality");
  for (const m of metrics) quality.append(el("option", { value: m }, metricName(m)));
  if (defaultQuality && metrics.includes(defaultQuality)) quality.value = defaultQuality;
  quality.addEventListener("change", draw);
  $("cost-axis").addEventListener("change", draw);
  draw();

  function draw() {
    const q = quality.value, c = $("cost-axis").value;
    const [costLabel, costFmt] = COSTS[c];
    const points = rows.map((r) => ({ key: r.key, name: r.name, x: (r.cost || {})[c], y: (r.metrics || {})[q],
      href: r.id ? `/ui/run?id=${encodeURIComponent(r.id)}` : null }));
    const { front } = pareto($("pareto"), points, { xLabel: costLabel, yLabel: metricName(q), xFormat: costFmt,
      yFormat: fmt.metric, title: `${metricName(q)} against ${costLabel}` });
    table(q, c, new Set(front));
  }

  function table(q, c, front) {
    const t = $("table");
    const heads = ["Run", "Task", metricName(q), "Latency p50 (ms)", "Size (MB)", "Train time (s)", "Trainable", "Flags"];
    t.tHead.replaceChildren(el("tr", {}, heads.map((h) => el("th", { scope: "col" }, h))));
    t.tBodies[0].replaceChildren(...rows.map((r) => {
      const cost = r.cost || {}, v = (r.metrics || {})[q];
      const flags = [front.has(r.key) && "Pareto", r.name === recommended && "★ recommended", r.name === best && "best",
        r.status && !["trained", "reused", "resumed"].includes(r.status) && r.status].filter(Boolean);
      const name = r.id ? el("a", { href: `/ui/run?id=${encodeURIComponent(r.id)}` }, r.name) : r.name;
      const first = el("td", {}, name); first.dataset.value = r.name;
      return el("tr", { class: front.has(r.key) ? "front" : null, "data-key": r.key }, first, cell(r.task || "—"),
        cell(fmt.metric(v), v, "num"), cell(fmt.num(cost.inference_latency_ms_p50), cost.inference_latency_ms_p50),
        cell(fmt.num(cost.model_size_mb, 2), cost.model_size_mb), cell(fmt.num(cost.train_seconds), cost.train_seconds),
        cell(fmt.count(cost.trainable_params), cost.trainable_params), cell(flags.join(", ")));
    }));
    sortable(t); // the headers were rebuilt: make them sort buttons again
  }

  async function pick() {
    $("pick").hidden = false;
    $("what").textContent = "Pick the runs to compare (two or more), or a compare folder.";
    let all;
    try { all = await api("/ui/api/runs"); } catch (e) { return showAlert("error", `Cannot list the runs — ${e.message}`); }
    for (const r of all.runs.filter((x) => !x.error))
      $("pick-runs").append(el("label", {}, el("input", { type: "checkbox", name: "run", value: r.id }),
        `${r.name} `, el("span", { class: "muted" }, `(${r.task})`)));
    if (all.compares.length) {
      $("pick-compares-wrap").hidden = false;
      for (const c of all.compares)
        $("pick-compares").append(el("li", {}, el("a", { href: `/ui/compare?folder=${encodeURIComponent(c.id)}` }, c.id)));
    }
    $("pick-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const ids = [...document.querySelectorAll("#pick-runs input:checked")].map((i) => encodeURIComponent(i.value));
      if (ids.length) location.href = `/ui/compare?runs=${ids.join(",")}`;
    });
  }
})();
