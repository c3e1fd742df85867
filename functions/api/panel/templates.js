// The panel's Templates section: list the account's message templates,
// edit one language of one (saving keeps its other languages), preview it
// with sample data — again as the data is typed — and delete it. Uses
// panel.js's helpers ($, api, el, say) and endpoints.js's (button, act);
// shows what the API returns as text only.
"use strict";

function templatePath(channel, name) {
  return "/v1/templates/" + channel + "/" + encodeURIComponent(name);
}

// The edited language as the API takes it, for the form's channel.
function editedText(form) {
  const channel = form.get("channel");
  if (channel === "whatsapp") {
    const parameters = form.get("parameters").split("\n").map((p) => p.trim()).filter((p) => p !== "");
    return { template: form.get("wa_template").trim(), parameters };
  }
  const text = { body: form.get("body") };
  if (channel === "email") text.subject = form.get("subject");
  return text;
}

function showChannelFields() {
  const channel = $("template-channel").value;
  $("template-subject-field").hidden = channel !== "email";
  $("template-body-field").hidden = channel === "whatsapp";
  $("template-whatsapp-fields").hidden = channel !== "whatsapp";
}

function editTemplate(t, language) {
  const text = t.languages[language] || {};
  $("template-channel").value = t.channel;
  $("template-name").value = t.name;
  $("template-language").value = language;
  $("template-subject").value = text.subject || "";
  $("template-body").value = text.body || "";
  $("template-wa-template").value = text.template || "";
  $("template-parameters").value = (text.parameters || []).join("\n");
  showChannelFields();
}

function templateRow(t) {
  const row = el("tr");
  row.dataset.template = t.channel + ":" + t.name;
  const languages = Object.keys(t.languages);
  const actions = el("td", null, "actions");
  actions.append(
    button("Edit", "Edit " + t.channel + " " + t.name, () => editTemplate(t, languages[0])),
    button("Delete", "Delete " + t.channel + " " + t.name, () =>
      act("Deleting the template", async () => {
        await api("DELETE", templatePath(t.channel, t.name));
        say("Template " + t.name + " deleted.");
        await loadTemplates();
      })),
  );
  row.append(el("td", t.channel), el("td", t.name), el("td", languages.join(", ")), actions);
  return row;
}

async function loadTemplates() {
  let page;
  try {
    page = await api("GET", "/v1/templates?limit=100");
  } catch (e) {
    say("Cannot load the templates: " + e.message, true);
    return;
  }
  $("templates-table").querySelector("tbody").replaceChildren(...page.items.map(templateRow));
}

async function saveTemplate(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const channel = form.get("channel");
  const name = form.get("name").trim();
  const language = form.get("language").trim();
  await act("Saving the template", async () => {
    // Saving one language keeps the template's others.
    let languages = {};
    try {
      languages = (await api("GET", templatePath(channel, name))).languages;
    } catch (e) {
      if (e.status !== 404) throw e;
    }
    languages[language] = editedText(form);
    await api("PUT", templatePath(channel, name), { languages });
    say("Template " + name + " saved.");
    await Promise.all([loadTemplates(), previewTemplate()]);
  });
}

// Renders the saved template with the sample data; shows why not, if not.
async function previewTemplate() {
  const channel = $("template-channel").value;
  const name = $("template-name").value.trim();
  if (!name) return;
  let data;
  try {
    data = JSON.parse($("template-data").value || "{}");
  } catch (e) {
    $("template-preview").textContent = "The sample data is not JSON: " + e.message;
    return;
  }
  try {
    const shown = await api("POST", templatePath(channel, name) + "/preview",
      { language: $("template-language").value.trim() || null, data });
    const lines = [];
    if (shown.subject !== undefined) lines.push("Subject: " + shown.subject);
    if (shown.body !== undefined) lines.push(shown.body);
    if (shown.template !== undefined) lines.push(shown.template + "(" + shown.parameters.join(", ") + ")");
    $("template-preview").textContent = "[" + shown.language + "] " + lines.join("\n");
  } catch (e) {
    $("template-preview").textContent = e.message;
  }
}

let previewTimer = null;

document.addEventListener("DOMContentLoaded", () => {
  $("template-form").addEventListener("submit", saveTemplate);
  $("template-channel").addEventListener("change", showChannelFields);
  $("template-data").addEventListener("input", () => {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(previewTemplate, 300);
  });
  $("template-preview-button").addEventListener("click", previewTemplate);
  showChannelFields();
});
