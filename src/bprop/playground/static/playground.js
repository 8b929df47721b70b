// The playground page: it sends requests and draws the server's numbers; it computes none of them.
// The protocol is described in docs/PLAYGROUND.md.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);
let socket = null;
let state = null;
let selected = null; // {kind: "unit"|"weight"|"bias", layer, unit|from, to}
let nextId = 1;
let renderedMode = null;

// Numbers as `bprop explain` prints them: 9 decimals, trailing zeros dropped; tiny or huge in exponent form.
function fmt(v) {
  if (v === null || v === undefined) return "—";
  if (typeof v !== "number") return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e9 || a < 1e-4) return v.toExponential(9);
  return v.toFixed(9).replace(/0+$/, "").replace(/\.$/, "");
}

function el(tag, attrs, parent, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

// When each request left, by id: the benchmark reads how long until its reply was drawn (window.bpropTimes).
const sentAt = new Map();
window.bpropTimes = { frames: 0, latencies: [] };

function send(message) {
  if (!socket || socket.readyState !== WebSocket.OPEN) return;
  message.id = nextId++;
  sentAt.set(message.id, performance.now());
  socket.send(JSON.stringify(message));
}

// States are drawn once per animation frame: when several arrive between two, the newest is drawn.
let toDraw = [];

function drawSoon(msg) {
  toDraw.push(msg);
  if (toDraw.length > 1) return;
  requestAnimationFrame(() => {
    const drawnNow = toDraw;
    toDraw = [];
    render();
    const now = performance.now();
    for (const m of drawnNow) {
      const started = sentAt.get(m.id);
      if (started === undefined) {
        if (m.id === undefined) window.bpropTimes.frames += 1; // a play frame (replies carry their request's id)
        continue;
      }
      sentAt.delete(m.id);
      window.bpropTimes.latencies.push(now - started);
    }
  });
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws`);
  socket.onmessage = (event) => receive(JSON.parse(event.data));
  socket.onopen = () => { if (window.labOpened) window.labOpened(); };
  socket.onclose = () => showError("the connection to the server closed; reload the page to start again");
}

function showError(text) {
  const box = $("error");
  box.textContent = text;
  box.hidden = !text;
}

function receive(msg) {
  if (msg.type === "error") {
    if (window.labError) window.labError(msg);
    return showError(`error: ${msg.error}`);
  }
  showError("");
  if (window.labReceive && window.labReceive(msg)) return;
  if (msg.type === "state") {
    state = msg;
    drawSoon(msg);
    if (selected && msg.mode !== "one-weight" && msg.last) ask(selected);
  } else if (msg.type === "unit") {
    showUnit(msg);
  } else if (msg.type === "weight") {
    showWeight(msg);
  }
}

// -- controls ---------------------------------------------------------------------------------------
function settingsFromForm() {
  const setup = { type: "setup", mode: $("mode").value };
  const rate = parseFloat($("learning-rate").value);
  if (!Number.isNaN(rate)) setup.learning_rate = rate;
  if (setup.mode !== "one-weight") {
    setup.optimizer = $("optimizer").value;
    const l2 = parseFloat($("l2").value);
    if (!Number.isNaN(l2)) setup.l2 = l2;
    const batch = parseInt($("batch-size").value, 10);
    if (!Number.isNaN(batch)) setup.batch_size = batch;
  }
  return setup;
}

function speed() {
  return Math.round(Math.pow(10, parseFloat($("speed").value)) * 10) / 10;
}

function wire() {
  $("mode").onchange = () => { selected = null; send({ type: "setup", mode: $("mode").value }); };
  $("apply").onclick = () => send(settingsFromForm());
  $("reset").onclick = () => { selected = null; send({ type: "reset" }); };
  $("play").onclick = () => send(state && state.playing ? { type: "pause" } : { type: "play", unit: $("play-unit").value });
  $("play-unit").onchange = () => { if (state && state.playing) send({ type: "play", unit: $("play-unit").value }); };
  $("speed").oninput = () => { $("speed-label").textContent = `${speed()} steps/s`; send({ type: "speed", steps_per_second: speed() }); };
  for (const unit of ["sample", "batch", "epoch"]) $(`step-${unit}`).onclick = () => send({ type: "step", unit });
  $("ow-W").oninput = () => send({ type: "set_weight", W: parseFloat($("ow-W").value) });
  $("speed-label").textContent = `${speed()} steps/s`;
}

function ask(sel) {
  if (sel.kind === "unit") send({ type: "inspect_unit", layer: sel.layer, unit: sel.unit });
  else if (sel.kind === "bias") send({ type: "inspect_bias", layer: sel.layer, unit: sel.unit });
  else send({ type: "inspect_weight", layer: sel.layer, from: sel.from, to: sel.to });
}

function select(sel) {
  selected = sel;
  ask(sel);
  if (state && state.mode === "lab") window.renderLab(state);
  else renderNetwork();
}

// -- the whole page from one state ----------------------------------------------------------------------
function render() {
  const s = state;
  const oneWeight = s.mode === "one-weight";
  const lab = s.mode === "lab";
  $("lab-controls").hidden = !lab;
  $("lab-view").hidden = !lab;
  for (const node of document.querySelectorAll(".part1")) node.hidden = lab;
  if (s.mode !== renderedMode) {
    renderedMode = s.mode;
    $("inspect").replaceChildren(heading("Click a neuron or a weight"), paragraph("Its numbers for the last update appear here.", "hint"));
  }
  $("mode").value = s.mode;
  $("inspect").hidden = oneWeight;
  $("loss").hidden = oneWeight;
  if (document.activeElement !== $("learning-rate")) $("learning-rate").value = s.settings.learning_rate;
  for (const node of document.querySelectorAll(".net-only")) node.hidden = oneWeight || lab;
  if (!oneWeight && !lab) {
    $("optimizer").value = s.settings.optimizer;
    if (document.activeElement !== $("l2")) $("l2").value = s.settings.l2;
    if (document.activeElement !== $("batch-size")) $("batch-size").value = s.settings.batch_size;
  }
  $("play").textContent = s.playing ? "Pause" : "Play";
  $("network-view").hidden = oneWeight || lab;
  $("one-weight-view").hidden = !oneWeight;
  $("explain").hidden = !s.explain;
  const parts = [`steps: ${s.steps}`];
  if (!oneWeight) parts.push(`epochs: ${s.epochs_done}`, `E (all examples) = ${fmt(s.loss)}`);
  if (s.stopped) parts.push(`stopped: ${s.stopped}`);
  $("status").textContent = parts.join("   ");
  if (oneWeight) {
    renderOneWeight();
    return;
  }
  if (lab) {
    $("loss").hidden = true;
    window.renderLab(s);
    return;
  }
  renderNetwork();
  renderLoss();
  renderExplain();
}

function unitName(nLayers, layer, unit) {
  if (layer === 0) return `i${unit}`;
  if (layer === nLayers) return `o${unit}`;
  return nLayers === 2 ? `h${unit}` : `h${layer}_${unit}`;
}

function positions(sizes) {
  const width = 900, height = 420, top = 40;
  const dx = (width - 240) / (sizes.length - 1);
  const maxUnits = Math.max(...sizes);
  const dy = Math.min(110, (height - top - 40) / Math.max(1, maxUnits - 1));
  return sizes.map((n, c) => Array.from({ length: n }, (_, r) => ({
    x: 80 + c * dx,
    y: top + (height - top - 40) / 2 + (r - (n - 1) / 2) * dy,
  })));
}

function renderNetwork() {
  const s = state;
  if (!s || s.mode === "one-weight") return;
  const svg = $("network");
  svg.replaceChildren();
  const pos = positions(s.sizes);
  const nLayers = s.layers.length;
  const wMax = Math.max(1e-12, ...s.layers.flatMap((l) => l.W.flat().map(Math.abs)));
  const labels = el("g", {}, null);
  s.layers.forEach((layer, k) => {
    layer.W.forEach((row, i) => row.forEach((w, j) => {
      const a = pos[k][i], b = pos[k + 1][j];
      const sel = selected && selected.kind === "weight" && selected.layer === k + 1 && selected.from === i + 1 && selected.to === j + 1;
      const line = el("line", {
        x1: a.x, y1: a.y, x2: b.x, y2: b.y, class: `weight${sel ? " selected" : ""}`,
        stroke: w >= 0 ? "#1f77b4" : "#d62728", "stroke-width": 1 + 6 * Math.abs(w) / wMax,
        "data-layer": k + 1, "data-from": i + 1, "data-to": j + 1, "data-name": layer.weight_names[i][j],
      }, svg);
      line.onclick = () => select({ kind: "weight", layer: k + 1, from: i + 1, to: j + 1 });
      el("title", {}, line, `${layer.weight_names[i][j]} = ${fmt(w)}`);
      const fanOut = row.length;
      const t = fanOut > 1 ? 0.32 + (0.36 * j) / (fanOut - 1) : 0.5;
      const lx = a.x + t * (b.x - a.x), ly = a.y + t * (b.y - a.y);
      const name = layer.weight_names[i][j];
      const grad = s.last && s.last.gradients[k].W;
      const texts = [`${name} = ${fmt(w)}`];
      if (grad) texts.push(`∂E/∂${name} = ${fmt(grad[i][j])}`);
      const wide = Math.max(...texts.map((x) => x.length)) * 5.3;
      el("rect", { x: lx - wide / 2, y: ly - 8, width: wide, height: 12 * texts.length + 2, class: "weight-label-bg" }, labels);
      texts.forEach((text, n) => el("text", {
        x: lx, y: ly + 2 + 12 * n, "text-anchor": "middle", class: "weight-label", "data-weight": name, "data-field": n ? "gradient" : "value",
      }, labels, text));
    }));
  });
  svg.appendChild(labels);
  s.sizes.forEach((n, c) => {
    for (let r = 0; r < n; r++) drawUnit(svg, pos[c][r], c, r, nLayers);
  });
}

function drawUnit(svg, p, c, r, nLayers) {
  const s = state;
  const name = unitName(nLayers, c, r + 1);
  const sel = selected && selected.kind === "unit" && selected.layer === c && selected.unit === r + 1;
  const g = el("g", { class: `unit${sel ? " selected" : ""}`, "data-layer": c, "data-unit": r + 1, "data-name": name }, svg);
  el("circle", { cx: p.x, cy: p.y, r: 42 }, g);
  el("text", { x: p.x, y: p.y - 18, "text-anchor": "middle", class: "name" }, g, name);
  const values = s.last ? s.last.units[c] : null;
  const lines = [];
  if (c === 0) lines.push(`x ${fmt(values ? values.out[r] : null)}`);
  else if (values) lines.push(`net ${fmt(values.net[r])}`, `out ${fmt(values.out[r])}`, `δ ${fmt(values.delta[r])}`);
  lines.forEach((line, i) => el("text", { x: p.x, y: p.y - 4 + i * 12, "text-anchor": "middle", "data-field": line.split(" ")[0] }, g, line));
  const error = s.explain && c === nLayers ? s.explain.error[`E_${name}`] : undefined;
  if (error !== undefined) el("text", { x: p.x + 48, y: p.y + 4, class: "bias", "data-field": "E" }, svg, `E_${name} = ${fmt(error)}`);
  if (c > 0) {
    g.onclick = () => select({ kind: "unit", layer: c, unit: r + 1 });
    const layer = s.layers[c - 1];
    const frozen = layer.frozen.includes("b") ? " (fixed)" : "";
    const bias = el("text", { x: p.x, y: p.y + 54, "text-anchor": "middle", class: "bias", "data-layer": c, "data-unit": r + 1 }, svg,
      `b = ${fmt(layer.b[r])}${frozen}`);
    bias.onclick = () => select({ kind: "bias", layer: c, unit: r + 1 });
  }
}

function renderLoss() {
  const svg = $("loss-curve");
  svg.replaceChildren();
  const pts = state.curve.filter((p) => p[1] !== null);
  if (pts.length < 1) return;
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1), y1 = Math.max(...ys, 1e-12);
  const X = (x) => 30 + (x - x0) / (x1 - x0) * 280, Y = (y) => 140 - y / y1 * 125;
  el("line", { x1: 30, y1: 140, x2: 310, y2: 140, class: "axis" }, svg);
  el("line", { x1: 30, y1: 10, x2: 30, y2: 140, class: "axis" }, svg);
  el("polyline", { points: pts.map((p) => `${X(p[0])},${Y(p[1])}`).join(" "), class: "curve-line" }, svg);
  el("text", { x: 32, y: 12, class: "axis-label" }, svg, fmt(y1));
  el("text", { x: 310, y: 154, "text-anchor": "end", class: "axis-label" }, svg, `step ${x1}`);
}

// -- the clicked neuron or weight ------------------------------------------------------------------------
function table(rows, head) {
  const t = document.createElement("table");
  if (head) {
    const tr = t.insertRow();
    for (const h of head) { const th = document.createElement("th"); th.textContent = h; tr.appendChild(th); }
  }
  for (const [label, value, field] of rows) {
    const tr = t.insertRow();
    tr.insertCell().textContent = label;
    const td = tr.insertCell();
    td.textContent = typeof value === "number" || value === null ? fmt(value) : value;
    if (field) td.dataset.field = field;
  }
  return t;
}

function heading(text) {
  const h = document.createElement("h2");
  h.textContent = text;
  return h;
}

function paragraph(text, cls) {
  const p = document.createElement("p");
  p.textContent = text;
  if (cls) p.className = cls;
  return p;
}

function showUnit(msg) {
  const box = $("inspect");
  const n = msg.samples.length;
  box.replaceChildren(heading(`Neuron ${msg.name} (${msg.activation})`), paragraph(msg.rule, "rule"));
  const examples = n > 1 ? `${n} examples, then their mean` : "one example";
  if (msg.pass === "evaluation") box.appendChild(paragraph(`No update yet: a pass on ${examples}, in evaluation mode (dropout off).`, "pass-note"));
  else box.appendChild(paragraph(n > 1 ? `The last update's batch: ${examples}.` : `The last update's example (${msg.step}).`));
  const drop = msg.dropout;
  const masked = Boolean(drop && drop.applied);
  if (masked) box.appendChild(paragraph(`Dropout ${fmt(drop.rate)}: this update's mask is 0 (dropped) or ${fmt(drop.scale)} = 1/(1 − ${fmt(drop.rate)}); the next layer received out · mask, and ∂E/∂out = mask · ∂E/∂(out · mask).`, "dropout-note"));
  const head = ["example", "net", "out", ...(masked ? ["mask", "out · mask"] : []), "∂E/∂out", "∂out/∂net", "δ"];
  const keys = ["net", "out", ...(masked ? ["mask", "out_after_dropout"] : []), "dE_dout", "dout_dnet", "delta"];
  const t = document.createElement("table");
  t.id = "unit-samples";
  const hr = t.insertRow();
  for (const h of head) { const th = document.createElement("th"); th.textContent = h; hr.appendChild(th); }
  for (const sample of msg.samples) {
    const tr = t.insertRow();
    tr.insertCell().textContent = String(sample.example);
    for (const key of keys) {
      const td = tr.insertCell();
      td.textContent = fmt(sample[key]);
      td.dataset.field = key;
    }
  }
  box.appendChild(t);
  box.appendChild(table([["mean net", msg.mean.net, "mean-net"], ["mean out", msg.mean.out, "mean-out"], ["mean δ", msg.mean.delta, "mean-delta"]]));
}

function showWeight(msg) {
  const box = $("inspect");
  const title = msg.from_name ? `Weight ${msg.name}: ${msg.from_name} → ${msg.to_name}` : `Bias of ${msg.to_name}`;
  box.replaceChildren(heading(title), paragraph(msg.rule, "rule"));
  const masked = Boolean(msg.dropout && msg.dropout.applied);
  const a = (s) => (masked ? `${fmt(s.a)} (out ${fmt(s.out)} · mask ${fmt(s.mask)})` : fmt(s.a));
  const rows = msg.samples.map((s) => [`example ${s.example}: δ · a = ${fmt(s.delta)} · ${a(s)}`, s.product, `product-${s.example}`]);
  rows.push([msg.samples.length > 1 ? "∂E/∂w (the batch's mean)" : "∂E/∂w", msg.frozen ? "held fixed" : msg.gradient, "gradient"]);
  box.appendChild(table(rows));
  const u = msg.update;
  if (!u) {
    const how = msg.pass === "evaluation" ? " (these numbers: a pass in evaluation mode, dropout off)" : "";
    box.appendChild(paragraph(`No update yet${how}: take a step to see it applied.`, "pass-note"));
    return;
  }
  const up = [["before", u.before, "before"]];
  if (u.formula) {
    box.appendChild(paragraph(u.formula, "rule"));
    if (u.l2) up.push(["λ·w (L2)", u.l2_term, "l2-term"], ["g = ∂E/∂w + λ·w", u.g, "g"]);
    up.push(["η", u.eta, "eta"]);
    if (u.minus_eta_g !== undefined) up.push(["−η·g", u.minus_eta_g, "minus-eta-g"]);
    if (u.m !== undefined) {
      up.push(["t", String(u.t), "t"], ["m", u.m, "m"], ["v", u.v, "v"], ["m̂ = m/(1−β₁ᵗ)", u.m_hat, "m-hat"],
        ["v̂ = v/(1−β₂ᵗ)", u.v_hat, "v-hat"], ["−η·m̂/(√v̂+ε)", u.adam_step, "adam-step"]);
    }
  }
  up.push(["applied", u.applied, "applied"], ["after (w⁺)", u.after, "after"]);
  box.appendChild(table(up));
}

// -- the article's explain --------------------------------------------------------------------------------
const PRETTY = {
  dE_dout_o1: "∂E_total/∂out_o1", dout_o1_dnet_o1: "∂out_o1/∂net_o1", dnet_o1_dw5: "∂net_o1/∂w5", dE_dw5: "∂E_total/∂w5",
  dE_o1_dout_h1: "∂E_o1/∂out_h1", dE_o2_dout_h1: "∂E_o2/∂out_h1", dE_dout_h1: "∂E_total/∂out_h1",
  dout_h1_dnet_h1: "∂out_h1/∂net_h1", dnet_h1_dw1: "∂net_h1/∂w1", dE_dw1: "∂E_total/∂w1",
};

function renderExplain() {
  const e = state.explain;
  const t = $("explain-table");
  t.replaceChildren();
  if (!e) return;
  const add = (label, value, key) => {
    const tr = t.insertRow();
    tr.insertCell().textContent = label;
    const td = tr.insertCell();
    td.textContent = fmt(value);
    td.dataset.name = key;
  };
  const section = (name) => { const tr = t.insertRow(); const th = document.createElement("th"); th.colSpan = 2; th.textContent = name; tr.appendChild(th); };
  section("The forward pass");
  for (const [k, v] of Object.entries(e.forward)) add(k, v, k);
  section("The error");
  for (const [k, v] of Object.entries(e.error)) add(k, v, k);
  for (const key of Object.keys(e).filter((k) => k.startsWith("chain_"))) {
    section(`∂E/∂${key.slice(6)} by the chain rule`);
    for (const [k, v] of Object.entries(e[key])) add(PRETTY[k] || k, v, k);
  }
  section("Gradients");
  for (const [k, v] of Object.entries(e.gradients)) add(`∂E/∂${k}`, v, `gradient-${k}`);
  section(`Updated (η = ${e.learning_rate})`);
  for (const [k, v] of Object.entries(e.updated)) add(`${k}⁺`, v, `updated-${k}`);
  add("E_total after the step", e.error_after_one_step, "error_after_one_step");
}

// -- one weight -------------------------------------------------------------------------------------------
function renderOneWeight() {
  const s = state;
  if (document.activeElement !== $("ow-W")) $("ow-W").value = s.W;
  $("ow-W-label").textContent = fmt(s.W);
  const t = $("ow-table");
  t.replaceChildren();
  const head = t.insertRow();
  for (const h of ["input", "desired output", "model output", "absolute error", "square error"]) {
    const th = document.createElement("th"); th.textContent = h; head.appendChild(th);
  }
  for (const row of s.table.rows) {
    const tr = t.insertRow();
    for (const key of ["input", "desired", "output", "absolute_error", "square_error"]) {
      const td = tr.insertCell(); td.textContent = fmt(row[key]); td.dataset.field = key;
    }
  }
  $("ow-summary").textContent = `W = ${fmt(s.W)}: total square error ${fmt(s.table.total_square_error)}, ` +
    `E = ${fmt(s.table.E)}, ∂E/∂W = ${fmt(s.table.dE_dW)}; one step at η = ${s.settings.learning_rate} gives W⁺ = ${fmt(s.table.W_next)}`;
  drawCurve();
}

function curveScale() {
  const c = state.curve;
  const w0 = c.W[0], w1 = c.W[c.W.length - 1], e1 = Math.max(...c.E.filter((e) => e !== null));
  return { X: (w) => 40 + (w - w0) / (w1 - w0) * 580, Y: (e) => 290 - Math.min(e, e1) / e1 * 270, W: (x) => w0 + (x - 40) / 580 * (w1 - w0) };
}

function drawCurve() {
  const svg = $("ow-curve");
  svg.replaceChildren();
  const { X, Y } = curveScale();
  const c = state.curve;
  el("line", { x1: 40, y1: 290, x2: 620, y2: 290, class: "axis" }, svg);
  el("polyline", { points: c.W.map((w, i) => `${X(w)},${Y(c.E[i])}`).join(" "), class: "curve-line" }, svg);
  for (const w of [c.W[0], 0, 2, c.W[c.W.length - 1]]) el("text", { x: X(w), y: 305, "text-anchor": "middle", class: "axis-label" }, svg, `W = ${w}`);
  el("text", { x: X(2), y: Y(0) - 10, "text-anchor": "middle", class: "axis-label" }, svg, "global loss minimum");
  const p = state.path;
  if (p.W.length > 1) el("polyline", { points: p.W.map((w, i) => `${X(w)},${Y(p.E[i])}`).join(" "), class: "path-line" }, svg);
  el("circle", { id: "ow-marker", cx: X(state.W), cy: Y(state.table.E), r: 7 }, svg);
  svg.onpointerdown = (event) => { dragTo(event); svg.onpointermove = (e) => { if (e.buttons) dragTo(e); }; };
}

function dragTo(event) {
  const svg = $("ow-curve");
  const box = svg.getBoundingClientRect();
  const x = (event.clientX - box.left) / box.width * 640;
  const W = Math.max(-10, Math.min(10, curveScale().W(x)));
  send({ type: "set_weight", W: Math.round(W * 1000) / 1000 });
}

// Connect once every script of the page has run (lab.js answers the socket's opening with a shared link's set-up).
document.addEventListener("DOMContentLoaded", () => {
  wire();
  connect();
});
