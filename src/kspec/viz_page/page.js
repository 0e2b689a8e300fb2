/* kspec viz: the page's behaviour. Plain JavaScript, no library, no network
   (except, when the page is served by `kspec viz --serve`, requests to the
   same server for activations computed on demand). */
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("kspec-data").textContent);
  window.KSPEC_VIZ = DATA;
  const SVGNS = "http://www.w3.org/2000/svg";
  const BOX_H = 40, ROW = 80, PAD = 40;
  const nodes = DATA.nodes, edges = DATA.edges, groups = DATA.groups || [];
  const byId = new Map(nodes.map(n => [n.id, n]));
  const groupById = new Map(groups.map(g => [g.id, g]));
  const collapsed = new Set(DATA.collapsed || []);
  const cache = new Map();
  let selectedLayer = null, selectedSample = 0;
  const view = { x: 0, y: 0, k: 1 };

  function el(tag, attrs, parent, text) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function h(tag, attrs, parent, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function num(n) { return Number(n).toLocaleString("en-US"); }
  function fmt(v) { return Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(3) : v.toFixed(4); }

  /* ---- which box stands for each layer, given the collapsed blocks ---- */
  function representative(n) {
    for (const g of n.groups || []) if (collapsed.has(g)) return "g:" + g;
    return n.id;
  }

  function visibleGraph() {
    const reps = new Map();
    for (const n of nodes) {
      const r = representative(n);
      if (r === n.id) { reps.set(r, { id: r, node: n, rank: n.rank, x: n.x, w: n.w }); continue; }
      let rep = reps.get(r);
      if (!rep) {
        const g = groupById.get(r.slice(2));
        rep = { id: r, group: g, rank: n.rank, lo: n.x, hi: n.x + n.w, count: 0, params: 0 };
        reps.set(r, rep);
      }
      rep.rank = Math.min(rep.rank, n.rank);
      rep.lo = Math.min(rep.lo, n.x);
      rep.hi = Math.max(rep.hi, n.x + n.w);
      rep.count += 1;
      rep.params += n.params;
    }
    for (const rep of reps.values()) {
      if (!rep.group) continue;
      rep.w = Math.max(150, 7 * (rep.group.label.length + 4));
      rep.x = (rep.lo + rep.hi) / 2 - rep.w / 2;
    }
    const ranks = [...new Set([...reps.values()].map(r => r.rank))].sort((a, b) => a - b);
    const row = new Map(ranks.map((r, i) => [r, i]));
    for (const rep of reps.values()) { rep.row = row.get(rep.rank); rep.y = PAD + rep.row * ROW; }
    const links = new Map();
    for (const e of edges) {
      if (!byId.has(e.s) || !byId.has(e.t)) continue;
      const a = representative(byId.get(e.s)), b = representative(byId.get(e.t));
      if (a === b) continue;
      const key = a + "\u0000" + b;
      if (!links.has(key)) links.set(key, { a: reps.get(a), b: reps.get(b), shape: e.shape });
    }
    return { reps, links: [...links.values()], rows: ranks.length };
  }

  /* ---- drawing ---- */
  const svg = document.getElementById("graph");
  const port = document.getElementById("viewport");
  let extent = { w: 100, h: 100 };

  function draw() {
    while (port.firstChild) port.removeChild(port.firstChild);
    const g = visibleGraph();
    const reps = [...g.reps.values()];
    const rowRight = new Array(g.rows).fill(0);
    for (const r of reps) rowRight[r.row] = Math.max(rowRight[r.row], r.x + r.w);
    drawBlocks(reps);
    const edgeLayer = el("g", { id: "edges" }, port);
    let lane = 0, maxX = Math.max(...rowRight, 0);
    for (const link of g.links) {
      const a = link.a, b = link.b;
      let d, lx, ly;
      if (b.row - a.row === 1 || b.row <= a.row) {
        const x1 = a.x + a.w / 2, y1 = a.y + BOX_H, x2 = b.x + b.w / 2, y2 = b.y;
        const my = (y1 + y2) / 2;
        d = `M${x1},${y1} C${x1},${my} ${x2},${my} ${x2},${y2}`;
        lx = (x1 + x2) / 2 + 4; ly = my + 3;
      } else {
        let right = Math.max(a.x + a.w, b.x + b.w);
        for (let k = a.row + 1; k < b.row; k++) right = Math.max(right, rowRight[k]);
        right += 18 + 8 * (lane++ % 5);
        maxX = Math.max(maxX, right + 80);
        const y1 = a.y + BOX_H / 2, y2 = b.y + BOX_H / 2;
        d = `M${a.x + a.w},${y1} L${right},${y1} L${right},${y2} L${b.x + b.w},${y2}`;
        lx = right + 4; ly = (y1 + y2) / 2;
      }
      el("path", { class: "edge", d: d, "marker-end": "url(#arrow)", "data-from": a.id, "data-to": b.id }, edgeLayer);
      if (link.shape) el("text", { class: "edge-label", x: lx, y: ly }, edgeLayer, link.shape);
    }
    const nodeLayer = el("g", { id: "nodes" }, port);
    for (const r of reps) (r.group ? drawGroupNode : drawNode)(r, nodeLayer);
    extent = { w: maxX + PAD, h: PAD * 2 + g.rows * ROW };
    applyView();
  }

  function drawNode(r, parent) {
    const n = r.node;
    const cls = ["node"];
    if (n.view) cls.push("viewable");
    if (n.calls > 1) cls.push("shared");
    if (n.sub) cls.push("sub");
    if (n.id === selectedLayer) cls.push("selected");
    const g = el("g", { class: cls.join(" "), "data-layer": n.id, transform: `translate(${r.x},${r.y})` }, parent);
    if (n.sub) el("rect", { class: "shadow", x: 4, y: -4, width: r.w, height: BOX_H, rx: 3 }, g);
    el("rect", { class: "box", width: r.w, height: BOX_H, rx: 4 }, g);
    el("text", { x: r.w / 2, y: 16, "text-anchor": "middle" }, g, `${n.id} (${n.type})`);
    let sub = `${n.shape}  ${num(n.params)} params`;
    if (n.calls > 1) sub += `  shared \u00d7${n.calls}`;
    el("text", { class: "sub", x: r.w / 2, y: 31, "text-anchor": "middle" }, g, sub);
    const tip = [`${n.id} (${n.type})`, `output ${n.shape}`,
      `${num(n.params)} parameters (${num(n.trainable)} trainable, ${num(n.params - n.trainable)} non-trainable)`];
    if (n.calls > 1) tip.push(`shared: applied ${n.calls} times`);
    if (n.sub) tip.push("a model used as a layer");
    el("title", {}, g, tip.join("\n"));
    g.addEventListener("click", ev => { ev.stopPropagation(); selectLayer(n.id); });
  }

  function drawGroupNode(r, parent) {
    const grp = r.group;
    const g = el("g", { class: "node group", "data-block": grp.id, transform: `translate(${r.x},${r.y})` }, parent);
    el("rect", { class: "box", width: r.w, height: BOX_H, rx: 8 }, g);
    el("text", { x: r.w / 2, y: 16, "text-anchor": "middle" }, g, `\u25b8 ${grp.label}`);
    el("text", { class: "sub", x: r.w / 2, y: 31, "text-anchor": "middle" }, g,
      `${r.count} layers, ${num(r.params)} params`);
    el("title", {}, g, `block ${grp.block}: click to expand`);
    g.addEventListener("click", ev => { ev.stopPropagation(); collapsed.delete(grp.id); draw(); });
  }

  function drawBlocks(reps) {
    const layer = el("g", { id: "blocks" }, port);
    const boxes = new Map();
    for (const r of reps) {
      const ids = r.node ? r.node.groups || [] : ancestors(r.group.id);
      for (const gid of ids) {
        if (collapsed.has(gid)) continue;
        const b = boxes.get(gid) || { x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity };
        b.x0 = Math.min(b.x0, r.x); b.y0 = Math.min(b.y0, r.y);
        b.x1 = Math.max(b.x1, r.x + r.w); b.y1 = Math.max(b.y1, r.y + BOX_H);
        boxes.set(gid, b);
      }
    }
    const order = [...boxes.keys()].sort((a, b) => depth(a) - depth(b));
    for (const gid of order) {
      const b = boxes.get(gid), grp = groupById.get(gid);
      const inner = grp.height || 0, side = 5 + 6 * inner, top = 12 + 12 * inner;
      const g = el("g", { class: "block", "data-block": gid }, layer);
      el("rect", { x: b.x0 - side, y: b.y0 - top, width: b.x1 - b.x0 + 2 * side, height: b.y1 - b.y0 + top + side, rx: 6 }, g);
      const t = el("text", { x: b.x0 - side + 4, y: b.y0 - top + 10 }, g, `\u25be ${grp.label}`);
      el("title", {}, t, `block ${grp.block}: click to collapse`);
      t.addEventListener("click", ev => { ev.stopPropagation(); collapsed.add(gid); draw(); });
    }
  }
  function ancestors(gid) {
    const out = [];
    for (let g = groupById.get(gid); g; g = groupById.get(g.parent)) out.unshift(g.id);
    return out;
  }
  function depth(gid) { return ancestors(gid).length; }

  /* ---- pan and zoom ---- */
  function applyView() {
    port.setAttribute("transform", `translate(${view.x},${view.y}) scale(${view.k})`);
  }
  function zoomAt(factor, cx, cy) {
    const k = Math.min(4, Math.max(0.05, view.k * factor));
    view.x = cx - (cx - view.x) * (k / view.k);
    view.y = cy - (cy - view.y) * (k / view.k);
    view.k = k;
    applyView();
  }
  function fit() {
    const box = svg.getBoundingClientRect();
    const k = Math.min(1, (box.width - 10) / extent.w);
    view.k = Math.max(0.05, k); view.x = Math.max(0, (box.width - extent.w * view.k) / 2); view.y = 0;
    applyView();
  }
  svg.addEventListener("wheel", ev => {
    ev.preventDefault();
    const box = svg.getBoundingClientRect();
    if (ev.ctrlKey || ev.metaKey) zoomAt(ev.deltaY < 0 ? 1.15 : 1 / 1.15, ev.clientX - box.left, ev.clientY - box.top);
    else { view.x -= ev.deltaX; view.y -= ev.deltaY; applyView(); }
  }, { passive: false });
  let drag = null;
  svg.addEventListener("mousedown", ev => { drag = { x: ev.clientX, y: ev.clientY, vx: view.x, vy: view.y }; });
  window.addEventListener("mousemove", ev => {
    if (!drag) return;
    view.x = drag.vx + ev.clientX - drag.x; view.y = drag.vy + ev.clientY - drag.y;
    document.getElementById("graph-pane").classList.add("dragging");
    applyView();
  });
  window.addEventListener("mouseup", () => { drag = null; document.getElementById("graph-pane").classList.remove("dragging"); });
  const centre = () => { const b = svg.getBoundingClientRect(); return [b.width / 2, b.height / 2]; };
  document.getElementById("zoom-in").addEventListener("click", () => zoomAt(1.25, ...centre()));
  document.getElementById("zoom-out").addEventListener("click", () => zoomAt(0.8, ...centre()));
  document.getElementById("zoom-fit").addEventListener("click", fit);
  document.getElementById("show-shapes").addEventListener("change", ev => {
    svg.classList.toggle("hide-shapes", !ev.target.checked);
  });
  document.getElementById("expand-all").addEventListener("click", () => { collapsed.clear(); draw(); });
  document.getElementById("collapse-all").addEventListener("click", () => {
    for (const g of groups) if (!g.parent) collapsed.add(g.id);
    draw();
  });

  /* ---- find a layer ---- */
  const names = document.getElementById("layer-names");
  for (const n of nodes) h("option", { value: n.id }, names);
  document.getElementById("find").addEventListener("change", ev => {
    const n = byId.get(ev.target.value.trim());
    if (!n) return;
    for (const g of n.groups || []) collapsed.delete(g);
    draw();
    selectLayer(n.id);
    const y = PAD + visibleGraph().reps.get(n.id).row * ROW;
    view.y = svg.getBoundingClientRect().height / 2 - y * view.k;
    applyView();
  });

  /* ---- samples and layers ---- */
  function fetchJSON(url) {
    if (cache.has(url)) return cache.get(url);
    const p = fetch(url).then(r => r.ok ? r.json() : r.text().then(t => { throw new Error(t || r.statusText); }));
    cache.set(url, p);
    return p;
  }
  function sampleData(i) {
    const s = DATA.samples[i];
    if (!DATA.serve || s.ready) return Promise.resolve(s);
    return fetchJSON(`api/sample?sample=${i}`).then(extra => { Object.assign(s, extra, { ready: true }); return s; });
  }
  function layerView(i, layer) {
    const s = DATA.samples[i];
    if (!DATA.serve) return Promise.resolve((s.layers || {})[layer] || null);
    return fetchJSON(`api/layer?sample=${i}&layer=${encodeURIComponent(layer)}`);
  }

  function drawSamples() {
    const box = document.getElementById("samples");
    box.textContent = "";
    DATA.samples.forEach((s, i) => {
      const b = h("button", { type: "button", class: "sample" + (i === selectedSample ? " selected" : ""), "data-sample": i }, box);
      if (s.image) h("img", { src: s.image, alt: s.label }, b);
      h("div", {}, b, s.label);
      b.addEventListener("click", () => { selectedSample = i; drawSamples(); showSample(); showLayer(); });
    });
    if (!DATA.samples.length) h("p", { class: "hint" }, box, DATA.no_samples || "No inputs given: pass --images to see what each layer computes.");
  }

  function showSample() {
    const box = document.getElementById("sample-info");
    box.textContent = "";
    for (const note of DATA.notes || []) h("p", { class: "note" }, box, note);
    if (!DATA.samples.length) return;
    const i = selectedSample;
    sampleData(i).then(s => {
      if (i !== selectedSample) return;
      h("h2", {}, box, s.label);
      for (const note of s.notes || []) h("p", { class: "note" }, box, note);
      if (s.predictions) {
        const t = h("table", { class: "preds" }, box);
        const top = Math.max(...s.predictions.map(p => Math.abs(p.score)), 1e-12);
        for (const p of s.predictions) {
          const tr = h("tr", {}, t);
          h("td", {}, tr, p.label);
          h("td", {}, tr, fmt(p.score));
          const bar = h("td", {}, tr);
          h("span", { class: "bar", style: `width:${Math.round(120 * Math.abs(p.score) / top)}px` }, bar);
        }
      }
      if (s.gradcam) {
        const d = h("div", { class: "gradcam" }, box);
        h("img", { src: s.gradcam, alt: "Grad-CAM heat map" }, d);
        h("div", { class: "note" }, d, s.gradcam_note || "");
      } else if (s.gradcam_note) h("p", { class: "note" }, box, s.gradcam_note);
    }).catch(err => h("p", { class: "error" }, box, String(err.message || err)));
  }

  function selectLayer(id) {
    selectedLayer = id;
    for (const g of port.querySelectorAll(".node[data-layer]")) g.classList.toggle("selected", g.dataset.layer === id);
    showLayer();
  }

  function showLayer() {
    const box = document.getElementById("layer-info");
    if (!selectedLayer) return;
    const n = byId.get(selectedLayer);
    box.textContent = "";
    h("h2", {}, box, `${n.id} (${n.type})`);
    const t = h("table", { class: "facts" }, box);
    const inbound = edges.filter(e => e.t === n.id).map(e => e.s).join(", ") || "\u2014";
    const rows = [["output", n.shape], ["parameters", `${num(n.params)} (${num(n.trainable)} trainable, ${num(n.params - n.trainable)} non-trainable)`],
      ["inputs from", inbound]];
    if (n.calls > 1) rows.push(["shared", `applied ${n.calls} times (one set of weights)`]);
    if (n.sub) rows.push(["sub-model", "a model used as a layer"]);
    if ((n.groups || []).length) rows.push(["in blocks", n.groups.map(g => groupById.get(g).label).join(" \u203a ")]);
    for (const [k, v] of rows) { const tr = h("tr", {}, t); h("td", {}, tr, k); h("td", {}, tr, v); }
    const maps = h("div", { id: "layer-maps" }, box);
    if (!DATA.samples.length) return;
    if (!n.view) { h("p", { class: "note" }, maps, "No activation view for this layer (kspec shows convolution, pooling, normalization, dense, recurrent and embedding layers applied once)."); return; }
    const i = selectedSample, layer = n.id;
    layerView(i, layer).then(v => {
      if (i !== selectedSample || layer !== selectedLayer) return;
      if (!v) { h("p", { class: "note" }, maps, "No activations recorded for this layer."); return; }
      if (n.calls > 1) h("p", { class: "note" }, maps, `A shared layer: these are the outputs of its first application (of ${n.calls}).`);
      renderView(v, maps);
    }).catch(err => h("p", { class: "error" }, maps, String(err.message || err)));
  }

  function renderView(v, box) {
    if (v.kind === "grid") {
      const [th, tw] = v.tile;
      const scale = Math.max(1, Math.floor(88 / Math.max(th, tw)));
      let text = `${v.count} of ${v.total} channel${v.total === 1 ? "" : "s"}`;
      if (v.count < v.total) text += ` (the first ${v.count}: --max-maps shows more)`;
      if (v.resized) text += `; each ${v.source[0]}\u00d7${v.source[1]} map shrunk to ${th}\u00d7${tw}`;
      h("p", { class: "note" }, box, text + "; each map scaled between its own min and max");
      const grid = h("div", { class: "maps" }, box);
      const rows = Math.ceil(v.count / v.cols);
      for (let c = 0; c < v.count; c++) {
        const r = Math.floor(c / v.cols), k = c % v.cols;
        const d = h("div", { class: "map", "data-channel": c, title: `channel ${c}: ${fmt(v.min[c])} \u2026 ${fmt(v.max[c])}` }, grid);
        d.style.width = `${tw * scale}px`; d.style.height = `${th * scale}px`;
        d.style.backgroundImage = `url(${v.src})`;
        d.style.backgroundSize = `${v.cols * tw * scale}px ${rows * th * scale}px`;
        d.style.backgroundPosition = `-${k * tw * scale}px -${r * th * scale}px`;
      }
    } else {
      const [rows, cols] = v.size;
      h("p", { class: "note" }, box, `heat map over ${v.axes} (${rows}\u00d7${cols}), from ${fmt(v.min[0])} to ${fmt(v.max[0])}`);
      const img = h("img", { class: "heat", src: v.src, alt: "activations", "data-kind": "heat" }, box);
      const scale = Math.max(1, Math.min(24, Math.floor(480 / cols)));
      img.style.width = `${cols * scale}px`; img.style.height = `${Math.max(rows * scale, 12)}px`;
    }
  }

  /* ---- start ---- */
  el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#59606e" },
    el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" },
      el("defs", {}, svg)));
  document.getElementById("title").textContent = DATA.title;
  document.getElementById("facts").textContent = DATA.facts;
  draw();
  fit();
  drawSamples();
  showSample();
})();
