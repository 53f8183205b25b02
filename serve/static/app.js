// The forecast page: a curve in, a fan chart, the final value, a stop/continue verdict and a what-if panel out.
// All state lives in the URL query, with the API's field names (x, y, horizon, direction, bounds, schedule,
// best_so_far), so a link reproduces the chart. Plain JavaScript and hand-written SVG: nothing from a CDN.
"use strict";

const $ = (id) => document.getElementById(id);
const LEVELS = [0.05, 0.25, 0.5, 0.75, 0.95];
const N_QUERY = 60;
const COLORS = ["#1f6feb", "#d1495b", "#2a9d8f", "#e9c46a"];
const FIELD_OF = { x: "data", y: "data", x_query: "horizon", horizon: "horizon", bounds: "bounds", direction: "direction",
                   schedule: "schedule", best_so_far: "best", cooldown: "what-if", schedules: "what-if" };

// ------------------------------------------------------------------ parsing

class FieldError extends Error {
  constructor(field, message) { super(message); this.field = field; }
}

function number(text, field, what) {
  const v = Number(String(text).trim());
  if (String(text).trim() === "" || !Number.isFinite(v)) throw new FieldError(field, `${what}: '${text}' is not a number`);
  return v;
}

function optionalNumber(text, field, what) {
  return String(text ?? "").trim() === "" ? null : number(text, field, what);
}

// CSV "step,value[,lr]" (a header line is allowed; rows without a value are planned steps with their lr) or JSON.
function parseCurve(text) {
  const t = text.trim();
  if (t === "") throw new FieldError("data", "paste a curve: CSV rows step,value[,lr] or JSON {\"x\": [...], \"y\": [...]}");
  if (t.startsWith("{")) {
    let d;
    try { d = JSON.parse(t); } catch (e) { throw new FieldError("data", `not valid JSON: ${e.message}`); }
    if (!Array.isArray(d.x) || !Array.isArray(d.y)) throw new FieldError("data", "JSON needs arrays x and y");
    return { x: d.x.map((v, i) => number(v, "data", `x[${i}]`)), y: d.y.map((v, i) => number(v, "data", `y[${i}]`)),
             lrSteps: d.lr ? d.x.slice() : null, lr: d.lr ? d.lr.map((v, i) => number(v, "data", `lr[${i}]`)) : null };
  }
  const x = [], y = [], lrSteps = [], lr = [];
  const lines = t.split(/\r?\n/);
  lines.forEach((line, i) => {
    const cells = line.split(/[,;\t]/).map((c) => c.trim());
    if (line.trim() === "" || (i === 0 && cells.some((c) => c !== "" && !Number.isFinite(Number(c))))) return;
    if (cells.length < 2) throw new FieldError("data", `line ${i + 1}: expected step,value[,lr], got '${line}'`);
    const step = number(cells[0], "data", `line ${i + 1}, step`);
    if (cells[1] !== "") { x.push(step); y.push(number(cells[1], "data", `line ${i + 1}, value`)); }
    if (cells.length > 2 && cells[2] !== "") { lrSteps.push(step); lr.push(number(cells[2], "data", `line ${i + 1}, lr`)); }
  });
  if (x.length === 0) throw new FieldError("data", "no row with a value");
  return { x, y, lrSteps: lr.length ? lrSteps : null, lr: lr.length ? lr : null };
}

// ------------------------------------------------------------------ state <-> form <-> URL

function readForm() {
  const curve = parseCurve($("data").value);
  const req = { x: curve.x, y: curve.y, direction: $("direction").value };
  const lo = optionalNumber($("bounds-low").value, "bounds", "lower bound");
  const hi = optionalNumber($("bounds-high").value, "bounds", "upper bound");
  if (lo !== null || hi !== null) req.bounds = [lo, hi];
  const horizon = optionalNumber($("horizon").value, "horizon", "horizon");
  if (horizon !== null) req.horizon = horizon;
  const kind = $("schedule-kind").value;
  if (kind === "named") {
    const s = { name: $("sched-name").value, total: number($("sched-total").value, "schedule", "total steps"),
                peak: number($("sched-peak").value, "schedule", "peak lr") };
    const extra = { cooldown: "sched-cooldown", warmup: "sched-warmup", final_ratio: "sched-final" };
    for (const [key, id] of Object.entries(extra)) {
      const v = optionalNumber($(id).value, "schedule", key);
      if (v !== null) s[key] = v;
    }
    if (["wsd"].includes(s.name)) s.shape = $("sched-shape").value;
    req.schedule = s;
  } else if (kind === "column") {
    if (!curve.lr) throw new FieldError("schedule", "the curve has no lr column (a third CSV column, or lr in the JSON)");
    req.schedule = { steps: curve.lrSteps, lr: curve.lr };
  }
  const best = optionalNumber($("best").value, "best", "best final value");
  return { req, best };
}

