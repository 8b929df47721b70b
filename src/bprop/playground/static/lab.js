// The lab: TensorFlow Playground's data, the digits or your CSV, a network you edit, and the views.
// Like playground.js it only draws what the server computed (docs/PLAYGROUND.md, "The lab's state").
"use strict";

const BLUE = [8, 119, 189], ORANGE = [245, 147, 34], PALETTE = [BLUE, ORANGE, [44, 160, 44], [214, 39, 40],
  [148, 103, 189], [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207]];
let labHidden = { layers: [4, 2], activations: ["tanh", "tanh"] };
let labPoints = null; // the points of the last full state (frames leave them out)
let labMaps = new Map(); // unit key → its heatmap data URL, for the zoom on hover
let pendingFile = null;
let wantedFile = null; // a shared link's file name, until the file is chosen again
let animation = null; // {last, phase, timer}
let pendingSetup = null; // the id of the last setup sent: older replies must not overwrite the form
const scratch = document.createElement("canvas");
scratch.width = scratch.height = 50;

// -- set-up ------------------------------------------------------------------------------------------
function labSetup() {
  const num = (id) => parseFloat($(id).value);
  const setup = {
    type: "setup", mode: "lab", data: $("lab-data").value, noise: parseInt($("lab-noise").value, 10),
    train_percent: parseInt($("lab-train").value, 10), points: parseInt($("lab-points").value, 10),
    layers: labHidden.layers.slice(), activations: labHidden.activations.slice(), loss: $("lab-loss").value,
    init: $("lab-init").value, optimizer: $("lab-optimizer").value, learning_rate: num("lab-lr"),
    batch_size: parseInt($("lab-batch").value, 10), l2: num("lab-l2"), dropout: num("lab-dropout"),
    seed: parseInt($("lab-seed").value, 10),
  };
  for (const [k, v] of Object.entries(setup)) if (typeof v === "number" && Number.isNaN(v)) delete setup[k];
  return setup;
}

function applyLab() {
  selected = null;
  if ($("lab-data").value === "upload" && !(state && state.upload_name)) {
    $("lab-upload-status").textContent = "choose a CSV file";
    return;
  }
  sendSetup(labSetup());
}

function sendSetup(setup) {
  send(setup);
  pendingSetup = setup.id;
}

function renderLayerEditor() {
  const box = $("lab-layers");
  box.replaceChildren();
  labHidden.layers.forEach((n, i) => {
    const span = document.createElement("span");
    span.className = "lab-layer";
    span.dataset.layer = i + 1;
    const minus = document.createElement("button"), plus = document.createElement("button");
    minus.textContent = "−"; plus.textContent = "+";
    minus.className = "lab-fewer"; plus.className = "lab-more-units";
    minus.onclick = () => { if (labHidden.layers[i] > 1) { labHidden.layers[i] -= 1; applyLab(); } };
    plus.onclick = () => { if (labHidden.layers[i] < 256) { labHidden.layers[i] += 1; applyLab(); } };
    const count = document.createElement("span");
    count.className = "lab-width";
    count.textContent = `${n}`;
    const act = document.createElement("select");
    act.className = "lab-activation";
    for (const name of ["tanh", "sigmoid", "relu", "leaky_relu", "identity"]) act.add(new Option(name, name));
    act.value = labHidden.activations[i];
    act.onchange = () => { labHidden.activations[i] = act.value; applyLab(); };
    span.append(`layer ${i + 1}: `, minus, count, plus, act);
    box.appendChild(span);
  });
}

function fromState(s) {
  const st = s.settings;
  labHidden = { layers: st.layers.slice(), activations: st.activations.slice() };
  const set = (id, v) => { if (document.activeElement !== $(id)) $(id).value = v; };
  set("lab-data", st.data); set("lab-noise", st.noise); set("lab-train", st.train_percent); set("lab-points", st.points);
  set("lab-loss", st.loss); set("lab-init", st.init); set("lab-optimizer", st.optimizer); set("lab-lr", st.learning_rate);
  set("lab-batch", st.batch_size); set("lab-l2", st.l2); set("lab-dropout", st.dropout); set("lab-seed", st.seed);
  $("lab-noise-label").textContent = st.noise;
  $("lab-train-label").textContent = st.train_percent;
  renderLayerEditor();
  history.replaceState(null, "", `#${shareHash(s)}`);
}

