// The panel's Endpoints section: list, add (HTTP, or an SQS queue, SNS
// topic or EventBridge bus), change the event types, enable / disable, show
// and rotate the secret, delete; edit the jq transformation, tried live on a
// sample event as one types; each one's health and a chart of its last 24
// hours (drawn here, as SVG); and the event-type catalog. Uses panel.js's helpers ($, api, el, say); like it, shows
// everything the API returns as text only.
"use strict";

function typesText(filter) {
  return filter ? filter.join(", ") : "";
}

// "order.*, stock.low" → ["order.*", "stock.low"]; empty → null (every type).
function typesValue(text) {
  const types = text.split(",").map((t) => t.trim()).filter((t) => t !== "");
  return types.length === 0 ? null : types;
}

function showSecret(id, secret) {
  $("endpoint-secret-id").textContent = id;
  $("endpoint-secret-value").textContent = secret;
  $("endpoint-secret").hidden = false;
}

function button(label, name, action) {
  const b = el("button", label, "secondary");
  b.type = "button";
  b.setAttribute("aria-label", name);
  b.addEventListener("click", action);
  return b;
}

async function act(what, action) {
  try {
    await action();
  } catch (e) {
    say(what + " failed: " + e.message, true);
    return false;
  }
  return true;
}

function endpointRow(e) {
  const row = el("tr");
  row.dataset.id = e.id;
  const where = e.type && e.type !== "http" ? e.type + ": " + e.url : e.url;
  row.append(el("td", e.is_default ? e.id + " (default)" : e.id), el("td", where));
  const types = el("td");
  const actions = el("td", null, "actions");
  if (e.is_default) {
    types.textContent = "every type";
  } else {
    const label = el("label");
    label.append(el("span", "Event types of " + e.id, "visually-hidden"));
    const input = el("input");
    input.type = "text";
    input.value = typesText(e.filter_types);
    input.placeholder = "every type";
    label.append(input);
    types.append(label);
    actions.append(
      button("Save types", "Save event types of " + e.id, () =>
        act("Saving the event types", async () => {
          await api("PATCH", "/v1/endpoints/" + e.id, { filter_types: typesValue(input.value) });
          say("Event types of " + e.id + " saved.");
          await loadEndpoints();
        })),
    );
  }
  // The default endpoint too: its URL is a setting, its state is not.
  actions.append(
    button(e.enabled ? "Disable" : "Enable", (e.enabled ? "Disable " : "Enable ") + e.id, () =>
      act("Changing the endpoint", async () => {
        await api("PATCH", "/v1/endpoints/" + e.id, { enabled: !e.enabled });
        say(e.id + (e.enabled ? " disabled." : " enabled."));
        await loadEndpoints();
      })),
  );
  let state = "enabled";
  let stateClass = "ep-enabled";
  if (!e.enabled) {
    state = "disabled" + (e.disabled_reason ? ": " + e.disabled_reason : "");
    stateClass = "ep-disabled";
  } else if (e.failing_since) {
    state = "failing since " + when(e.failing_since);
    stateClass = "ep-failing";
  }
  row.append(types, el("td", state, stateClass));
  actions.append(
    button("Health", "Health of " + e.id, () =>
      act("Reading the statistics", async () => {
        drawChart(e.id, await api("GET", "/v1/endpoints/" + e.id + "/stats"));
      })),
    button("Secret", "Secret of " + e.id, () =>
      act("Reading the secret", async () => {
        showSecret(e.id, (await api("GET", "/v1/endpoints/" + e.id + "/secret")).secret);
      })),
    button("Rotate", "Rotate secret of " + e.id, () =>
      act("Rotating the secret", async () => {
        showSecret(e.id, (await api("POST", "/v1/endpoints/" + e.id + "/secret/rotate")).secret);
        say("Secret of " + e.id + " rotated; the old one signs beside it for 24 hours.");
      })),
  );
  if (!e.is_default) {
    actions.append(
      button("Transform", "Transformation of " + e.id, () => openTransformation(e)),
      button("Delete", "Delete " + e.id, () =>
        act("Deleting the endpoint", async () => {
          await api("DELETE", "/v1/endpoints/" + e.id);
          say(e.id + " deleted.");
          $("endpoint-secret").hidden = true;
          await loadEndpoints();
        })),
    );
  }
  row.append(actions);
  return row;
}

