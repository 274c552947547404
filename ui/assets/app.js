// pilotlight's web view: plain JavaScript, no build step, no libraries.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

async function getJSON(url) {
  const resp = await fetch(url, { cache: "no-store" });
  if (!resp.ok) throw new Error(url + ": " + resp.status + " " + (await resp.text()));
  return resp.json();
}

// Layers: a workload nobody calls is on the left, a service one right of
// its callers, a workload one right of the services that reach it.
function layers(graph) {
  const layer = new Map(graph.nodes.map((n) => [n.id, n.kind === "service" ? 1 : 0]));
  for (let round = 0; round < graph.nodes.length; round++) {
    let changed = false;
    for (const e of graph.edges) {
      const want = (layer.get(e.from) || 0) + 1;
      if ((layer.get(e.to) || 0) < want && want <= graph.nodes.length) {
        layer.set(e.to, want);
        changed = true;
      }
    }
    if (!changed) break;
  }
  return layer;
}

function edgeLabel(e) {
  const parts = [e.requestsPerSecond.toFixed(2) + " rps"];
  if (e.protocol !== "tcp") parts.push((100 * e.errorRate).toFixed(0) + "% err", "p99 " + e.p99Millis + " ms");
  if (e.mutualTLS) parts.push("mTLS");
  return parts.join(" · ");
}

function drawGraph(graph) {
  const svg = $("#graph");
  svg.replaceChildren();
  const layer = layers(graph);
  const columns = new Map();
  for (const n of graph.nodes) {
    const l = layer.get(n.id);
    if (!columns.has(l)) columns.set(l, []);
    columns.get(l).push(n);
  }
  const W = 420, H = 70, boxW = 200, boxH = 36;
  const pos = new Map();
  const order = [...columns.keys()].sort((a, b) => a - b);
  order.forEach((l, ci) => {
    columns.get(l).sort((a, b) => a.id.localeCompare(b.id)).forEach((n, ri) => {
      pos.set(n.id, { x: 20 + ci * W, y: 20 + ri * H });
    });
  });
  const maxRows = Math.max(1, ...[...columns.values()].map((c) => c.length));
  svg.setAttribute("viewBox", `0 0 ${40 + order.length * W} ${40 + maxRows * H}`);
  const defs = el("defs");
  const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto" });
  marker.appendChild(el("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#7d8799" }));
  defs.appendChild(marker);
  svg.appendChild(defs);
  for (const e of graph.edges) {
    const a = pos.get(e.from), b = pos.get(e.to);
    if (!a || !b) continue;
    const x1 = a.x + boxW, y1 = a.y + boxH / 2, x2 = b.x, y2 = b.y + boxH / 2;
    const g = el("g", {
      class: "edge" + (e.errorRate > 0 ? " errors" : "") + (e.mutualTLS ? " mtls" : ""),
      "data-edge": e.from + " -> " + e.to, "data-rps": e.requestsPerSecond, "data-error-rate": e.errorRate,
      "data-p99": e.p99Millis, "data-mtls": e.mutualTLS,
    });
    const mid = (x1 + x2) / 2;
    g.appendChild(el("path", { d: `M ${x1} ${y1} C ${mid} ${y1}, ${mid} ${y2}, ${x2} ${y2}`, "marker-end": "url(#arrow)" }));
    g.appendChild(el("text", { x: mid, y: (y1 + y2) / 2 - 6, "text-anchor": "middle" }, edgeLabel(e)));
    g.appendChild(el("title", {}, e.from + " → " + e.to));
    svg.appendChild(g);
  }
  for (const n of graph.nodes) {
    const p = pos.get(n.id);
    const g = el("g", { class: "node " + n.kind, "data-node": n.id, transform: `translate(${p.x},${p.y})` });
    g.appendChild(el("rect", { width: boxW, height: boxH, rx: n.kind === "service" ? 17 : 3 }));
    const label = n.kind === "service" ? n.name + "." + n.namespace : n.id;
    g.appendChild(el("text", { x: 8, y: 15 }, label.length > 30 ? label.slice(0, 29) + "…" : label));
    g.appendChild(el("text", { x: 8, y: 28, class: "muted" }, n.kind + (n.version ? " " + n.version : "")));
    g.appendChild(el("title", {}, n.id));
    svg.appendChild(g);
  }
}

function drawProblems(problems) {
  const body = $("#problems tbody");
  body.replaceChildren();
  for (const p of problems) {
    const row = body.insertRow();
    cell(row, p.source);
    cell(row, ((p.kind || "") + " " + (p.name || "")).trim());
    cell(row, p.field || "");
    cell(row, p.reason);
  }
  $("#no-problems").hidden = problems.length > 0;
  $("#problem-count").textContent = problems.length ? String(problems.length) : "";
}

function drawProxies(rows) {
  const body = $("#proxies tbody");
  body.replaceChildren();
  const select = $("#explain-proxy");
  const selected = select.value;
  select.replaceChildren();
  for (const p of rows) {
    const row = body.insertRow();
    row.dataset.proxy = p.pod;
    cell(row, p.pod);
    for (const t of ["CDS", "LDS", "EDS", "RDS", "SDS"]) cell(row, p.states[t], p.states[t].split(" ")[0]);
    cell(row, p.envoyVersion || "-");
    const link = document.createElement("a");
    link.href = "#explain";
    link.textContent = "explain";
    link.addEventListener("click", () => { select.value = p.pod; loadExplain(); });
    row.insertCell().appendChild(link);
    select.appendChild(new Option(p.pod, p.pod));
  }
  if (selected) select.value = selected;
}

async function loadExplain() {
  const pod = $("#explain-proxy").value;
  if (!pod) return;
  try {
    const resp = await fetch("/debug/explain?proxy=" + encodeURIComponent(pod), { cache: "no-store" });
    $("#explain").textContent = await resp.text();
  } catch (err) {
    $("#explain").textContent = String(err);
  }
}

async function refresh() {
  try {
    const [graph, proxies] = await Promise.all([getJSON("/ui/api/graph"), getJSON("/ui/api/proxies")]);
    $("#metrics-off").hidden = graph.metricsEnabled;
    drawGraph(graph);
    drawProblems(graph.problems);
    drawProxies(proxies);
    $("#updated").textContent = "updated " + new Date().toLocaleTimeString();
    document.body.dataset.loaded = "true";
  } catch (err) {
    $("#updated").textContent = "cannot reach pilotlight: " + err.message;
  }
}

function showTab() {
  const tab = (location.hash || "#graph").slice(1);
  for (const s of document.querySelectorAll("main > section")) s.hidden = s.id !== "tab-" + tab;
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.tab === tab);
  if (tab === "explain") loadExplain();
}

window.addEventListener("hashchange", showTab);
$("#explain-proxy").addEventListener("change", loadExplain);
showTab();
refresh();
setInterval(refresh, 2000);
