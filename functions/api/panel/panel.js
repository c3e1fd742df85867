// INC's control panel: plain DOM over the public API, no framework and no
// asset from elsewhere. Everything the API returns is shown as text
// (textContent), never parsed as HTML: event fields come from outside.
"use strict";

const KEY = "inc.api_key";
const $ = (id) => document.getElementById(id);
let cursor = null;
let filters = "";
let shown = null;

function say(text, isError) {
  const s = $("status");
  s.textContent = text;
  s.className = isError ? "error" : "";
}

async function api(method, path, body) {
  const headers = { Authorization: "Api-Key " + sessionStorage.getItem(KEY) };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = (data.error && data.error.message) || response.status + " " + response.statusText;
    const error = new Error(message);
    error.status = response.status;
    error.field = data.error && data.error.field;
    throw error;
  }
  return data;
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

// A datetime-local value (the browser's zone) as RFC 3339.
function rfc3339(local) {
  return local ? new Date(local).toISOString() : "";
}

// --- Sign in -------------------------------------------------------------

async function signIn(key) {
  sessionStorage.setItem(KEY, key);
  try {
    const settings = await api("GET", "/v1/settings");
    showSettings(settings);
  } catch (e) {
    sessionStorage.removeItem(KEY);
    say(e.status === 401 ? "That API key was not accepted." : "Cannot sign in: " + e.message, true);
    return;
  }
  $("sign-in").hidden = true;
  $("signed-in").hidden = false;
  $("sign-out").hidden = false;
  say("Signed in.");
  await Promise.all([loadHistory(true), loadEndpoints(), loadEventTypes(), loadSuppressions(true),
    loadTemplates(), loadScheduled(true), loadLists(), loadCampaigns()]);
}

function signOut() {
  sessionStorage.removeItem(KEY);
  $("signed-in").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in").hidden = false;
  $("api-key").value = "";
  say("Signed out.");
}

// --- Settings ------------------------------------------------------------

function showSettings(s) {
  $("endpoint-url").value = s.endpoint_url || "";
  $("inc-enabled").checked = !!s.inc_enabled;
  $("sms-sent").checked = !!s.sms_out_api_sent;
  $("sms-delivery").checked = !!s.sms_out_api_delivery;
  $("webhook-format").value = s.webhook_format || "form";
}

async function saveSettings(event) {
  event.preventDefault();
  const url = $("endpoint-url").value.trim();
  const patch = {
    endpoint_url: url === "" ? null : url,
    inc_enabled: $("inc-enabled").checked,
    sms_out_api_sent: $("sms-sent").checked,
    sms_out_api_delivery: $("sms-delivery").checked,
    webhook_format: $("webhook-format").value,
  };
  try {
    showSettings(await api("PATCH", "/v1/settings", patch));
    say("Settings saved.");
    await loadEndpoints();
  } catch (e) {
    say("Settings not saved: " + e.message, true);
  }
}

// --- History -------------------------------------------------------------

function filterQuery() {
  const form = new FormData($("filters"));
  const query = new URLSearchParams();
  for (const [name, value] of form) {
    const v = String(value).trim();
    if (v === "") continue;
    query.set(name, name === "since" || name === "until" ? rfc3339(v) : v);
  }
  return query.toString();
}

async function loadHistory(fresh) {
  if (fresh) {
    cursor = null;
    filters = filterQuery();
    $("history-table").tBodies[0].replaceChildren();
  }
  const query = new URLSearchParams(filters);
  query.set("limit", "25");
  if (cursor) query.set("cursor", cursor);
  let page;
  document.body.classList.add("loading");
  try {
    page = await api("GET", "/v1/notifications?" + query);
  } catch (e) {
    say("Cannot load the history: " + e.message, true);
    return;
  } finally {
    document.body.classList.remove("loading");
  }
  const body = $("history-table").tBodies[0];
  for (const n of page.items) body.append(historyRow(n));
  cursor = page.next_cursor || null;
  $("older").hidden = !cursor;
  $("history-empty").hidden = body.rows.length > 0;
}

function historyRow(n) {
  const row = document.createElement("tr");
  row.dataset.id = n.id;
  row.append(
    el("td", when(n.created_at)),
    el("td", n.event_type),
    el("td", n.channel),
    el("td", n.status, "st-" + n.status),
    el("td", n.attempts.length),
    el("td", n.order_no || n.session_id || ""),
  );
  const actions = el("td", null, "actions");
  const details = el("button", "Details");
  details.type = "button";
  details.setAttribute("aria-label", "Details of " + n.id);
  details.addEventListener("click", () => showDetail(n.id));
  const resend = el("button", "Resend", "secondary");
  resend.type = "button";
  resend.setAttribute("aria-label", "Resend " + n.id);
  resend.addEventListener("click", () => resendNotification(n.id));
  actions.append(details, resend);
  row.append(actions);
  return row;
}

