// The panel's Opt-outs section: the account's suppression list, page by
// page; add a recipient on a channel, remove one. Uses panel.js's helpers
// ($, api, el, say) and endpoints.js's (button, act); shows what the API
// returns as text only.
"use strict";

let suppressionsCursor = null;

function suppressionRow(s) {
  const row = el("tr");
  row.dataset.recipient = s.channel + ":" + s.to;
  const actions = el("td", null, "actions");
  actions.append(
    button("Remove", "Remove " + s.channel + " " + s.to, () =>
      act("Removing the opt-out", async () => {
        await api("DELETE", "/v1/suppressions/" + s.channel + "/" + encodeURIComponent(s.to));
        say(s.to + " may be sent " + s.channel + " messages again.");
        await loadSuppressions(true);
      })),
  );
  row.append(el("td", s.channel), el("td", s.to), el("td", s.reason || ""), el("td", s.source),
    el("td", new Date(s.created_at).toLocaleString()), actions);
  return row;
}

async function loadSuppressions(fresh) {
  if (fresh) suppressionsCursor = null;
  const params = new URLSearchParams({ limit: "50" });
  const channel = $("suppressions-channel").value;
  if (channel) params.set("channel", channel);
  if (suppressionsCursor) params.set("cursor", suppressionsCursor);
  let page;
  try {
    page = await api("GET", "/v1/suppressions?" + params);
  } catch (e) {
    say("Cannot load the opt-outs: " + e.message, true);
    return;
  }
  const body = $("suppressions-table").querySelector("tbody");
  const rows = page.items.map(suppressionRow);
  if (fresh) body.replaceChildren(...rows);
  else body.append(...rows);
  suppressionsCursor = page.next_cursor;
  $("suppressions-more").hidden = !page.next_cursor;
}

async function addSuppression(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = { channel: form.get("channel"), to: form.get("to").trim() };
  const reason = form.get("reason").trim();
  if (reason) body.reason = reason;
  await act("Adding the opt-out", async () => {
    const added = await api("POST", "/v1/suppressions", body);
    say(added.to + " opted out of " + added.channel + ".");
    $("suppression-form").reset();
    await loadSuppressions(true);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  $("suppression-form").addEventListener("submit", addSuppression);
  $("suppressions-channel").addEventListener("change", () => loadSuppressions(true));
  $("suppressions-more").addEventListener("click", () => loadSuppressions(false));
});
