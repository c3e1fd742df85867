// The panel's Campaigns section: the account's campaigns with their live
// counts; one opened draws its progress as it goes (queued, sent,
// delivered, failed, replied, sampled every two seconds while it is open),
// pauses, resumes or cancels it, and lists its replies. Uses panel.js's
// helpers ($, api, el, say, when) and endpoints.js's (button, act, svg);
// shows what the API returns as text only.
"use strict";

const SERIES = ["queued", "sent", "delivered", "failed", "replied"];
let openCampaign = null;
let samples = [];
let poller = null;

function campaignRow(c) {
  const row = el("tr");
  row.dataset.id = c.id;
  const n = c.counts;
  const actions = el("td", null, "actions");
  actions.append(button("Open", "Open campaign " + c.id, () => showCampaign(c.id)));
  row.append(el("td", c.id), el("td", c.name), el("td", c.channel), el("td", c.status, "cs-" + c.status),
    el("td", n.sent + " / " + n.members), el("td", n.replied), actions);
  return row;
}

async function loadCampaigns() {
  let page;
  try {
    page = await api("GET", "/v1/campaigns?limit=50");
  } catch (e) {
    say("Cannot load the campaigns: " + e.message, true);
    return;
  }
  $("campaigns-table").tBodies[0].replaceChildren(...page.items.map(campaignRow));
  $("campaigns-empty").hidden = page.items.length > 0;
}

// The samples as one polyline per count, scaled to the largest value.
function drawProgress() {
  const chart = $("campaign-chart-svg");
  const width = 480, height = 140, top = Math.max(1, ...samples.flatMap((s) => SERIES.map((k) => s[k])));
  const x = (i) => (samples.length < 2 ? 0 : (i / (samples.length - 1)) * width);
  const lines = SERIES.map((k) => svg("polyline", {
    class: "line-" + k,
    "data-series": k,
    fill: "none",
    points: samples.map((s, i) => x(i).toFixed(1) + "," + (height - (s[k] / top) * (height - 10)).toFixed(1)).join(" "),
  }));
  chart.replaceChildren(...lines);
  const last = samples[samples.length - 1];
  $("campaign-legend").replaceChildren(...SERIES.map((k) => {
    const item = el("li", null, "legend-" + k);
    item.dataset.series = k;
    item.append(el("span", "■ "), el("span", k + " "), el("strong", last[k]));
    return item;
  }));
}

async function refreshCampaign() {
  if (!openCampaign) return;
  let c;
  try {
    c = await api("GET", "/v1/campaigns/" + encodeURIComponent(openCampaign));
  } catch (e) {
    say("Cannot load the campaign: " + e.message, true);
    return;
  }
  $("campaign-title").textContent = c.name + " (" + c.id + ")";
  $("campaign-status").textContent = c.status + (c.run ? ", run " + c.run : "") +
    (c.next_run_at ? ", next run " + when(c.next_run_at) : "");
  samples.push(c.counts);
  drawProgress();
  $("campaign-pause").hidden = !["sending", "scheduled"].includes(c.status);
  $("campaign-resume").hidden = c.status !== "paused";
  $("campaign-cancel").hidden = ["sent", "canceled"].includes(c.status);
  try {
    const replies = await api("GET", "/v1/campaigns/" + encodeURIComponent(openCampaign) + "/replies?limit=50");
    $("campaign-replies").replaceChildren(...replies.items.map((r) =>
      el("li", when(r.received_at) + " " + r.from + (r.recipient_id ? " (" + r.recipient_id + ")" : "") + ": " + r.text)));
  } catch (e) {
    say("Cannot load the replies: " + e.message, true);
  }
}

async function showCampaign(id) {
  openCampaign = id;
  samples = [];
  $("campaign").hidden = false;
  await refreshCampaign();
  if (poller) clearInterval(poller);
  poller = setInterval(refreshCampaign, 2000);
}

async function controlCampaign(action) {
  const id = openCampaign;
  const ok = await act("The campaign's " + action, async () => {
    const c = await api("POST", "/v1/campaigns/" + encodeURIComponent(id) + "/" + action);
    say("Campaign " + id + " is " + c.status + ".");
  });
  if (ok) await Promise.all([refreshCampaign(), loadCampaigns()]);
}

document.addEventListener("DOMContentLoaded", () => {
  $("campaigns-refresh").addEventListener("click", loadCampaigns);
  $("campaign-pause").addEventListener("click", () => controlCampaign("pause"));
  $("campaign-resume").addEventListener("click", () => controlCampaign("resume"));
  $("campaign-cancel").addEventListener("click", () => controlCampaign("cancel"));
});