function toQuery({ req, best }) {
  const p = new URLSearchParams();
  p.set("x", req.x.join(","));
  p.set("y", req.y.join(","));
  p.set("direction", req.direction);
  if (req.bounds) p.set("bounds", req.bounds.map((v) => (v === null ? "" : v)).join(","));
  if (req.horizon !== undefined) p.set("horizon", req.horizon);
  if (req.schedule) p.set("schedule", JSON.stringify(req.schedule));
  if (best !== null) p.set("best_so_far", best);
  return p.toString();
}

function fromQuery() {
  const p = new URLSearchParams(window.location.search);
  if (!p.has("x") || !p.has("y")) return false;
  const x = p.get("x").split(","), y = p.get("y").split(",");
  let schedule = null;
  if (p.has("schedule")) {
    try { schedule = JSON.parse(p.get("schedule")); } catch (e) { showError("schedule", `schedule in the link is not JSON: ${e.message}`); }
  }
  const rows = x.map((s, i) => [s, y[i] ?? ""]);
  if (schedule && schedule.steps) {
    const lrAt = new Map(schedule.steps.map((s, i) => [String(s), schedule.lr[i]]));
    rows.forEach((r) => r.push(lrAt.has(r[0]) ? lrAt.get(r[0]) : ""));
    schedule.steps.forEach((s, i) => { if (!x.includes(String(s))) rows.push([String(s), "", String(schedule.lr[i])]); });
  }
  $("data").value = rows.map((r) => r.join(",")).join("\n");
  $("direction").value = p.get("direction") || "min";
  const bounds = (p.get("bounds") || ",").split(",");
  $("bounds-low").value = bounds[0] ?? ""; $("bounds-high").value = bounds[1] ?? "";
  $("horizon").value = p.get("horizon") || "";
  $("best").value = p.get("best_so_far") || "";
  if (schedule && schedule.steps) $("schedule-kind").value = "column";
  else if (schedule && schedule.name) {
    $("schedule-kind").value = "named";
    $("sched-name").value = schedule.name; $("sched-total").value = schedule.total ?? ""; $("sched-peak").value = schedule.peak ?? "";
    $("sched-cooldown").value = schedule.cooldown ?? ""; $("sched-warmup").value = schedule.warmup ?? "";
    $("sched-final").value = schedule.final_ratio ?? ""; if (schedule.shape) $("sched-shape").value = schedule.shape;
  }
  syncSchedule();
  return true;
}

function syncSchedule() {
  $("named").hidden = $("schedule-kind").value !== "named";
}

// ------------------------------------------------------------------ errors

function clearErrors() {
  document.querySelectorAll(".error").forEach((e) => { e.textContent = ""; });
  document.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
}

function showError(field, message) {
  const box = $(`error-${field}`) || $("error-general");
  box.textContent = box.textContent ? `${box.textContent}\n${message}` : message;
  const input = { data: "data", horizon: "horizon", bounds: "bounds-low", best: "best", direction: "direction" }[field];
  if (input) $(input).setAttribute("aria-invalid", "true");
}