// The set-up in the address: every setup field; an uploaded file by its name only.
function shareHash(s) {
  const p = new URLSearchParams({ mode: "lab" });
  for (const [k, v] of Object.entries(s.settings)) p.set(k, Array.isArray(v) ? v.join(",") : String(v));
  if (s.settings.data === "upload" && s.upload_name) p.set("file", s.upload_name);
  return p.toString();
}

function setupFromHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  if (p.get("mode") !== "lab") return null;
  const setup = { type: "setup", mode: "lab" };
  const ints = ["noise", "train_percent", "points", "batch_size", "seed"];
  const floats = ["learning_rate", "l2", "dropout"];
  for (const [k, v] of p.entries()) {
    if (ints.includes(k)) setup[k] = parseInt(v, 10);
    else if (floats.includes(k)) setup[k] = parseFloat(v);
    else if (k === "layers") setup.layers = v ? v.split(",").map((x) => parseInt(x, 10)) : [];
    else if (k === "activations") setup.activations = v ? v.split(",") : [];
    else if (["data", "loss", "init", "optimizer"].includes(k)) setup[k] = v;
  }
  if (setup.data === "upload") {
    wantedFile = p.get("file") || "your CSV";
    delete setup.data; // until the file is chosen again
  }
  return setup;
}

window.labOpened = () => {
  const setup = setupFromHash();
  if (!setup) return;
  sendSetup(setup);
  if (wantedFile) {
    $("lab-upload-status").textContent = `This link was made with your own file ${wantedFile}: choose it again (files are never part of a link).`;
    $("lab-upload-status").className = "ask";
  }
};

// -- upload ------------------------------------------------------------------------------------------
function startUpload(file) {
  pendingFile = file;
  $("lab-upload-status").textContent = `sending ${file.name} (${file.size.toLocaleString()} bytes)…`;
  send({ type: "upload", name: file.name || "upload.csv", size: Math.max(1, file.size) });
}

async function sendChunks(chunkBytes) {
  const bytes = new Uint8Array(await pendingFile.arrayBuffer());
  for (let at = 0; at < bytes.length; at += chunkBytes) socket.send(bytes.slice(at, at + chunkBytes));
  if (bytes.length === 0) socket.send(new Uint8Array([10]));
}

window.labError = (msg) => {
  if (msg.id !== undefined && msg.id === pendingSetup) pendingSetup = null;
  if (msg.request === "upload") {
    $("lab-upload-status").textContent = `refused: ${msg.error}`;
    pendingFile = null;
  }
};

function download(name, blob) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

window.labReceive = (msg) => {
  if (msg.type === "upload_ready") { sendChunks(msg.chunk_bytes); return true; }
  if (msg.type === "model") {
    const raw = atob(msg.data);
    const bytes = Uint8Array.from(raw, (c) => c.charCodeAt(0));
    download(msg.filename, new Blob([bytes], { type: "application/octet-stream" }));
    return true;
  }
  if (msg.type === "code") { showCode(msg); return true; }
  if (msg.type === "check") { showCheck(msg); return true; }
  if (msg.type === "weight" && state && state.mode === "lab") {
    showWeight(msg);
    const button = document.createElement("button");
    button.id = "lab-check";
    button.textContent = "Check ∂L/∂w by finite differences";
    button.onclick = () => {
      const m = { type: "check_weight", layer: msg.layer, to: msg.to || msg.unit };
      if (msg.from) m.from = msg.from;
      send(m);
    };
    $("inspect").appendChild(button);
    return true;
  }
  if (msg.type === "state" && msg.mode !== "lab" && location.hash) {
    history.replaceState(null, "", location.pathname); // the address holds the lab's set-up only
  }
  if (msg.type === "state" && msg.mode === "lab") {
    if (msg.full) {
      labPoints = msg.points;
      // The form follows the server, except while a newer setup than this reply's is on its way.
      const current = pendingSetup === null || msg.id === undefined || msg.id >= pendingSetup;
      if (msg.id !== undefined && msg.id >= pendingSetup) pendingSetup = null;
      if (current) fromState(msg);
      if (msg.upload_name) {
        wantedFile = null;
        $("lab-upload-status").textContent = `${msg.upload_name}: ${msg.rows.train} training and ${msg.rows.test} held-out rows`;
        $("lab-upload-status").className = "";
      }
    }
    if (animation && msg.last && animation.waiting) startAnimation(msg.last);
  }
  return false;
};

