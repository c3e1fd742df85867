// The panel's Recipients and Lists sections: find a recipient by id and
// see its addresses, preferences and messages, its devices and its in-app
// feed; the lists with their member
// counts, a list's first members, and a CSV file uploaded into a list a
// thousand rows a request, as `inc recipients import` does. Uses panel.js's
// helpers ($, api, el, say, when) and endpoints.js's (button, act); shows
// what the API returns as text only.
"use strict";

const CSV_COLUMNS = ["id", "phone", "email", "whatsapp", "language", "timezone"];
const BATCH = 1000;

// --- Recipients ----------------------------------------------------------

function definition(list, term, value) {
  list.append(el("dt", term), el("dd", value === null || value === undefined || value === "" ? "—" : value));
}

async function showRecipient(id) {
  let r;
  try {
    r = await api("GET", "/v1/recipients/" + encodeURIComponent(id));
  } catch (e) {
    say(e.status === 404 ? "There is no recipient " + id + "." : "Cannot load the recipient: " + e.message, true);
    $("recipient").hidden = true;
    return;
  }
  $("recipient-title").textContent = "Recipient " + r.id;
  const fields = $("recipient-fields");
  fields.replaceChildren();
  for (const name of ["phone", "email", "whatsapp", "language", "timezone"]) definition(fields, name, r[name]);
  definition(fields, "data", JSON.stringify(r.data));
  definition(fields, "created", when(r.created_at));
  const prefs = $("recipient-preferences").tBodies[0];
  prefs.replaceChildren();
  for (const [category, channels] of Object.entries(r.preferences.categories)) {
    for (const [channel, on] of Object.entries(channels)) {
      const row = el("tr");
      row.append(el("td", category), el("td", channel), el("td", on ? "on" : "off"));
      prefs.append(row);
    }
  }
  $("recipient-preferences-empty").hidden = prefs.children.length > 0;
  const messages = $("recipient-messages").tBodies[0];
  messages.replaceChildren();
  try {
    const page = await api("GET", "/v1/notifications?limit=25&recipient_id=" + encodeURIComponent(r.id));
    for (const n of page.items) {
      const row = el("tr");
      row.append(el("td", when(n.created_at)), el("td", n.channel), el("td", n.status),
        el("td", n.last_error || (n.receipt && n.receipt.status) || ""));
      messages.append(row);
    }
  } catch (e) {
    say("Cannot load the recipient's messages: " + e.message, true);
  }
  $("recipient-messages-empty").hidden = messages.children.length > 0;
  await showApps(r.id);
  $("recipient").hidden = false;
}

// Its devices (tokens come masked) and the newest page of its feed.
async function showApps(id) {
  const base = "/v1/recipients/" + encodeURIComponent(id);
  const devices = $("recipient-devices").tBodies[0];
  const feed = $("recipient-feed").tBodies[0];
  devices.replaceChildren();
  feed.replaceChildren();
  try {
    const [d, f] = await Promise.all([api("GET", base + "/devices"), api("GET", base + "/feed?limit=25")]);
    for (const device of d.items) {
      const row = el("tr");
      row.append(el("td", device.platform), el("td", device.token), el("td", device.app || ""),
        el("td", when(device.created_at)));
      devices.append(row);
    }
    for (const item of f.items) {
      const row = el("tr");
      row.append(el("td", when(item.created_at)), el("td", item.title), el("td", item.body),
        el("td", item.category), el("td", item.read_at ? when(item.read_at) : "unread"));
      feed.append(row);
    }
    $("recipient-feed-caption").textContent = "In-app feed, newest first — " + f.unread_count + " unread";
  } catch (e) {
    say("Cannot load the recipient's devices and feed: " + e.message, true);
  }
  $("recipient-devices-empty").hidden = devices.children.length > 0;
  $("recipient-feed-empty").hidden = feed.children.length > 0;
}

async function findRecipient(event) {
  event.preventDefault();
  const id = new FormData(event.target).get("id").trim();
  if (id) await showRecipient(id);
}

// --- Lists ---------------------------------------------------------------

function listRow(l) {
  const row = el("tr");
  row.dataset.id = l.id;
  const actions = el("td", null, "actions");
  actions.append(
    button("Members", "Members of " + l.id, () => showMembers(l.id)),
    button("Delete", "Delete list " + l.id, () =>
      act("Deleting the list", async () => {
        await api("DELETE", "/v1/lists/" + encodeURIComponent(l.id));
        say("List " + l.id + " deleted.");
        await loadLists();
      })),
  );
  row.append(el("td", l.id), el("td", l.name), el("td", l.member_count.toLocaleString("en")), actions);
  return row;
}

async function loadLists() {
  let page;
  try {
    page = await api("GET", "/v1/lists");
  } catch (e) {
    say("Cannot load the lists: " + e.message, true);
    return;
  }
  $("lists-table").tBodies[0].replaceChildren(...page.items.map(listRow));
  $("lists-empty").hidden = page.items.length > 0;
  const choice = $("upload-list");
  const kept = choice.value;
  choice.replaceChildren(...page.items.map((l) => {
    const o = el("option", l.name + " (" + l.id + ")");
    o.value = l.id;
    return o;
  }));
  if (page.items.some((l) => l.id === kept)) choice.value = kept;
}

