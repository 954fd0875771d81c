/* Drift monitor: the served model's PSI per signal over time (sampled every 5 s while the page is open) against
   the warning and drift thresholds, the verdict now, and each signal's distribution now against the reference. */
"use strict";
(async function () {
  const { $, el, api, fmt, showAlert, lines, pairedBars } = window.ET;
  const EVERY_MS = 5000;
  let info, timer = null, paused = false;
  try { info = await api("/ui/api/info"); } catch (e) { return showAlert("error", e.message); }
  const models = info.models.filter((m) => m.monitor);
  if (!models.length) {
    $("verdict").textContent = info.status === "loading" ? "The models are still loading — reload in a moment."
      : "No served model has a drift monitor (its run needs a reference profile, profile.json: classify, taxonomy " +
        "and multitask runs write one).";
    return;
  }
  const select = $("model");
  for (const m of models) select.append(el("option", { value: m.ref }, m.ref));
  const wanted = new URLSearchParams(location.search).get("model");
  if (wanted && models.some((m) => m.ref === wanted)) select.value = wanted;
  select.addEventListener("change", () => { history.replaceState(null, "", `?model=${encodeURIComponent(select.value)}`); load(); });
  $("refresh").addEventListener("click", load);
  $("pause").addEventListener("click", () => {
    paused = !paused;
    $("pause").setAttribute("aria-pressed", String(paused));
    $("pause").textContent = paused ? "Resume" : "Pause";
    if (!paused) load();
  });
  load();

  async function load() {
    clearTimeout(timer);
    let data;
    try { data = await api(`/ui/api/monitor?model=${encodeURIComponent(select.value)}`); showAlert("error", ""); }
    catch (e) { showAlert("error", `Cannot read the monitor — ${e.message}`); }
    if (data) draw(data);
    if (!paused) timer = setTimeout(load, EVERY_MS);
  }

  function draw(data) {
    const r = data.report;
    const v = $("verdict");
    v.dataset.action = r.action;
    v.replaceChildren(el("span", { class: `badge ${r.action === "ok" ? "good" : r.action === "collecting" ? "warn" : "bad"}` },
      r.action), ` ${r.reason} · ${fmt.num(r.rows, 0)} rows in the window (${fmt.num(r.rows_seen, 0)} seen, ` +
      `reference: ${fmt.num(r.reference_rows, 0)} rows)`);
    const names = Object.keys(r.signals);
    lines($("psi-chart"), names.map((n) => ({ name: n, values: data.history.map((h) => ({ t: h.t, v: h.psi[n] })) })),
      [{ v: r.thresholds.warn, cls: "warn", label: "warning" }, { v: r.thresholds.drift, cls: "drift", label: "drift" }],
      { yLabel: "PSI", title: "PSI per signal over time", empty: "no prediction yet — send some requests" });
    $("signals").tBodies[0].replaceChildren(...names.map((n) => {
      const s = r.signals[n];
      return el("tr", { "data-signal": n }, el("td", {}, n), el("td", { class: "num" }, s.psi === null ? "—" : s.psi.toFixed(3)),
        el("td", { class: "num" }, String(s.threshold)), el("td", {}, s.verdict, s.note ? el("div", { class: "muted" }, s.note) : null));
    }));
    $("bars").replaceChildren();
    for (const n of names) pairedBars($("bars"), n, r.signals[n].bins, r.signals[n].reference, r.signals[n].current);
  }
})();