function showCode(msg) {
  $("lab-code-box").hidden = false;
  $("lab-python").textContent = msg.python;
  $("lab-command").textContent = msg.command || `not expressible: ${msg.why_not}`;
  const link = $("lab-data-link");
  link.replaceChildren();
  if (msg.data_csv) {
    const button = document.createElement("button");
    button.id = "lab-data-csv";
    button.textContent = `Download the data (${state.settings.data}.csv)`;
    button.onclick = () => download(`${state.settings.data}.csv`, new Blob([msg.data_csv], { type: "text/csv" }));
    link.appendChild(button);
  }
}

function showCheck(msg) {
  const box = $("inspect");
  box.appendChild(heading(`Finite-difference check of ${msg.name}`));
  box.appendChild(paragraph(`On the last update's ${msg.rows} example(s), float64, ε = ${msg.eps}: ` +
    "(L(w−2ε) − 8·L(w−ε) + 8·L(w+ε) − L(w+2ε)) / 12ε", "rule"));
  const t = table([["backward pass ∂L/∂w", msg.analytic, "check-analytic"], ["finite differences", msg.numeric, "check-numeric"],
    ["relative error", msg.relative_error, "check-error"]]);
  t.id = "lab-check-table";
  box.appendChild(t);
  if (msg.kinked) box.appendChild(paragraph("A step crossed a ReLU kink: the difference quotient is no derivative here.", "hint"));
  if (state && state.settings.dropout > 0) box.appendChild(paragraph("Checked with dropout off (a random mask has no finite difference): not the update's gradient above, which had its masks.", "hint"));
}

// -- drawing -----------------------------------------------------------------------------------------
function colour(t) {
  // t in [−1, 1]: orange … white … blue, as TensorFlow Playground.
  const c = t >= 0 ? BLUE : ORANGE, a = Math.min(1, Math.abs(t));
  return [255 + (c[0] - 255) * a, 255 + (c[1] - 255) * a, 255 + (c[2] - 255) * a];
}

// Buffers reused from frame to frame (a frame paints about twenty maps: no garbage per map).
const colours = new Uint32Array(256), colourBytes = new Uint8Array(colours.buffer);
let images = new Map(); // size → an ImageData of that size

// Fill `colours` with the 256 colours a map's bytes stand for (one 32-bit RGBA word each), from its lo and hi.
function lookup(map, kind) {
  const lo = map.lo === null ? 0 : map.lo, hi = map.hi === null ? 0 : map.hi;
  const reach = Math.max(Math.abs(lo), Math.abs(hi), 1e-12);
  for (let b = 0; b < 256; b++) {
    let r, g, bl;
    if (kind === "classes") {
      const c = PALETTE[b % PALETTE.length];
      r = 255 - (255 - c[0]) * 0.6; g = 255 - (255 - c[1]) * 0.6; bl = 255 - (255 - c[2]) * 0.6;
    } else {
      // t in [−1, 1]: orange … white … blue, as TensorFlow Playground.
      const t = (lo + (b / 255) * (hi - lo)) / reach, c = t >= 0 ? BLUE : ORANGE, a = Math.min(1, Math.abs(t));
      r = 255 + (c[0] - 255) * a; g = 255 + (c[1] - 255) * a; bl = 255 + (c[2] - 255) * a;
    }
    colourBytes[4 * b] = r; colourBytes[4 * b + 1] = g; colourBytes[4 * b + 2] = bl; colourBytes[4 * b + 3] = 255;
  }
}

// Paint a map into ctx at (x, y), one pixel per grid point.
function paint(ctx, map, size, kind, x = 0, y = 0) {
  const raw = atob(map.data);
  lookup(map, kind);
  if (!images.has(size)) images.set(size, ctx.createImageData(size, size));
  const image = images.get(size), pixels = new Uint32Array(image.data.buffer);
  for (let i = 0; i < raw.length; i++) pixels[i] = colours[raw.charCodeAt(i)];
  ctx.putImageData(image, x, y);
}