// An API error: pydantic's loc (["body", "horizon"]) or the field our messages start with ("y[3]=nan ...").
function showApiError(detail, fallbackField) {
  const items = Array.isArray(detail) ? detail : [{ msg: String(detail) }];
  for (const d of items) {
    let key = Array.isArray(d.loc) && d.loc.length > 1 ? String(d.loc[1]) : null;
    if (!key || key === "body") {
      const m = /^(?:schedule field '|curves\[\d+\]\.)?([a-z_]+)/.exec(d.msg || "");
      key = m ? m[1] : null;
      if ((d.msg || "").startsWith("schedule")) key = "schedule";
    }
    showError(FIELD_OF[key] || fallbackField || "general", d.msg);
  }
}

async function post(path, body) {
  const r = await fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const data = await r.json().catch(() => ({ detail: `HTTP ${r.status}` }));
  if (!r.ok) { const e = new Error("api"); e.detail = data.detail; e.status = r.status; throw e; }
  return data;
}

// ------------------------------------------------------------------ charts

function scales(svg, xs, ys, width = 900, height = 380) {
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const pad = { l: 64, r: 16, t: 12, b: 34 };
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y1 === y0) { y0 -= 1; y1 += 1; }
  const m = 0.05 * (y1 - y0); y0 -= m; y1 += m;
  const sx = (v) => pad.l + ((v - x0) / (x1 - x0 || 1)) * (width - pad.l - pad.r);
  const sy = (v) => height - pad.b - ((v - y0) / (y1 - y0)) * (height - pad.t - pad.b);
  let axes = `<line class="axis" x1="${pad.l}" y1="${height - pad.b}" x2="${width - pad.r}" y2="${height - pad.b}"/>`
           + `<line class="axis" x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${height - pad.b}"/>`;
  for (let i = 0; i <= 4; i++) {
    const xv = x0 + (i / 4) * (x1 - x0), yv = y0 + (i / 4) * (y1 - y0);
    axes += `<text class="tick" x="${sx(xv)}" y="${height - 12}" text-anchor="middle">${fmt(xv)}</text>`;
    axes += `<text class="tick" x="${pad.l - 6}" y="${sy(yv) + 4}" text-anchor="end">${fmt(yv)}</text>`;
  }
  return { sx, sy, axes };
}

function fmt(v) {
  const a = Math.abs(v);
  return a !== 0 && (a >= 1e5 || a < 1e-3) ? v.toExponential(2) : Number(v.toPrecision(4)).toString();
}

function path(xs, ys, sx, sy) { return xs.map((x, i) => `${i ? "L" : "M"}${sx(x).toFixed(1)},${sy(ys[i]).toFixed(1)}`).join(""); }

function band(xs, lo, hi, sx, sy) {
  return path(xs, lo, sx, sy) + xs.slice().reverse().map((x, i) => `L${sx(x).toFixed(1)},${sy(hi[hi.length - 1 - i]).toFixed(1)}`).join("") + "Z";
}

function drawFan(req, pred) {
  const q = pred.quantiles, xq = pred.x_query;
  const all = req.y.concat(q["0.05"], q["0.95"]);
  const { sx, sy, axes } = scales($("fan"), req.x.concat(xq), all);
  const dots = req.x.map((x, i) => `<circle class="observed" cx="${sx(x).toFixed(1)}" cy="${sy(req.y[i]).toFixed(1)}" r="2.5"/>`).join("");
  $("fan").innerHTML = axes
    + `<path class="band90" d="${band(xq, q["0.05"], q["0.95"], sx, sy)}"/>`
    + `<path class="band50" d="${band(xq, q["0.25"], q["0.75"], sx, sy)}"/>`
    + `<path class="median" d="${path(xq, q["0.5"], sx, sy)}"/>` + dots;
}

// ------------------------------------------------------------------ actions

function horizonOf(req) {
  if (req.horizon !== undefined) return req.horizon;
  if (req.schedule && req.schedule.total !== undefined) return req.schedule.total;
  if (req.schedule && req.schedule.steps) return req.schedule.steps[req.schedule.steps.length - 1];
  return null;
}

function queries(req) {
  const end = horizonOf(req), last = req.x[req.x.length - 1];
  if (end === null) throw new FieldError("horizon", "give the horizon (the step the run ends at) or a schedule");
  if (!(end > last)) return [end];
  return Array.from({ length: N_QUERY }, (_, i) => last + ((i + 1) / N_QUERY) * (end - last));
}

