/* ecomtune console: what every page shares — the API key, fetch, DOM and number helpers, sortable tables. */
"use strict";
(function () {
  const KEY = "ecomtune.apiKey";
  const GUIDE_KEY = "ecomtune.guide.apiKey"; // the /guide page reads this one
  const $ = (id) => document.getElementById(id);

  function storedKey() {
    try { return sessionStorage.getItem(KEY) || ""; } catch (_) { return ""; }
  }
  function storeKey(key) {
    try {
      for (const k of [KEY, GUIDE_KEY]) key ? sessionStorage.setItem(k, key) : sessionStorage.removeItem(k);
    } catch (_) { /* storage off: the key lives as long as the page */ }
  }

  /** An element: el("a", {href: "/x", class: "y"}, "text", child). Text is always text (never parsed as HTML). */
  function el(tag, attrs, ...children) { return build(document.createElement(tag), attrs, children); }
  /** The same for SVG elements. */
  function svg(tag, attrs, ...children) {
    return build(document.createElementNS("http://www.w3.org/2000/svg", tag), attrs, children);
  }
  function build(node, attrs, children) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined && c !== false)
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  function showAlert(box, message) {
    box = typeof box === "string" ? $(box) : box;
    if (!box) return;
    box.textContent = message;
    box.hidden = !message;
  }

  /** fetch with the key; JSON back, or an Error whose message is "STATUS: detail" (401 also asks for the key). */
  async function api(path, options) {
    const opts = Object.assign({}, options || {});
    opts.headers = Object.assign({}, opts.headers || {});
    const key = storedKey();
    if (key) opts.headers["X-API-Key"] = key;
    if (opts.json !== undefined) {
      opts.method = opts.method || "POST";
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(opts.json);
      delete opts.json;
    }
    let response;
    try { response = await fetch(path, opts); } catch (e) { throw new Error(`network error: ${e.message}`); }
    if (response.status === 401) {
      showAlert("key-alert", key ? "The API key was refused — enter the right one above and press Use key."
        : "This service needs an API key — enter it above and press Use key.");
      const input = $("api-key");
      if (input) input.focus();
    }
    if (opts.raw) return response;
    let body = null;
    const text = await response.text();
    try { body = text ? JSON.parse(text) : null; } catch (_) { body = { detail: text.slice(0, 200) }; }
    if (!response.ok) {
      const err = new Error(`${response.status}: ${(body && body.detail) || response.statusText}`);
      err.status = response.status; err.body = body;
      throw err;
    }
    return body;
  }

  /** An <img> whose bytes are fetched with the key (a plain src cannot send a header). */
  function keyedImage(src, alt) {
    const img = el("img", { alt: alt, loading: "lazy", "data-src": src });
    api(src, { raw: true }).then(async (r) => {
      if (!r.ok) { img.alt = `${alt} (${r.status})`; return; }
      img.src = URL.createObjectURL(await r.blob());
    }).catch(() => { img.alt = `${alt} (not loaded)`; });
    return img;
  }

  /** Open a keyed file in a new tab (or follow the link when no key is needed). */
  function keyedLink(href, label) {
    return el("a", { href: href, target: "_blank", rel: "noopener", onclick: async (ev) => {
      if (!storedKey()) return;
      ev.preventDefault();
      const r = await api(href, { raw: true });
      if (r.ok) window.open(URL.createObjectURL(await r.blob()), "_blank", "noopener");
    } }, label);
  }

  const isNum = (v) => typeof v === "number" && Number.isFinite(v);
  const fmt = {
    metric: (v) => isNum(v) ? (Math.abs(v) <= 1 ? v.toFixed(4) : v.toFixed(2)) : "—",
    num: (v, d) => isNum(v) ? v.toLocaleString("en-US", { maximumFractionDigits: d === undefined ? 1 : d }) : "—",
    seconds: (s) => !isNum(s) ? "—" : s < 60 ? `${s.toFixed(1)} s` : s < 3600 ? `${(s / 60).toFixed(1)} min`
      : `${(s / 3600).toFixed(1)} h`,
    mb: (v) => isNum(v) ? (v >= 1024 ? `${(v / 1024).toFixed(2)} GB` : `${v.toFixed(v < 10 ? 2 : 1)} MB`) : "—",
    count: (v) => !isNum(v) ? "—" : v >= 1e9 ? `${(v / 1e9).toFixed(2)}B` : v >= 1e6 ? `${(v / 1e6).toFixed(1)}M`
      : v >= 1e3 ? `${(v / 1e3).toFixed(1)}K` : String(v),
    pct: (v) => isNum(v) ? `${(100 * v).toFixed(1)}%` : "—",
  };
  const metricName = (k) => String(k).replace(/_/g, " ").replace(/\bf1\b/i, "F1").replace(/\bmacro F1\b/i, "macro-F1");

  /** A <td> holding `text`, sorted by `value` (numbers right-aligned). */
  function cell(text, value, cls) {
    const td = el("td", { class: cls || (isNum(value) ? "num" : null) }, text);
    td.dataset.value = value === undefined ? String(text) : value === null ? "" : String(value);
    return td;
  }

  /** Header buttons that sort the table's rows (numbers as numbers, blanks last). */
  function sortable(table) {
    const heads = [...table.tHead.rows[0].cells];
    heads.forEach((th, i) => {
      if (th.dataset.nosort !== undefined || !th.textContent.trim()) return;
      const label = th.textContent.trim();
      const button = el("button", { type: "button", class: "sort" }, label);
      th.replaceChildren(button);
      button.addEventListener("click", () => {
        const dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
        heads.forEach((h) => h.removeAttribute("aria-sort"));
        th.setAttribute("aria-sort", dir);
        const body = table.tBodies[0];
        const rows = [...body.rows];
        const key = (r) => { const c = r.cells[i]; return c ? (c.dataset.value ?? c.textContent) : ""; };
        rows.sort((a, b) => {
          const x = key(a), y = key(b);
          if (x === "" || y === "") return x === y ? 0 : x === "" ? 1 : -1;
          const nx = Number(x), ny = Number(y);
          const c = !Number.isNaN(nx) && !Number.isNaN(ny) ? nx - ny : x.localeCompare(y);
          return dir === "ascending" ? c : -c;
        });
        body.append(...rows);
      });
    });
  }

  function initKey() {
    const input = $("api-key"), form = $("key-form");
    if (!form) return;
    input.value = storedKey();
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      storeKey(input.value.trim());
      location.reload();
    });
    $("key-forget").addEventListener("click", () => { storeKey(""); input.value = ""; location.reload(); });
  }

  window.ET = { $, el, svg, api, keyedImage, keyedLink, fmt, isNum, cell, sortable, showAlert, metricName,
                storedKey, params: new URLSearchParams(location.search) };
  document.addEventListener("DOMContentLoaded", initKey);
})();