// Per layer the units the server chose to draw (s.shown); a gap marks the units left out.
function labPositions(s) {
  const width = 900, height = 460, top = 30;
  const dx = (width - 160) / Math.max(1, s.sizes.length - 1);
  return s.shown.map((units, c) => {
    const entries = [];
    units.forEach((unit, k) => {
      if (k > 0 && unit !== units[k - 1] + 1) entries.push({ unit: -1, hidden: unit - units[k - 1] - 1 });
      entries.push({ unit, k });
    });
    const dy = Math.min(70, (height - top - 30) / Math.max(1, entries.length));
    return entries.map((e, r) => ({ ...e, x: 80 + c * dx, y: top + (height - top - 30) / 2 + (r - (entries.length - 1) / 2) * dy, dy }));
  });
}

// The diagram's nodes are built once per structure (units drawn, activations, the selection) and then
// only updated: a frame changes weights' colours and widths, and repaints the maps' canvas.
let built = { signature: null, lines: [], units: [], pos: null, anim: null };

function buildDiagram(s, pos) {
  const svg = $("lab-network");
  svg.replaceChildren();
  built = { signature: null, lines: [], units: [], pos, anim: null };
  s.layers.forEach((layer, k) => {
    for (const a of pos[k]) for (const b of pos[k + 1]) {
      if (a.unit < 0 || b.unit < 0) continue;
      const sel = selected && selected.kind === "weight" && selected.layer === k + 1 && selected.from === a.unit + 1 && selected.to === b.unit + 1;
      const line = el("line", {
        x1: a.x, y1: a.y, x2: b.x, y2: b.y, class: `weight${sel ? " selected" : ""}`,
        "data-layer": k + 1, "data-from": a.unit + 1, "data-to": b.unit + 1,
      }, svg);
      line.onclick = () => select({ kind: "weight", layer: k + 1, from: a.unit + 1, to: b.unit + 1 });
      // The tooltip's text is written when the pointer comes, not every frame (no DOM change per weight).
      const title = el("title", {}, line);
      line.onmouseenter = () => { title.textContent = `w = ${fmt(state.layers[k].W[a.k][b.k])}`; };
      built.lines.push({ line, k, i: a.k, j: b.k, drawn: "" });
    }
  });
  s.sizes.forEach((n, c) => {
    for (const p of pos[c]) {
      if (p.unit < 0) {
        el("text", { x: p.x, y: p.y + 4, "text-anchor": "middle", class: "lab-more" }, svg, `… ${p.hidden} more`);
        continue;
      }
      built.units.push(buildUnit(svg, p, c));
    }
    const act = c === 0 ? "input" : s.layers[c - 1].activation;
    el("text", { x: pos[c][0].x, y: 16, "text-anchor": "middle", class: "lab-more" }, svg, `${n} ${act}`);
  });
  built.anim = el("g", { class: "anim" }, svg);
}

function buildUnit(svg, p, c) {
  const half = Math.max(8, Math.min(24, p.dy / 2 - 3));
  const sel = selected && selected.kind === "unit" && selected.layer === c && selected.unit === p.unit + 1;
  const g = el("g", { class: `lab-unit${sel ? " selected" : ""}`, "data-layer": c, "data-unit": p.unit + 1 }, svg);
  el("rect", { x: p.x - half, y: p.y - half, width: 2 * half, height: 2 * half }, g);
  const key = `${c}:${p.unit}`;
  g.onmouseenter = () => { const m = labMaps.get(key); if (m) zoom(m.map, m.size, p, half); };
  g.onmouseleave = () => { $("lab-zoom").hidden = true; };
  if (c > 0) g.onclick = () => select({ kind: "unit", layer: c, unit: p.unit + 1 });
  return { g, p, c, half, key };
}