async function showMembers(id) {
  let page;
  try {
    page = await api("GET", "/v1/lists/" + encodeURIComponent(id) + "/members?limit=25");
  } catch (e) {
    say("Cannot load the members: " + e.message, true);
    return;
  }
  $("members-title").textContent = "First members of " + id;
  $("members-list").replaceChildren(...page.items.map((r) => {
    const item = el("li");
    const link = button(r.id, "Recipient " + r.id, () => showRecipient(r.id));
    item.append(link, el("span", " " + [r.phone, r.email].filter(Boolean).join(" · ")));
    return item;
  }));
  $("members").hidden = false;
}

async function addList(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const id = form.get("id").trim();
  const ok = await act("Saving the list", async () => {
    await api("PUT", "/v1/lists/" + encodeURIComponent(id), { name: form.get("name").trim() });
  });
  if (!ok) return;
  say("List " + id + " saved.");
  event.target.reset();
  await loadLists();
  $("upload-list").value = id;
}

// --- CSV upload ----------------------------------------------------------

// RFC 4180: fields separated by commas, quoted with "…" ("" inside), rows
// by CRLF or LF. Answers the rows, each with the line it starts on.
function parseCsv(text) {
  const rows = [];
  let row = [], field = "", quoted = false, line = 1, start = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else { if (c === "\n") line++; field += c; }
    } else if (c === '"') quoted = true;
    else if (c === ",") { row.push(field); field = ""; }
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push({ line: start, cells: row });
      row = []; field = ""; line++; start = line;
    } else field += c;
  }
  if (field !== "" || row.length > 0) { row.push(field); rows.push({ line: start, cells: row }); }
  return rows.filter((r) => r.cells.some((c) => c.trim() !== ""));
}

// The file's rows as members, and the rows refused before sending.
function membersOf(text) {
  const rows = parseCsv(text);
  if (rows.length === 0) throw new Error("the file is empty");
  const header = rows[0].cells.map((c) => c.trim());
  if (!header.includes("id")) throw new Error("the header row has no id column");
  for (const column of header) {
    if (!CSV_COLUMNS.includes(column) && !(column.startsWith("data.") && column.length > 5)) {
      throw new Error("unknown column " + column + "; a file has " + CSV_COLUMNS.join(", ") + " and data.<key>");
    }
  }
  const members = [], refused = [], seen = new Map();
  for (const { line, cells } of rows.slice(1)) {
    if (cells.length !== header.length) {
      refused.push({ line, reason: "has " + cells.length + " fields, the header " + header.length });
      continue;
    }
    const member = {}, data = {};
    header.forEach((column, i) => {
      const v = cells[i].trim();
      if (v === "" && column !== "id") return;
      if (column.startsWith("data.")) data[column.slice(5)] = v;
      else member[column] = v;
    });
    if (Object.keys(data).length > 0) member.data = data;
    if (seen.has(member.id)) {
      refused.push({ line, reason: "id: " + member.id + " appears again (first on line " + seen.get(member.id) + ")" });
      continue;
    }
    seen.set(member.id, line);
    members.push({ line, member });
  }
  return { members, refused };
}

// Sends one batch; a row the API refuses (400 naming recipients[i]) is
// set aside with its reason and the rest sent again.
async function sendBatch(list, batch, refused) {
  let rows = batch;
  while (rows.length > 0) {
    try {
      return await api("POST", "/v1/lists/" + encodeURIComponent(list) + "/members",
        { recipients: rows.map((r) => r.member) });
    } catch (e) {
      const match = e.status === 400 && /^recipients\[(\d+)\]/.exec(e.field || e.message);
      if (!match) throw e;
      const bad = rows[Number(match[1])];
      refused.push({ line: bad.line, reason: e.message.replace(/^recipients\[\d+\]\./, "") });
      rows = rows.filter((r) => r !== bad);
    }
  }
  return { added: 0, updated: 0, member_count: null };
}

async function uploadCsv(event) {
  event.preventDefault();
  const list = $("upload-list").value;
  const file = $("upload-file").files[0];
  if (!list || !file) {
    say("Choose a list and a CSV file.", true);
    return;
  }
  let parsed;
  try {
    parsed = membersOf(await file.text());
  } catch (e) {
    say("Cannot read " + file.name + ": " + e.message, true);
    return;
  }
  const { members, refused } = parsed;
  const progress = $("upload-progress");
  progress.max = Math.max(members.length, 1);
  progress.value = 0;
  progress.hidden = false;
  let added = 0, updated = 0;
  try {
    for (let i = 0; i < members.length; i += BATCH) {
      const answer = await sendBatch(list, members.slice(i, i + BATCH), refused);
      added += answer.added;
      updated += answer.updated;
      progress.value = Math.min(i + BATCH, members.length);
    }
  } catch (e) {
    say("Upload stopped: " + e.message + " (sending the file again is safe)", true);
    await loadLists();
    return;
  }
  refused.sort((a, b) => a.line - b.line);
  $("upload-refused").replaceChildren(...refused.map((r) => el("li", "line " + r.line + ": " + r.reason)));
  say(file.name + ": " + added + " added, " + updated + " updated, " + refused.length + " refused.");
  await loadLists();
}

document.addEventListener("DOMContentLoaded", () => {
  $("recipient-form").addEventListener("submit", findRecipient);
  $("list-form").addEventListener("submit", addList);
  $("upload-form").addEventListener("submit", uploadCsv);
});