async function showDetail(id) {
  let n;
  try {
    n = await api("GET", "/v1/notifications/" + encodeURIComponent(id));
  } catch (e) {
    say("Cannot load the notification: " + e.message, true);
    return;
  }
  shown = n.id;
  const fields = $("detail-fields");
  fields.replaceChildren();
  const add = (name, value) => {
    if (value === undefined || value === null || value === "") return;
    fields.append(el("dt", name), el("dd", value));
  };
  add("Id", n.id);
  add("Event", n.event_type + " (" + n.event_id + ")");
  add("Channel", n.channel);
  add("Status", n.status);
  add("Session id", n.session_id);
  add("Order no", n.order_no);
  add("Next attempt", when(n.next_attempt_at));
  add("Last error", n.last_error);
  if (n.receipt) add("Receipt", n.receipt.status + " at " + when(n.receipt.at) +
    (n.receipt.detail ? " (" + n.receipt.detail + ")" : ""));
  add("Fell back to", n.fallback);
  add("Stands in for", n.fallback_of);
  add("Request", n.request && n.request.body !== undefined ? n.request.body : JSON.stringify(n.request));
  const rows = $("attempts-table").tBodies[0];
  rows.replaceChildren();
  for (const a of n.attempts) {
    const row = document.createElement("tr");
    row.append(
      el("td", a.number),
      el("td", when(a.at)),
      el("td", a.url),
      el("td", a.status_code ?? (a.timed_out ? "timeout" : "—")),
      el("td", a.latency_ms + " ms"),
      el("td", a.error || ""),
    );
    rows.append(row);
  }
  $("detail").hidden = false;
  $("detail-title").textContent = "Notification " + n.id;
  $("detail-title").scrollIntoView({ block: "nearest" });
}

async function resendNotification(id) {
  try {
    await api("POST", "/v1/notifications/" + encodeURIComponent(id) + "/resend");
    say("Resend queued for " + id + ".");
  } catch (e) {
    say("Not resent: " + e.message, true);
    return;
  }
  await loadHistory(true);
  if (shown === id) await showDetail(id);
}

// --- Timeline ------------------------------------------------------------

async function showTimeline(event) {
  event.preventDefault();
  const form = new FormData($("timeline-form"));
  const session = String(form.get("session_id")).trim();
  const order = String(form.get("order_no")).trim();
  if (!session && !order) {
    say("Give a session id or an order number.", true);
    return;
  }
  let data;
  try {
    data = await api(
      "GET",
      session
        ? "/v1/transactions/" + encodeURIComponent(session)
        : "/v1/transactions?order_no=" + encodeURIComponent(order),
    );
  } catch (e) {
    say(e.status === 404 ? "No such order." : "Cannot load the timeline: " + e.message, true);
    return;
  }
  const t = data.transaction;
  // An order number with direct messages only has no payment.
  $("timeline-summary").textContent = t
    ? "Session " + t.session_id + (t.order_no ? ", order " + t.order_no : "") + ": " + t.state +
      (t.amount ? ", " + t.amount + " " + (t.currency_code || "") : "")
    : "Messages about " + order + " (no payment)";
  const list = $("timeline-list");
  list.replaceChildren();
  for (const entry of data.timeline) {
    const item = document.createElement("li");
    const time = el("time", when(entry.at));
    time.dateTime = entry.at;
    let text;
    if (entry.kind === "state_changed") text = "payment " + entry.state + " (" + entry.event_id + ")";
    else if (entry.kind === "notification") text = entry.channel + " notification queued" +
      (entry.fallback_of ? " (instead of " + entry.fallback_of + ")" : "");
    else if (entry.kind === "receipt") text = entry.channel + " receipt: " + entry.status +
      (entry.detail ? " (" + entry.detail + ")" : "");
    else text = entry.channel + " attempt " + entry.number + ": " +
      (entry.status_code ? "HTTP " + entry.status_code : "") + (entry.error ? " " + entry.error : "");
    item.append(time, document.createTextNode(text));
    list.append(item);
  }
  say("Timeline loaded.");
}

// --- Recover -------------------------------------------------------------

async function recover(event) {
  event.preventDefault();
  const form = new FormData($("recover-form"));
  const body = { since: rfc3339(String(form.get("since"))) };
  const until = String(form.get("until"));
  if (until) body.until = rfc3339(until);
  const channel = String(form.get("channel"));
  if (channel) body.channel = channel;
  try {
    const answer = await api("POST", "/v1/notifications/recover", body);
    say("Recovered " + answer.recovered + " failed notification" + (answer.recovered === 1 ? "" : "s") + ".");
  } catch (e) {
    say("Nothing recovered: " + e.message, true);
    return;
  }
  await loadHistory(true);
}

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in-form").addEventListener("submit", (e) => {
    e.preventDefault();
    signIn($("api-key").value.trim());
  });
  $("sign-out").addEventListener("click", signOut);
  $("settings-form").addEventListener("submit", saveSettings);
  $("filters").addEventListener("submit", (e) => {
    e.preventDefault();
    loadHistory(true);
  });
  $("older").addEventListener("click", () => loadHistory(false));
  $("detail-close").addEventListener("click", () => {
    $("detail").hidden = true;
    shown = null;
  });
  $("detail-resend").addEventListener("click", () => shown && resendNotification(shown));
  $("timeline-form").addEventListener("submit", showTimeline);
  $("recover-form").addEventListener("submit", recover);
  const key = sessionStorage.getItem(KEY);
  if (key) signIn(key);
});