window.renderLab = (s) => {
  const signature = JSON.stringify([s.shown, s.sizes, s.layers.map((l) => l.activation), selected]);
  if (signature !== built.signature) {
    buildDiagram(s, labPositions(s));
    built.signature = signature;
  }
  const wMax = Math.max(1e-12, ...s.layers.flatMap((l) => l.W.flat().map(Math.abs)));
  // A line's attributes are set only when its drawn look changes (a style recalculation per change).
  for (const item of built.lines) {
    const w = s.layers[item.k].W[item.i][item.j];
    const stroke = w >= 0 ? "#0877bd" : "#f59322", width = (0.5 + 5 * Math.abs(w) / wMax).toFixed(1);
    if (item.drawn === stroke + width) continue;
    item.drawn = stroke + width;
    item.line.setAttribute("stroke", stroke);
    item.line.setAttribute("stroke-width", width);
  }
  // The maps are painted on a canvas over the diagram (no image files to encode): pixels, not DOM nodes.
  const canvas = $("lab-maps"), paintCtx = canvas.getContext("2d");
  paintCtx.clearRect(0, 0, canvas.width, canvas.height);
  paintCtx.imageSmoothingEnabled = false;
  const maps = s.heatmaps;
  labMaps = new Map();
  for (const { g, p, c, half, key } of built.units) {
    if (!maps) { delete g.dataset.map; continue; }
    const map = c === 0 ? maps.inputs[p.k] : maps.layers[c - 1][p.k], n = maps.size;
    labMaps.set(key, { map, size: n });
    scratch.width = scratch.height = n;
    paint(scratch.getContext("2d"), map, n);
    paintCtx.drawImage(scratch, p.x - half, p.y - half, 2 * half, 2 * half);
    const range = `${map.lo},${map.hi}`;
    if (g.dataset.map !== range) g.dataset.map = range;
  }
  if (built.anim.firstChild) built.anim.replaceChildren();
  drawAnimation(built.anim, built.pos);
  drawOutput(s);
  drawCurves(s);
  drawNorms(s);
  drawFindings(s);
  drawConfusion(s);
};

function zoom(map, size, p, half) {
  const canvas = $("lab-zoom");
  const box = $("lab-network").getBoundingClientRect();
  const scale = box.width / 900;
  scratch.width = scratch.height = size;
  paint(scratch.getContext("2d"), map, size);
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(scratch, 0, 0, canvas.width, canvas.height);
  canvas.style.left = `${(p.x + half + 6) * scale}px`;
  canvas.style.top = `${Math.max(0, (p.y - 100) * scale)}px`;
  canvas.hidden = false;
}

function drawOutput(s) {
  const canvas = $("lab-output"), ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const maps = s.heatmaps;
  $("lab-output-box").hidden = !maps; // the plane's views need data of two numeric inputs
  if (!maps) return;
  scratch.width = scratch.height = maps.size;
  paint(scratch.getContext("2d"), maps.output, maps.size, maps.output.kind);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(scratch, 0, 0, canvas.width, canvas.height);
  if (labPoints) ctx.drawImage(pointsLayer(s, maps, canvas), 0, 0);
}

// The points drawn once per full state (they do not move between frames).
let pointsCache = { points: null, canvas: document.createElement("canvas") };

function pointsLayer(s, maps, target) {
  if (pointsCache.points === labPoints) return pointsCache.canvas;
  const canvas = pointsCache.canvas;
  canvas.width = target.width;
  canvas.height = target.height;
  const ctx = canvas.getContext("2d");
  pointsCache.points = labPoints;
  const [x0, x1] = maps.x_range, [y0, y1] = maps.y_range;
  let vmax = 1e-12;
  if (s.task === "regression") for (const part of ["train", "test"]) for (const v of labPoints[part].target) vmax = Math.max(vmax, Math.abs(v));
  for (const part of ["train", "test"]) {
    const pts = labPoints[part];
    ctx.strokeStyle = part === "train" ? "#fff" : "#000";
    pts.xy.forEach(([x, y], i) => {
      const t = pts.target[i];
      const rgb = s.task === "regression" ? colour(t / vmax) : PALETTE[t % PALETTE.length];
      ctx.fillStyle = `rgb(${rgb[0]},${rgb[1]},${rgb[2]})`;
      ctx.beginPath();
      ctx.arc((x - x0) / (x1 - x0) * canvas.width, (y1 - y) / (y1 - y0) * canvas.height, 3, 0, 2 * Math.PI);
      ctx.fill();
      ctx.stroke();
    });
  }
  return canvas;
}

