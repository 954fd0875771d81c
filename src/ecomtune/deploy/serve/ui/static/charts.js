/* ecomtune console charts, drawn as plain SVG: the quality-vs-cost Pareto scatter, lines over time, paired bars. */
"use strict";
(function () {
  const { svg, el, isNum } = window.ET;
  const W = 640, H = 340, M = { l: 58, r: 18, t: 14, b: 46 };
  const COLORS = ["#0b5cad", "#c2410c", "#15803d", "#7c3aed", "#be185d", "#0e7490", "#a16207", "#4b5563"];

  function scale(values, lo, hi, log) {
    let min = Math.min(...values), max = Math.max(...values);
    if (log) { min = Math.log10(min); max = Math.log10(max); }
    if (min === max) { const pad = Math.abs(min) * 0.1 || 1; min -= pad; max += pad; }
    const span = max - min, pad = span * 0.06;
    min -= pad; max += pad;
    const f = (v) => lo + ((log ? Math.log10(v) : v) - min) / (max - min) * (hi - lo);
    f.domain = [min, max]; f.log = log;
    return f;
  }

  function ticks(f, n) {
    const [a, b] = f.domain;
    if (f.log) {
      const out = [];
      for (let e = Math.floor(a); e <= Math.ceil(b); e++)
        for (const m of (b - a < 2 ? [1, 2, 5] : [1])) { const v = m * 10 ** e; if (Math.log10(v) >= a && Math.log10(v) <= b) out.push(v); }
      return out;
    }
    const raw = (b - a) / n, mag = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
    const out = [];
    for (let v = Math.ceil(a / step) * step; v <= b + 1e-12; v += step) out.push(+v.toPrecision(12));
    return out;
  }

  const short = (v) => Math.abs(v) >= 1000 ? `${+(v / 1000).toPrecision(3)}k` : `${+v.toPrecision(3)}`;

  function axes(root, x, y, xLabel, yLabel, xFormat) {
    const grid = svg("g", { class: "grid" }), ax = svg("g", { class: "axis" });
    for (const v of ticks(y, 5)) {
      const py = y(v);
      grid.append(svg("line", { x1: M.l, x2: W - M.r, y1: py, y2: py }));
      ax.append(svg("text", { x: M.l - 6, y: py + 4, "text-anchor": "end" }, short(v)));
    }
    for (const v of ticks(x, 6)) {
      const px = x(v);
      grid.append(svg("line", { x1: px, x2: px, y1: M.t, y2: H - M.b }));
      ax.append(svg("text", { x: px, y: H - M.b + 16, "text-anchor": "middle" }, (xFormat || short)(v)));
    }
    ax.append(svg("line", { x1: M.l, x2: W - M.r, y1: H - M.b, y2: H - M.b }),
      svg("line", { x1: M.l, x2: M.l, y1: M.t, y2: H - M.b }),
      svg("text", { class: "label", x: (M.l + W - M.r) / 2, y: H - 8, "text-anchor": "middle" }, xLabel),
      svg("text", { class: "label", x: 14, y: (M.t + H - M.b) / 2, "text-anchor": "middle",
        transform: `rotate(-90 14 ${(M.t + H - M.b) / 2})` }, yLabel));
    root.append(grid, ax);
  }

  /** The points no other point beats on both axes (higher y, lower x), sorted by x. */
  function paretoFront(points) {
    const sorted = [...points].sort((a, b) => a.x - b.x || b.y - a.y);
    const front = [];
    let best = -Infinity, at = null;
    for (const p of sorted) {  // ties (same cost, same quality) are on the front together
      if (p.y > best || (p.y === best && p.x === at)) { front.push(p); best = p.y; at = p.x; }
    }
    return front;
  }

  function tooltip(box) {
    let tip = box.querySelector(".tip");
    if (!tip) { tip = el("div", { class: "tip", role: "status" }); tip.hidden = true; box.append(tip); }
    return tip;
  }

  function place(box, root, tip, px, py, lines) {
    const r = root.getBoundingClientRect(), b = box.getBoundingClientRect();
    tip.replaceChildren(...lines.flatMap((l, i) => (i ? [el("br"), l] : [l])));
    tip.style.left = `${r.left - b.left + px * r.width / W}px`;
    tip.style.top = `${r.top - b.top + py * r.height / H}px`;
    tip.hidden = false;
  }

  /** Quality (y) against cost (x): points are links to their run; the Pareto front is joined. */
  function pareto(box, points, opts) {
    box.replaceChildren();
    const usable = points.filter((p) => isNum(p.x) && isNum(p.y) && (!opts.log || p.x > 0));
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": opts.title || "Pareto plot" });
    box.append(root);
    if (!usable.length) {
      root.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "label" },
        "no run has both numbers"));
      return { front: [] };
    }
    const xs = usable.map((p) => p.x);
    const log = xs.every((v) => v > 0) && Math.max(...xs) / Math.min(...xs) >= 20;
    const x = scale(xs, M.l, W - M.r, log), y = scale(usable.map((p) => p.y), H - M.b, M.t, false);
    axes(root, x, y, opts.xLabel + (log ? " (log scale)" : ""), opts.yLabel);
    const front = paretoFront(usable);
    root.append(svg("polyline", { class: "front", points: front.map((p) => `${x(p.x)},${y(p.y)}`).join(" ") }));
    const tip = tooltip(box);
    const onFront = new Set(front.map((p) => p.key));
    for (const p of usable) {
      const px = x(p.x), py = y(p.y);
      const lines = [p.name, `${opts.yLabel}: ${(opts.yFormat || short)(p.y)}`, `${opts.xLabel}: ${(opts.xFormat || short)(p.x)}`,
        ...(onFront.has(p.key) ? ["on the Pareto front"] : [])];
      const g = svg(p.href ? "a" : "g", { class: `pt${onFront.has(p.key) ? " on-front" : ""}`, href: p.href || null,
        "data-key": p.key, "aria-label": lines.join(", "), tabindex: p.href ? null : "0" },
      svg("circle", { cx: px, cy: py, r: 6 }),
      svg("text", { x: px > W / 2 ? px - 9 : px + 9, y: py - 8, "text-anchor": px > W / 2 ? "end" : "start" }, p.name));
      const show = () => place(box, root, tip, px, py, lines);
      const hide = () => { tip.hidden = true; };
      g.addEventListener("mouseenter", show); g.addEventListener("focus", show);
      g.addEventListener("mouseleave", hide); g.addEventListener("blur", hide);
      root.append(g);
    }
    return { front: front.map((p) => p.key) };
  }

  /** Lines over time: series [{name, values: [{t, v}]}], thresholds [{v, cls, label}]. */
  function lines(box, series, thresholds, opts) {
    box.replaceChildren();
    const all = series.flatMap((s) => s.values.filter((p) => isNum(p.v)));
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": opts.title || "chart" });
    box.append(root);
    if (!all.length) {
      root.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "label" }, opts.empty || "no data yet"));
      return;
    }
    const ts = all.map((p) => p.t);
    const x = scale(ts.length > 1 ? ts : [ts[0] - 30, ts[0] + 30], M.l, W - M.r, false);
    const ys = [0, ...all.map((p) => p.v), ...thresholds.map((t) => t.v)];
    const y = scale(ys, H - M.b, M.t, false);
    const clock = (t) => new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    axes(root, x, y, opts.xLabel || "time", opts.yLabel || "", clock);
    for (const t of thresholds)
      root.append(svg("line", { class: `thr ${t.cls}`, x1: M.l, x2: W - M.r, y1: y(t.v), y2: y(t.v) },
        svg("title", {}, `${t.label}: ${t.v}`)));
    const legend = el("div", { class: "legend" });
    series.forEach((s, i) => {
      const color = COLORS[i % COLORS.length];
      const pts = s.values.filter((p) => isNum(p.v));
      const g = svg("g", { class: "series", "data-name": s.name });
      g.append(svg("polyline", { class: "line", stroke: color, points: pts.map((p) => `${x(p.t)},${y(p.v)}`).join(" ") }));
      for (const p of pts) g.append(svg("circle", { cx: x(p.t), cy: y(p.v), r: 2.5, fill: color },
        svg("title", {}, `${s.name}: ${p.v} at ${clock(p.t)}`)));
      root.append(g);
      const sw = el("span", { class: "sw" }); sw.style.background = color;
      legend.append(el("span", {}, sw, s.name));
    });
    box.append(legend);
  }

  /** Two bars per bin (reference, current) for one signal. */
  function pairedBars(box, title, bins, a, b) {
    const w = 300, h = 150, m = { l: 30, r: 6, t: 6, b: 34 };
    const root = svg("svg", { viewBox: `0 0 ${w} ${h}`, role: "img", "aria-label": `${title}: reference vs now` });
    const max = Math.max(0.01, ...a, ...b), n = bins.length, slot = (w - m.l - m.r) / Math.max(n, 1);
    const yv = (v) => h - m.b - v / max * (h - m.t - m.b);
    root.append(svg("line", { x1: m.l, x2: w - m.r, y1: h - m.b, y2: h - m.b, stroke: "#9aa3ad" }));
    bins.forEach((bin, i) => {
      const x0 = m.l + i * slot + slot * 0.12, bw = slot * 0.36;
      root.append(svg("rect", { x: x0, y: yv(a[i] || 0), width: bw, height: h - m.b - yv(a[i] || 0), fill: "#9aa3ad" },
        svg("title", {}, `${bin}: reference ${(100 * (a[i] || 0)).toFixed(1)}%`)),
      svg("rect", { x: x0 + bw, y: yv(b[i] || 0), width: bw, height: h - m.b - yv(b[i] || 0), fill: "#0b5cad" },
        svg("title", {}, `${bin}: now ${(100 * (b[i] || 0)).toFixed(1)}%`)));
      if (n <= 12) root.append(svg("text", { x: x0 + bw, y: h - m.b + 12, "text-anchor": "middle", "font-size": 8,
        fill: "#5d6670" }, String(bin).slice(0, 8)));
    });
    root.append(svg("text", { x: m.l, y: h - 6, "font-size": 9, fill: "#5d6670" }, "grey: reference · blue: now"));
    box.append(el("figure", {}, root, el("figcaption", {}, title)));
  }

  Object.assign(window.ET, { pareto, paretoFront, lines, pairedBars, COLORS });
})();
