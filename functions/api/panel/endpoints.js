// The panel's Endpoints section: list, add, change the event types,
// enable / disable, show and rotate the secret, delete; each one's health
// and a chart of its last 24 hours (drawn here, as SVG); and the event-type
// catalog. Uses panel.js's helpers ($, api, el, say); like it, shows
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
  row.append(el("td", e.is_default ? e.id + " (default)" : e.id), el("td", e.url));
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

async function addEndpoint(event) {
  event.preventDefault();
  const form = new FormData($("endpoint-form"));
  const body = {
    url: String(form.get("url")).trim(),
    description: String(form.get("description")).trim(),
    filter_types: typesValue(String(form.get("filter_types"))),
  };
  await act("Adding the endpoint", async () => {
    const created = await api("POST", "/v1/endpoints", body);
    say("Endpoint " + created.id + " added.");
    showSecret(created.id, created.secret);
    $("endpoint-form").reset();
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

document.addEventListener("DOMContentLoaded", () => {
  $("endpoint-form").addEventListener("submit", addEndpoint);
});
