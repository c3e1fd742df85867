// The panel's Scheduled section: the account's messages waiting for their
// send_at (the history's `scheduled` notifications), soonest first within
// a page; cancel one before it goes. Uses panel.js's helpers ($, api, el,
// say) and endpoints.js's (button, act); shows what the API returns as text
// only.
"use strict";

let scheduledCursor = null;

function recipientOf(n) {
  return (n.request && n.request.to) || "";
}

function scheduledRow(n) {
  const row = el("tr");
  // A message's notification carries its message id as its event id.
  row.dataset.message = n.event_id;
  const actions = el("td", null, "actions");
  actions.append(
    button("Cancel", "Cancel " + n.event_id, () =>
      act("Canceling the message", async () => {
        await api("DELETE", "/v1/messages/" + encodeURIComponent(n.event_id));
        say("Message " + n.event_id + " canceled; it will not be sent.");
        await loadScheduled(true);
      })),
  );
  const text = (n.request && (n.request.text || n.request.template)) || "";
  row.append(el("td", new Date(n.next_attempt_at).toLocaleString()), el("td", n.event_id),
    el("td", n.channel), el("td", recipientOf(n)), el("td", n.reference || ""),
    el("td", text.length > 60 ? text.slice(0, 60) + "…" : text), actions);
  return row;
}

async function loadScheduled(fresh) {
  if (fresh) scheduledCursor = null;
  const params = new URLSearchParams({ status: "scheduled", limit: "50" });
  if (scheduledCursor) params.set("cursor", scheduledCursor);
  let page;
  try {
    page = await api("GET", "/v1/notifications?" + params);
  } catch (e) {
    say("Cannot load the scheduled messages: " + e.message, true);
    return;
  }
  const items = page.items.slice().sort((a, b) => a.next_attempt_at.localeCompare(b.next_attempt_at));
  const body = $("scheduled-table").querySelector("tbody");
  const rows = items.map(scheduledRow);
  if (fresh) body.replaceChildren(...rows);
  else body.append(...rows);
  scheduledCursor = page.next_cursor;
  $("scheduled-more").hidden = !page.next_cursor;
  $("scheduled-empty").hidden = body.children.length > 0;
}

document.addEventListener("DOMContentLoaded", () => {
  $("scheduled-refresh").addEventListener("click", () => loadScheduled(true));
  $("scheduled-more").addEventListener("click", () => loadScheduled(false));
});
