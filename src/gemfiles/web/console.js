// The gemfiles console: plain DOM, no framework, no build step. Every call to /_internal/admin/ sends the
// admin token (kept in this tab's sessionStorage) as "Authorization: Bearer"; data is inserted as text, never
// as HTML.
"use strict";

const API = "/_internal/admin";
const TOKEN_KEY = "gemfiles.adminToken";
const REFRESH_MS = 5000;
const state = { project: null, files: [], thumbs: new Map(), timer: null, tick: null };

const $ = (id) => document.getElementById(id);

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

class Refused extends Error {}

async function api(path, options = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const response = await fetch(API + path, {
    ...options,
    headers: { ...(options.headers || {}), Authorization: `Bearer ${token || ""}` },
  });
  if (response.status === 401) {
    let message = "the admin token was refused";
    try { message = (await response.json()).error.message; } catch (_) { /* not JSON */ }
    throw new Refused(`Refused (401 UNAUTHENTICATED): ${message}`);
  }
  if (!response.ok) {
    let message = response.statusText;
    try { message = (await response.json()).error.message; } catch (_) { /* not JSON */ }
    throw new Error(`${response.status}: ${message}`);
  }
  return options.raw ? response : response.json();
}

// Formatting --------------------------------------------------------------------------------------------

function bytes(value) {
  let n = Number(value);
  const units = ["B", "KB", "MB", "GB", "TB", "PB"];
  let unit = 0;
  while (n >= 1000 && unit < units.length - 1) { n /= 1000; unit += 1; }
  return `${n >= 100 || unit === 0 ? n.toFixed(0) : n.toFixed(1)} ${units[unit]}`;
}

function countdown(iso) {
  let seconds = Math.floor((Date.parse(iso) - Date.now()) / 1000);
  if (seconds <= 0) return "expired";
  const days = Math.floor(seconds / 86400); seconds %= 86400;
  const hours = Math.floor(seconds / 3600); seconds %= 3600;
  const minutes = Math.floor(seconds / 60); seconds %= 60;
  const pad = (v) => String(v).padStart(2, "0");
  return (days ? `${days}d ` : "") + `${pad(hours)}:${pad(minutes)}:${pad(seconds)}`;
}

