/* Runs list: one row per run (task, model, headline quality, cost), ticks to compare, the compare folders. */
"use strict";
(async function () {
  const { $, el, api, fmt, cell, sortable, showAlert, metricName } = window.ET;
  let data;
  try { data = await api("/ui/api/runs"); } catch (e) {
    $("loading").hidden = true;
    return showAlert("error", `Cannot list the runs — ${e.message}`);
  }
  $("loading").hidden = true;
  const table = $("runs"), body = table.tBodies[0];
  if (!data.runs.length) {
    $("loading").hidden = false;
    $("loading").textContent = "No run directory found. Train one (`ecomtune train RECIPE`) or point the console at " +
      "the folder that holds them.";
  }
  const button = $("compare-ticked");
  const ticked = () => [...body.querySelectorAll("input[type=checkbox]:checked")].map((c) => c.value);
  const update = () => {
    const n = ticked().length;
    button.disabled = n < 2;
    $("ticked-count").textContent = n ? `${n} ticked` : "";
  };
  for (const r of data.runs) {
    const link = el("a", { href: `/ui/run?id=${encodeURIComponent(r.id)}` }, r.name || r.id);
    const name = el("td", {}, link, r.served ? el("span", { class: "badge good", title: `served as ${r.served}` }, "served") : null);
    name.dataset.value = r.name || r.id;
    if (r.error) {
      body.append(el("tr", { "data-id": r.id }, el("td"), name, el("td", { class: "err-cell", colspan: 7 }, r.error)));
      continue;
    }
    const q = r.quality, qv = q ? r.metrics[q] : null;
    const box = el("input", { type: "checkbox", value: r.id, id: `tick-${r.id}`, onchange: update });
    const c = r.cost || {};
    body.append(el("tr", { "data-id": r.id },
      el("td", {}, box, el("label", { for: `tick-${r.id}`, class: "sr-only" }, `compare ${r.name}`)),
      name, cell(r.task), cell(r.backbone || "—", r.backbone || ""),
      cell(q ? `${fmt.metric(qv)} ${metricName(q)}` : "—", qv, "num"),
      cell(fmt.num(c.inference_latency_ms_p50, 1), c.inference_latency_ms_p50),
      cell(fmt.mb(c.model_size_mb), c.model_size_mb), cell(fmt.seconds(c.train_seconds), c.train_seconds),
      cell((r.created || "").replace("T", " ").replace("Z", ""), r.created || "")));
  }
  table.hidden = !data.runs.length;
  sortable(table);
  button.addEventListener("click", () => {
    location.href = `/ui/compare?runs=${ticked().map(encodeURIComponent).join(",")}`;
  });
  update();
  if (data.compares.length) {
    $("compares").hidden = false;
    for (const c of data.compares)
      $("compare-list").append(el("li", {}, el("a", { href: `/ui/compare?folder=${encodeURIComponent(c.id)}` }, c.id),
        el("span", { class: "muted" }, ` — ${c.dir}`)));
  }
})();