// SVG elements, in the namespace of the page's own <svg>.
function svg(tag, attributes) {
  const node = document.createElementNS($("endpoint-chart-svg").namespaceURI, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

// One pair of bars per hour (delivered, failed attempts), scaled to the
// busiest hour; every hour has its group, empty or not.
function drawChart(id, stats) {
  const chart = $("endpoint-chart-svg");
  const buckets = stats.buckets;
  const top = Math.max(1, ...buckets.map((b) => Math.max(b.delivered, b.failed_attempts)));
  const width = 480 / Math.max(1, buckets.length);
  const height = 120;
  const groups = buckets.map((b, i) => {
    const g = svg("g", { class: "hour", "data-at": b.at });
    const title = svg("title", {});
    title.textContent = when(b.at) + ": " + b.delivered + " delivered, " + b.failed_attempts +
      " failed attempts" + (b.p95_ms !== null ? ", p95 ≤ " + b.p95_ms + " ms" : "");
    g.append(title);
    const bar = (value, offset, cls) => {
      const h = Math.round((value / top) * height);
      return svg("rect", { class: cls, x: i * width + offset, y: height - h + 10,
                           width: width / 2 - 1, height: h });
    };
    g.append(bar(b.delivered, 0, "bar-ok"), bar(b.failed_attempts, width / 2, "bar-bad"));
    return g;
  });
  chart.replaceChildren(...groups);
  const t = stats.totals;
  $("endpoint-chart-caption").textContent = id + ": " + t.delivered + " delivered, " +
    t.failed_attempts + " failed attempts and " + t.failed + " given up in the last " +
    buckets.length + " hours";
  $("endpoint-chart").hidden = false;
}

async function loadEndpoints() {
  const items = [];
  let cursor = null;
  try {
    do {
      const page = await api("GET", "/v1/endpoints?limit=100" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
      items.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor);
  } catch (e) {
    say("Cannot load the endpoints: " + e.message, true);
    return;
  }
  $("endpoints-table").querySelector("tbody").replaceChildren(...items.map(endpointRow));
}

// The field that names each type's target.
const TARGET_FIELD = { sqs: "queue_url", sns: "topic_arn", eventbridge: "event_bus_name" };

function showTypeFields() {
  const http = $("endpoint-type").value === "http";
  $("endpoint-url-label").hidden = !http;
  $("endpoint-url-label").querySelector("input").required = http;
  $("endpoint-target-label").hidden = http;
  $("endpoint-target-label").querySelector("input").required = !http;
}

async function addEndpoint(event) {
  event.preventDefault();
  const form = new FormData($("endpoint-form"));
  const type = String(form.get("type"));
  const body = {
    type,
    description: String(form.get("description")).trim(),
    filter_types: typesValue(String(form.get("filter_types"))),
  };
  if (type === "http") body.url = String(form.get("url")).trim();
  else body[TARGET_FIELD[type]] = String(form.get("target")).trim();
  await act("Adding the endpoint", async () => {
    const created = await api("POST", "/v1/endpoints", body);
    say("Endpoint " + created.id + " added.");
    showSecret(created.id, created.secret);
    $("endpoint-form").reset();
    showTypeFields();
    await loadEndpoints();
  });
}

async function loadEventTypes() {
  let page;
  try {
    page = await api("GET", "/v1/event-types");
  } catch (e) {
    say("Cannot load the event types: " + e.message, true);
    return;
  }
  const rows = page.items.map((t) => {
    const row = el("tr");
    const kind = t.built_in ? "built in" : t.schema ? "declared, with a schema" : "declared";
    row.append(el("td", t.type), el("td", t.description), el("td", kind));
    return row;
  });
  $("event-types-table").querySelector("tbody").replaceChildren(...rows);
}

// The transformation editor: which endpoint it edits, and the latest try
// (an older answer arriving late must not overwrite a newer one).
let editing = null;
let tries = 0;
let pending = null;

const SAMPLE_EVENT = {
  id: "evt_sample", type: "order.completed", created_at: "2026-12-05T10:00:00.000Z",
  data: { order_no: "A-1001", amount: 25.5, currency_code: "KWD",
          items: [{ sku: "X-1", qty: 2 }, { sku: "Y-2", qty: 1 }] },
};

function openTransformation(e) {
  editing = e.id;
  $("transformation-endpoint").textContent = e.id;
  $("transformation-program").value = e.transformation || "";
  if (!$("transformation-event").value) $("transformation-event").value = JSON.stringify(SAMPLE_EVENT, null, 2);
  $("transformation").hidden = false;
  tryTransformation();
}

// Runs the draft on the sample event through the API (bounded there as
// deliver runs it) and shows the output or the error.
async function tryTransformation() {
  const mine = ++tries;
  const out = $("transformation-output");
  const program = $("transformation-program").value;
  let event;
  try {
    event = JSON.parse($("transformation-event").value);
  } catch (e) {
    out.textContent = "The sample event is not JSON: " + e.message;
    out.className = "error";
    return;
  }
  if (program.trim() === "") {
    out.textContent = "No program: the webhook goes as it is.";
    out.className = "";
    return;
  }
  let text;
  let failed = false;
  try {
    const answer = await api("POST", "/v1/endpoints/" + editing + "/transformation/test",
      { event, transformation: program });
    text = typeof answer.output === "string" ? answer.output : JSON.stringify(answer.output, null, 2);
  } catch (e) {
    text = e.message;
    failed = true;
  }
  if (mine !== tries) return;
  out.textContent = text;
  out.className = failed ? "error" : "";
}

function tryLater() {
  clearTimeout(pending);
  pending = setTimeout(tryTransformation, 300);
}

async function saveTransformation(program) {
  await act("Saving the transformation", async () => {
    await api("PATCH", "/v1/endpoints/" + editing, { transformation: program });
    say(program === null ? "Transformation of " + editing + " removed." : "Transformation of " + editing + " saved.");
    if (program === null) $("transformation-program").value = "";
    await loadEndpoints();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  $("endpoint-form").addEventListener("submit", addEndpoint);
  $("endpoint-type").addEventListener("change", showTypeFields);
  $("transformation-program").addEventListener("input", tryLater);
  $("transformation-event").addEventListener("input", tryLater);
  $("transformation-save").addEventListener("click", () => {
    const program = $("transformation-program").value;
    saveTransformation(program.trim() === "" ? null : program);
  });
  $("transformation-remove").addEventListener("click", () => saveTransformation(null));
});
