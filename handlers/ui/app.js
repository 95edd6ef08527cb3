// The delivery page: a thin client of the admin API. The admin token is
// kept in this tab's sessionStorage and sent as a bearer token; nothing is
// rendered as HTML (text only), so delivery contents cannot inject markup.
"use strict";

const TOKEN_KEY = "ado-temporal-bridge.admin-token";
const GOOD = new Set(["STARTED", "SIGNALED", "ALREADY_RUNNING"]);
const BAD = new Set([
  "DEAD_LETTER", "RULE_ERROR", "FORBIDDEN", "VERIFICATION_FAILED", "MALFORMED",
  "TOO_LARGE", "UNKNOWN_SOURCE", "UNAVAILABLE", "TEMPORAL_REJECTED", "CONFLICT",
]);

const $ = (id) => document.getElementById(id);

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    const td = c instanceof Node ? wrap(c) : el("td", c);
    tr.appendChild(td);
  }
  return tr;
}

function wrap(node) {
  const td = document.createElement("td");
  td.appendChild(node);
  return td;
}

function codeBadge(code) {
  const cls = GOOD.has(code) ? "code good" : BAD.has(code) ? "code bad" : "code";
  return el("span", code || "-", cls);
}

function utc(ms) {
  return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

class Unauthorized extends Error {}

async function api(path, method = "GET") {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const resp = await fetch(path, {
    method,
    headers: { Authorization: `Bearer ${token}` },
    cache: "no-store",
  });
  if (resp.status === 401) throw new Unauthorized();
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(body.error || `${method} ${path}: HTTP ${resp.status}`);
  return body;
}

function show(section) {
  for (const id of ["login", "list", "detail"]) $(id).hidden = id !== section;
  $("sign-out").hidden = section === "login";
  $("error").textContent = "";
}

const FILTERS = ["correlationId", "source", "eventType", "reasonCode"];

async function renderList(params) {
  show("list");
  const form = $("filters");
  for (const name of FILTERS) form.elements[name].value = params.get(name) || "";
  const query = new URLSearchParams();
  for (const name of FILTERS) {
    const v = params.get(name);
    if (v) query.set(name, v);
  }
  query.set("limit", "200");
  const { deliveries } = await api(`/admin/deliveries?${query}`);
  const tbody = $("deliveries").querySelector("tbody");
  tbody.replaceChildren();
  for (const d of deliveries) {
    const link = el("a", d.correlationId || `#${d.id}`);
    link.href = `#/deliveries/${d.id}`;
    link.className = "mono";
    const actions = d.pending + d.done + d.dead === 0
      ? "-"
      : `${d.done} done, ${d.pending} pending, ${d.dead} dead`;
    const tr = row([utc(d.receivedAtMs), d.source, d.eventType || "-", d.status,
      codeBadge(d.reasonCode), actions, link]);
    tr.dataset.id = d.id;
    tbody.appendChild(tr);
  }
  $("empty").hidden = deliveries.length > 0;
}

async function renderDetail(id) {
  show("detail");
  $("replay-result").textContent = "";
  const d = await api(`/admin/deliveries/${encodeURIComponent(id)}`);
  const response = d.response || {};
  $("d-id").textContent = d.id;
  $("d-reason").replaceWith(Object.assign(codeBadge(d.reasonCode), { id: "d-reason" }));
  $("d-why").textContent = response.reason || "";
  const facts = $("d-facts");
  facts.replaceChildren();
  const fact = (name, value) => {
    if (value === undefined || value === null || value === "") return;
    facts.appendChild(el("dt", name));
    facts.appendChild(el("dd", value));
  };
  fact("Received (UTC)", utc(d.receivedAtMs));
  fact("Source", d.source);
  fact("Event type", d.eventType);
  fact("Event ID", d.eventId);
  fact("Correlation ID", d.correlationId);
  fact("Answered", `HTTP ${d.status} ${d.outcome}`);
  fact("Duplicate of", response.duplicateOf);
  fact("Trace ID", response.traceId);

  const rules = $("d-rules").querySelector("tbody");
  rules.replaceChildren();
  for (const r of response.rules || []) {
    rules.appendChild(row([r.rule, r.matched ? "yes" : "no", r.reason, r.error || ""]));
  }
  if (!(response.rules || []).length) rules.appendChild(row(["(no rule was evaluated)", "", "", ""]));

  // Spooled actions have their live state; others only the answer's.
  const actions = $("d-actions").querySelector("tbody");
  actions.replaceChildren();
  const list = d.actions && d.actions.length
    ? d.actions.map((a, i) => ({ ...(response.actions || [])[i], ...a }))
    : (response.actions || []).map((a) => ({ ...a, state: a.status ? "done" : "-" }));
  for (const a of list) {
    let temporal = el("span", "-");
    if (a.link) {
      temporal = el("a", "Open in Temporal");
      temporal.href = a.link;
      temporal.target = "_blank";
      temporal.rel = "noopener noreferrer";
    }
    actions.appendChild(row([a.rule, a.kind || a.action, el("span", a.workflowId, "mono"),
      a.state, a.attempts ?? "-", a.result || a.status || "", a.lastError || a.error || "", temporal]));
  }
  const replay = $("replay");
  replay.hidden = !(d.actions || []).some((a) => a.state === "dead");
  replay.onclick = async () => {
    replay.disabled = true;
    try {
      const r = await api(`/admin/deliveries/${encodeURIComponent(id)}/replay`, "POST");
      $("replay-result").textContent = `${r.replayed} action(s) queued again.`;
      replay.hidden = true;
    } catch (e) {
      fail(e);
    } finally {
      replay.disabled = false;
    }
  };
}

function fail(e) {
  if (e instanceof Unauthorized) {
    sessionStorage.removeItem(TOKEN_KEY);
    show("login");
    $("login-error").textContent = "The admin token was not accepted.";
    return;
  }
  $("error").textContent = e.message || String(e);
}

async function route() {
  if (!sessionStorage.getItem(TOKEN_KEY)) {
    show("login");
    return;
  }
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query] = hash.split("?");
  const m = path.match(/^\/deliveries\/(\d+)$/);
  try {
    if (m) await renderDetail(m[1]);
    else await renderList(new URLSearchParams(query || ""));
  } catch (e) {
    fail(e);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value);
    $("token").value = "";
    $("login-error").textContent = "";
    route();
  });
  $("filters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const query = new URLSearchParams();
    for (const name of FILTERS) {
      const v = ev.target.elements[name].value.trim();
      if (v) query.set(name, v);
    }
    const next = `#/?${query}`;
    if (location.hash === next) route();
    else location.hash = next;
  });
  $("clear").addEventListener("click", () => { location.hash = "#/"; });
  $("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    route();
  });
  window.addEventListener("hashchange", route);
  route();
});