// A curve plot's elements are made once and then updated in place: new nodes each frame cost a style pass.
function plot(svg, series, yMax) {
  const key = series.map((sr) => sr.name + sr.cls).join();
  if (svg.dataset.series !== key) {
    svg.replaceChildren();
    svg.dataset.series = key;
    el("line", { x1: 30, y1: 130, x2: 310, y2: 130, class: "axis" }, svg);
    el("line", { x1: 30, y1: 10, x2: 30, y2: 130, class: "axis" }, svg);
    for (const sr of series) el("polyline", { class: sr.cls, "data-series": sr.name, points: "" }, svg);
    el("text", { x: 32, y: 12, class: "axis-label" }, svg);
    el("text", { x: 310, y: 144, "text-anchor": "end", class: "axis-label" }, svg);
  }
  const lines = svg.querySelectorAll("polyline"), [topLabel, stepLabel] = svg.querySelectorAll("text");
  const all = series.flatMap((sr) => sr.points);
  if (all.length < 1) {
    lines.forEach((line) => line.setAttribute("points", ""));
    topLabel.textContent = stepLabel.textContent = "";
    return;
  }
  const x0 = Math.min(...all.map((p) => p[0])), x1 = Math.max(...all.map((p) => p[0]), x0 + 1);
  const top = yMax !== undefined ? yMax : Math.max(1e-12, ...all.map((p) => p[1]));
  const X = (x) => 30 + (x - x0) / (x1 - x0) * 280, Y = (y) => 130 - Math.min(y, top) / top * 115;
  series.forEach((sr, n) => {
    lines[n].setAttribute("points", sr.points.map((p) => `${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(" "));
  });
  topLabel.textContent = fmt(top);
  stepLabel.textContent = `step ${x1}`;
}

function drawCurves(s) {
  const pick = (col) => s.curve.filter((r) => r[col] !== null).map((r) => [r[0], r[col]]);
  plot($("lab-loss-curve"), [{ name: "train", points: pick(1), cls: "curve-line" }, { name: "test", points: pick(2), cls: "test-line" }]);
  const classify = s.task === "classification";
  $("lab-acc-box").hidden = !classify;
  if (classify) plot($("lab-acc-curve"), [{ name: "train", points: pick(3), cls: "curve-line" }, { name: "test", points: pick(4), cls: "test-line" }], 1);
  const last = s.curve[s.curve.length - 1];
  const parts = [`training loss ${fmt(last[1])}`, `test loss ${fmt(last[2])}`];
  if (classify) parts.push(`training accuracy ${fmt(last[3])}`, `test accuracy ${fmt(last[4])}`);
  $("lab-scores").textContent = parts.join(" · ");
}

// Panels whose content did not change since the last frame are left alone (no layout work).
const lastDrawn = new Map();

function changed(name, value) {
  const text = JSON.stringify(value);
  if (lastDrawn.get(name) === text) return false;
  lastDrawn.set(name, text);
  return true;
}

function drawNorms(s) {
  const box = $("lab-norms");
  if (box.children.length !== s.norms.length) {
    box.replaceChildren();
    s.norms.forEach((_, k) => {
      const row = document.createElement("div");
      const svg = document.createElementNS(SVG, "svg");
      svg.setAttribute("viewBox", "0 0 160 28");
      svg.setAttribute("class", "sparkline");
      svg.dataset.layer = k + 1;
      svg.style.width = "160px";
      el("polyline", { class: "spark", points: "" }, svg);
      const label = document.createElement("span");
      row.append(svg, label);
      box.appendChild(row);
    });
  }
  s.norms.forEach((norms, k) => {
    const [svg, label] = box.children[k].children;
    const vals = norms.filter((v) => v !== null && v > 0).map(Math.log10);
    const lo = Math.min(...vals), hi = Math.max(...vals, lo + 1e-9);
    const points = vals.length > 1 ? vals.map((v, i) => `${(i / (vals.length - 1)) * 158 + 1},${26 - ((v - lo) / (hi - lo)) * 24}`).join(" ") : "";
    svg.firstChild.setAttribute("points", points);
    label.textContent = ` layer ${k + 1}: ‖∂L/∂W‖ = ${fmt(norms.length ? norms[norms.length - 1] : null)}`;
  });
}

function drawFindings(s) {
  const items = s.findings.length ? s.findings : [s.epochs_done ? "No problems seen so far." : "Findings appear after the first epoch."];
  if (!changed("findings", items)) return;
  const list = $("lab-findings");
  list.replaceChildren();
  for (const text of items) {
    const li = document.createElement("li");
    li.textContent = text;
    list.appendChild(li);
  }
}

function drawConfusion(s) {
  const box = $("lab-confusion-box");
  box.hidden = !s.confusion;
  if (!s.confusion || !changed("confusion", [s.classes, s.confusion, s.misclassified])) return;
  const t = $("lab-confusion");
  t.replaceChildren();
  const head = t.insertRow();
  head.insertCell().textContent = "true \\ predicted";
  for (const c of s.classes) head.insertCell().textContent = c;
  s.confusion.counts.forEach((row, i) => {
    const tr = t.insertRow();
    tr.insertCell().textContent = s.classes[i];
    row.forEach((n, j) => {
      const td = tr.insertCell();
      td.textContent = n;
      if (i === j) td.className = "hit";
    });
  });
  const images = $("lab-misclassified");
  images.replaceChildren();
  for (const m of s.misclassified || []) {
    const fig = document.createElement("figure");
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 8;
    canvas.style.width = canvas.style.height = "32px";
    canvas.style.imageRendering = "pixelated";
    const ctx = canvas.getContext("2d"), image = ctx.createImageData(8, 8);
    m.pixels.forEach((v, i) => { const g = 255 - Math.round(v / 16 * 255); image.data.set([g, g, g, 255], 4 * i); });
    ctx.putImageData(image, 0, 0);
    const cap = document.createElement("figcaption");
    cap.textContent = `${m.label} → ${m.predicted}`;
    fig.append(canvas, cap);
    fig.className = "misclassified";
    images.appendChild(fig);
  }
}

// -- the animation of one step: forward (out) layer by layer, then backward (δ) --------------------------
function startAnimation(last) {
  if (animation.timer) clearInterval(animation.timer);
  const L = last.units.length - 1;
  const phases = [];
  for (let c = 0; c <= L; c++) phases.push({ layer: c, field: "out" });
  for (let c = L; c >= 1; c--) phases.push({ layer: c, field: "delta" });
  animation = { last, phases, phase: 0, waiting: false };
  animation.timer = setInterval(() => {
    animation.phase += 1;
    if (animation.phase >= animation.phases.length) { clearInterval(animation.timer); animation.done = true; }
    if (state && state.mode === "lab") window.renderLab(state);
  }, 450);
}

function drawAnimation(svg, pos) {
  if (!animation || animation.waiting) return;
  const upto = Math.min(animation.phase, animation.phases.length - 1);
  for (let i = 0; i <= upto; i++) {
    const { layer, field } = animation.phases[i];
    const values = animation.last.units[layer][field];
    for (const p of pos[layer]) {
      if (p.unit < 0) continue;
      const text = `${field === "out" ? "out" : "δ"} ${fmt(values[p.k]).slice(0, 8)}`;
      const y = p.y + (field === "out" ? -p.dy / 2 + 2 : p.dy / 2 + 8);
      el("rect", { x: p.x - 34, y: y - 9, width: 68, height: 11, class: "anim-bg" }, svg);
      el("text", { x: p.x, y, "text-anchor": "middle", class: "anim-label", "data-anim": field, "data-layer": layer, "data-unit": p.unit + 1 }, svg, text);
    }
  }
}

// -- wiring --------------------------------------------------------------------------------------------
function wireLab() {
  for (const id of ["lab-data", "lab-loss", "lab-init", "lab-optimizer"]) $(id).onchange = applyLab;
  for (const id of ["lab-noise", "lab-train"]) {
    $(id).oninput = () => { $(`${id}-label`).textContent = $(id).value; };
    $(id).onchange = applyLab;
  }
  $("lab-apply").onclick = applyLab;
  $("lab-file").onchange = () => {
    const file = $("lab-file").files[0];
    if (file) { $("lab-data").value = "upload"; startUpload(file); }
  };
  $("lab-add-layer").onclick = () => {
    if (labHidden.layers.length >= 8) return;
    labHidden.layers.push(4); labHidden.activations.push(labHidden.activations[labHidden.activations.length - 1] || "tanh");
    applyLab();
  };
  $("lab-remove-layer").onclick = () => {
    if (!labHidden.layers.length) return;
    labHidden.layers.pop(); labHidden.activations.pop();
    applyLab();
  };
  $("lab-download").onclick = () => send({ type: "download" });
  $("lab-code").onclick = () => send({ type: "code" });
  $("lab-link").onclick = () => { if (navigator.clipboard) navigator.clipboard.writeText(location.href).catch(() => {}); };
  $("lab-animate").onclick = () => {
    animation = { waiting: true };
    send({ type: "step", unit: "sample" });
  };
  renderLayerEditor();
}

wireLab();