function clock(iso) {
  return new Date(iso).toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

function meter(parts, total) {
  const bar = h("div", { class: "meter" });
  let left = 0;
  for (const [cls, value] of parts) {
    const width = total > 0 ? Math.min(100 - left, (Number(value) / total) * 100) : 0;
    if (width <= 0) continue;
    const span = h("span", { class: cls });
    span.style.left = `${left}%`;
    span.style.width = `${Math.max(width, 0.8)}%`;
    bar.append(span);
    left += width;
  }
  return bar;
}

function fill(tableId, rows, emptyId) {
  const body = $(tableId).querySelector("tbody");
  body.replaceChildren(...rows);
  if (emptyId) $(emptyId).hidden = rows.length > 0;
}

// Sections ----------------------------------------------------------------------------------------------

async function loadProjects() {
  const data = await api("/projects");
  $("quota-default").textContent = `default quota ${bytes(data.defaultQuotaBytes)}`;
  const projects = data.projects.slice().sort((a, b) => Number(b.usedBytes) - Number(a.usedBytes));
  if (!state.project && projects.length) state.project = projects[0].project;
  fill("projects", projects.map((p) => {
    const quota = Number(p.quotaBytes);
    const share = quota ? ((Number(p.usedBytes) + Number(p.reservedBytes)) / quota) * 100 : 0;
    return h("tr", { class: p.project === state.project ? "selected" : "", onclick: () => choose(p.project) },
      h("td", {}, h("span", { class: "mono" }, p.project), p.ownQuota ? h("span", { class: "muted" }, " · own quota") : null),
      h("td", { class: "num" }, p.files),
      h("td", { class: "wide" },
        meter([[share > 100 ? "over" : "used", p.usedBytes], ["reserved", p.reservedBytes]], quota),
        h("div", { class: "meter-label" }, `${share.toFixed(share < 1 ? 2 : 0)}% of quota`)),
      h("td", { class: "num" }, bytes(p.usedBytes)),
      h("td", { class: "num" }, bytes(p.reservedBytes)),
      h("td", { class: "num" }, bytes(p.quotaBytes)));
  }), "projects-empty");
}

function choose(project) {
  state.project = project;
  document.querySelectorAll("#projects tbody tr").forEach((row) => {
    row.classList.toggle("selected", row.querySelector(".mono").textContent === project);
  });
  loadFiles().catch(report);
}

async function thumbnail(file) {
  const key = `${state.project}/${file.name}/${file.sha256Hex}`;
  const box = h("div", { class: "thumb" }, file.kind === "audio" ? "♪ audio" : "");
  if (!file.preview) {
    if (!box.textContent) box.textContent = "—";
    return box;
  }
  let cached = state.thumbs.get(key);
  if (!cached) {
    cached = api(`/projects/${encodeURIComponent(state.project)}/files/${file.name.slice(6)}/preview`, { raw: true })
      .then(async (response) => ({ url: URL.createObjectURL(await response.blob()), note: response.headers.get("X-Preview-Note") }))
      .catch(() => null);
    state.thumbs.set(key, cached);
  }
  cached.then((found) => {
    if (!found) { box.textContent = "no preview"; return; }
    box.replaceChildren(h("img", {
      src: found.url, alt: `preview of ${file.displayName || file.name}`, title: found.note || "Show larger", class: "preview",
      onclick: () => enlarge(file, found),
    }));
  });
  return box;
}

function enlarge(file, found) {
  $("player-title").textContent = file.displayName || file.name;
  $("player-body").replaceChildren(h("figure", { class: "large" }, h("img", { src: found.url, alt: "" }),
    found.note ? h("figcaption", { class: "muted" }, found.note) : null));
  $("player").hidden = false;
}

function play(file) {
  const media = file.kind === "video"
    ? h("video", { src: file.mediaUrl, controls: true, preload: "metadata" })
    : h("audio", { src: file.mediaUrl, controls: true, preload: "metadata" });
  $("player-title").textContent = file.displayName || file.name;
  $("player-body").replaceChildren(media);
  $("player").hidden = false;
  media.play().catch(() => {});
}

function facts(file) {
  const f = file.facts || {};
  if (file.kind === "pdf" && f.pages) return `${f.pages} page${f.pages === 1 ? "" : "s"}${f.first_line ? ` · “${f.first_line}”` : ""}`;
  if (f.width && f.height) return `${f.width}×${f.height}${f.duration_seconds ? ` · ${f.duration_seconds.toFixed(1)} s` : ""}`;
  if (f.duration_seconds) return `${f.duration_seconds.toFixed(1)} s`;
  return "";
}

async function loadFiles() {
  if (!state.project) return;
  $("files-project").textContent = state.project;
  const data = await api(`/projects/${encodeURIComponent(state.project)}/files?pageSize=100`);
  state.files = data.files;
  const rows = await Promise.all(data.files.map(async (file) => h("tr", { "data-name": file.name },
    h("td", {}, await thumbnail(file)),
    h("td", {},
      h("div", { class: "file-name" }, file.displayName || file.name),
      h("div", { class: "file-sub" }, h("span", { class: "mono" }, file.name), facts(file) ? ` · ${facts(file)}` : "",
        file.mediaUrl ? h("span", {}, " · ", h("button", { class: "link", onclick: () => play(file) }, "▶ play")) : null)),
    h("td", {}, h("span", { class: `badge ${file.state}` }, file.state)),
    h("td", { class: "num" }, bytes(file.sizeBytes)),
    h("td", { class: "mono" }, file.mimeType),
    h("td", { class: "countdown mono", "data-expire": file.expireTime }, countdown(file.expireTime)),
    h("td", { class: "mono sha", title: file.sha256Hex, onclick: () => navigator.clipboard && navigator.clipboard.writeText(file.sha256Hex) },
      file.sha256Hex ? `${file.sha256Hex.slice(0, 12)}…` : "—"))));
  fill("files", rows);
  $("files-empty").hidden = rows.length > 0;
  $("files-empty").textContent = "This project has no unexpired file.";
}

function short(project) {
  return project.length > 18 ? `${project.slice(0, 16)}…` : project;
}

async function loadUploads() {
  const data = await api("/uploads");
  fill("uploads", data.uploads.map((u) => {
    const received = Number(u.receivedBytes);
    const declared = u.declaredBytes === null ? null : Number(u.declaredBytes);
    const label = declared === null ? `${bytes(received)} (size not declared)`
      : `${bytes(received)} of ${bytes(declared)} · ${declared ? ((received / declared) * 100).toFixed(0) : 100}%`;
    return h("tr", {},
      h("td", {}, h("div", { class: "file-name" }, u.displayName || u.name),
        h("div", { class: "file-sub mono", title: u.project }, `${short(u.project)} · ${u.mimeType}`)),
      h("td", { class: "wide" }, meter([["used", received]], declared || received || 1),
        h("div", { class: "meter-label" }, label)));
  }), "uploads-empty");
}

async function loadBatches() {
  const data = await api("/batches");
  fill("batches", data.batches.map((b) => {
    const stateName = b.state.replace("BATCH_STATE_", "");
    const total = b.requestCount || b.succeeded + b.failed + b.pending;
    return h("tr", {},
      h("td", {}, h("div", { class: "file-name" }, b.displayName || b.name),
        h("div", { class: "file-sub mono", title: `${b.name} · ${b.project}` }, `${short(b.project)} · ${b.model.replace("models/", "")}`)),
      h("td", {}, h("span", { class: `badge ${stateName}` }, stateName)),
      h("td", { class: "wide" }, meter([["used", b.succeeded], ["over", b.failed]], total || 1),
        h("div", { class: "meter-label" }, `${b.succeeded} ok · ${b.failed} failed · ${b.pending} left of ${total}`)),
      h("td", { class: "nowrap" }, clock(b.createTime)));
  }), "batches-empty");
}

async function loadRequests() {
  const data = await api("/requests");
  const own = (r) => r.route.startsWith("/_internal/admin") || r.route.startsWith("/console");
  const shown = $("show-console").checked ? data.requests : data.requests.filter((r) => !own(r));
  fill("requests", shown.slice(0, 25).map((r) => h("tr", {},
    h("td", { class: "mono" }, new Date(r.time * 1000).toLocaleTimeString()),
    h("td", { class: "mono" }, r.method),
    h("td", { class: "mono" }, r.route),
    h("td", { class: `num status-${String(r.status)[0]}` }, r.status),
    h("td", { class: "num" }, r.duration_ms.toFixed(1)),
    h("td", { class: "num" }, bytes(r.bytes_in)),
    h("td", { class: "num" }, bytes(r.bytes_out)),
    h("td", { class: "mono", title: r.project || "" }, r.project ? short(r.project) : "—"))));
}

// Charts: inline SVG -------------------------------------------------------------------------------------

const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function chart(target, values, step, end, format) {
  const width = 600, height = 150, left = 56, bottom = 18, top = 8;
  const max = Math.max(1, ...values);
  const x = (i) => left + (i / Math.max(1, values.length - 1)) * (width - left - 4);
  const y = (v) => top + (1 - v / max) * (height - top - bottom);
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", role: "img" });
  for (const fraction of [0, 0.5, 1]) {
    const yy = y(max * fraction);
    svg.append(s("line", { class: "grid", x1: left, x2: width, y1: yy, y2: yy }));
    svg.append(s("text", { x: left - 6, y: yy + 3, "text-anchor": "end" }, format(max * fraction)));
  }
  const points = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`);
  svg.append(s("path", { class: "area", d: `M${x(0)},${y(0)} L${points.join(" L")} L${x(values.length - 1)},${y(0)} Z` }));
  svg.append(s("path", { class: "line", d: `M${points.join(" L")}` }));
  const minutes = Math.round((values.length * step) / 60);
  svg.append(s("text", { x: left, y: height - 4 }, `${minutes} min ago`));
  svg.append(s("text", { x: width - 4, y: height - 4, "text-anchor": "end" }, new Date(end * 1000).toLocaleTimeString()));
  target.replaceChildren(svg);
}

async function loadTraffic() {
  const data = await api("/traffic");
  const step = data.stepSeconds;
  const rates = data.requests.map((n) => n / step);
  const throughput = data.uploadBytes.map((n) => n / step);
  chart($("chart-requests"), rates, step, data.end, (v) => `${v.toFixed(v < 10 ? 1 : 0)}/s`);
  chart($("chart-uploads"), throughput, step, data.end, (v) => `${bytes(v)}/s`);
  const last = (list) => list.slice(-12).reduce((a, b) => a + b, 0);
  $("requests-total").textContent = `${last(data.requests)} in the last minute`;
  $("upload-total").textContent = `${bytes(last(data.uploadBytes))} in the last minute`;
}

// Session -------------------------------------------------------------------------------------------------

function report(error) {
  if (error instanceof Refused) { signOut(error.message); return; }
  $("status").textContent = `Last refresh failed: ${error.message}`;
}

async function refresh() {
  try {
    await loadProjects();
    await Promise.all([loadFiles(), loadUploads(), loadBatches(), loadRequests(), loadTraffic()]);
    $("status").textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    report(error);
  }
}

function showConsole() {
  $("login").hidden = true;
  $("main").hidden = false;
  $("logout").hidden = false;
  refresh();
  state.timer = setInterval(refresh, REFRESH_MS);
  state.tick = setInterval(() => {
    document.querySelectorAll("td.countdown").forEach((cell) => { cell.textContent = countdown(cell.dataset.expire); });
  }, 1000);
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  clearInterval(state.timer);
  clearInterval(state.tick);
  state.project = null;
  state.thumbs.clear();
  $("main").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  $("status").textContent = "";
  $("login-error").hidden = !message;
  $("login-error").textContent = message || "";
}

async function signIn(event) {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
  try {
    await api("/projects");
  } catch (error) {
    signOut(error instanceof Refused ? error.message : `The server did not answer: ${error.message}`);
    return;
  }
  $("login-error").hidden = true;
  $("token").value = "";
  showConsole();
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", signIn);
  $("show-console").addEventListener("change", () => loadRequests().catch(report));
  $("logout").addEventListener("click", () => signOut());
  $("player-close").addEventListener("click", () => { $("player-body").replaceChildren(); $("player").hidden = true; });
  if (sessionStorage.getItem(TOKEN_KEY)) {
    api("/projects").then(showConsole, (error) => signOut(error instanceof Refused ? error.message : ""));
  }
});