async function forecast(event) {
  if (event) event.preventDefault();
  clearErrors();
  let state;
  try { state = readForm(); } catch (e) { if (e instanceof FieldError) { showError(e.field, e.message); return; } throw e; }
  const { req, best } = state;
  history.replaceState(null, "", `?${toQuery(state)}`);
  let pred;
  try {
    pred = await post("/v1/predict", { ...req, x_query: queries(req), quantiles: LEVELS });
  } catch (e) {
    if (e instanceof FieldError) showError(e.field, e.message); else showApiError(e.detail);
    $("result").hidden = true;
    return;
  }
  $("result").hidden = false;
  drawFan(req, pred);
  const k = pred.x_query.length - 1;
  $("final-step").textContent = fmt(pred.x_query[k]);
  $("final-median").textContent = fmt(pred.median[k]);
  $("final-low").textContent = fmt(pred.quantiles["0.05"][k]);
  $("final-high").textContent = fmt(pred.quantiles["0.95"][k]);
  $("verdict").textContent = "";
  if (best !== null) {
    try {
      const d = await post("/v1/early-stop", { ...req, horizon: horizonOf(req), best_so_far: best });
      $("verdict").textContent = `${d.stop ? "Stop" : "Continue"}: ${d.reason}`;
    } catch (e) { showApiError(e.detail, "best"); }
  }
  $("what-if").hidden = !(req.schedule && ["constant", "wsd"].includes(req.schedule.name));
}

function candidates(req, frac) {
  const s = req.schedule, last = req.x[req.x.length - 1], base = { total: s.total, peak: s.peak };
  if (s.warmup) base.warmup = s.warmup;
  const now = 1 - last / s.total;
  const out = { "no cooldown": { name: "constant", ...base } };
  if (now > 0) out["cooldown from now"] = { name: "wsd", ...base, cooldown: now, shape: s.shape || "linear" };
  if (frac > 0 && frac < now) out[`cooldown over the last ${Math.round(frac * 100)} %`] = { name: "wsd", ...base, cooldown: frac, shape: s.shape || "linear" };
  return out;
}

async function whatIf() {
  clearErrors();
  let state;
  try { state = readForm(); } catch (e) { if (e instanceof FieldError) { showError(e.field, e.message); return; } throw e; }
  const { req } = state;
  let frac;
  try { frac = number($("cooldown-frac").value, "what-if", "cooldown length"); } catch (e) { showError(e.field, e.message); return; }
  const cands = candidates(req, frac);
  const body = { x: req.x, y: req.y, direction: req.direction, schedules: cands };
  if (req.bounds) body.bounds = req.bounds;
  let result;
  const lines = {};
  try {
    result = await post("/v1/what-if", body);
    for (const [name, sched] of Object.entries(cands)) {
      lines[name] = await post("/v1/predict", { x: req.x, y: req.y, direction: req.direction, bounds: req.bounds, schedule: sched,
                                                 x_query: queries({ ...req, schedule: sched, horizon: undefined }), quantiles: [0.5] });
    }
  } catch (e) { showApiError(e.detail, "what-if"); return; }
  const names = Object.keys(cands);
  const xs = req.x.concat(...names.map((n) => lines[n].x_query));
  const ys = req.y.concat(...names.map((n) => lines[n].median));
  const { sx, sy, axes } = scales($("what-if-chart"), xs, ys, 900, 300);
  $("what-if-chart").innerHTML = axes
    + req.x.map((x, i) => `<circle class="observed" cx="${sx(x).toFixed(1)}" cy="${sy(req.y[i]).toFixed(1)}" r="2.5"/>`).join("")
    + names.map((n, i) => `<path class="candidate" stroke="${COLORS[i % COLORS.length]}" d="${path(lines[n].x_query, lines[n].median, sx, sy)}"><title>${n}</title></path>`).join("");
  const rows = names.map((n, i) => {
    const c = result.compare.candidates[n], last = c.median.length - 1;
    return `<tr><td><span class="key" style="background:${COLORS[i % COLORS.length]}"></span>${n}</td><td>${fmt(c.median[last])}</td>`
         + `<td>[${fmt(c.quantiles["0.05"][last])}, ${fmt(c.quantiles["0.95"][last])}]</td><td>${(100 * result.compare.prob_best[n]).toFixed(0)} %</td></tr>`;
  });
  document.querySelector("#what-if-table tbody").innerHTML = rows.join("");
}

$("curve-form").addEventListener("submit", forecast);
$("schedule-kind").addEventListener("change", syncSchedule);
$("what-if-run").addEventListener("click", whatIf);
$("file").addEventListener("change", async (e) => {
  const f = e.target.files[0];
  if (f) $("data").value = await f.text();
});
syncSchedule();
if (fromQuery()) forecast();
