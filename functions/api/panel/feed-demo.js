// The in-app feed as an app shows it (contract 14): read with a recipient
// token, then kept live by the feed's socket — `feed.item` frames add an
// item and set the unread badge, `feed.read` frames mark items read. Plain
// DOM, text only (items come from outside); the token never leaves the page
// but for INC itself.
"use strict";

const $ = (id) => document.getElementById(id);
let token = null;
let socket = null;

function say(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

async function call(method, path) {
  const response = await fetch(path, { method, headers: { Authorization: "Bearer " + token } });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error((data.error && data.error.message) || String(response.status));
  return data;
}

function setUnread(n) {
  $("unread").textContent = n + " unread";
}

function markRead(li, at) {
  li.classList.add("read");
  const button = li.querySelector("button");
  if (button) button.remove();
  li.querySelector(".when").textContent = "read " + new Date(at || Date.now()).toLocaleString();
}

function itemNode(item) {
  const li = document.createElement("li");
  li.dataset.id = item.id;
  const title = document.createElement("strong");
  title.textContent = item.title;
  const body = document.createElement("span");
  body.textContent = " " + item.body + " ";
  const when = document.createElement("small");
  when.className = "when";
  when.textContent = new Date(item.created_at).toLocaleString();
  li.append(title, body, when);
  if (item.read_at) {
    markRead(li, item.read_at);
  } else {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Mark read";
    button.addEventListener("click", () =>
      call("POST", "/v1/feed/" + encodeURIComponent(item.id) + "/read").catch((e) => say(e.message, true)));
    li.append(" ", button);
  }
  return li;
}

function add(item, atTop) {
  if (document.querySelector('#items li[data-id="' + CSS.escape(item.id) + '"]')) return;
  const list = $("items");
  if (atTop) list.prepend(itemNode(item));
  else list.append(itemNode(item));
  $("items-empty").hidden = true;
}

function listen() {
  const url = document.querySelector('meta[name="inc-feed-socket"]').content;
  if (!url) {
    say("This deployment has no feed socket; the feed is read without live updates.", true);
    return;
  }
  socket = new WebSocket(url + "?token=" + encodeURIComponent(token));
  socket.addEventListener("open", () => say("Connected: new items arrive live."));
  socket.addEventListener("close", () => say("The socket closed; reload to open it again.", true));
  socket.addEventListener("message", (event) => {
    const frame = JSON.parse(event.data);
    if (frame.type === "feed.item") add(frame.item, true);
    if (frame.type === "feed.read") {
      for (const id of frame.ids) {
        const li = document.querySelector('#items li[data-id="' + CSS.escape(id) + '"]');
        if (li) markRead(li);
      }
    }
    setUnread(frame.unread_count);
  });
}

async function open(event) {
  event.preventDefault();
  token = $("token").value.trim();
  if (socket) socket.close();
  try {
    const feed = await call("GET", "/v1/feed?limit=50");
    $("items").replaceChildren();
    for (const item of feed.items) add(item, false);
    $("items-empty").hidden = feed.items.length > 0;
    setUnread(feed.unread_count);
    $("feed").hidden = false;
    listen();
  } catch (e) {
    say("Cannot read the feed: " + e.message, true);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("token-form").addEventListener("submit", open);
  $("read-all").addEventListener("click", () => call("POST", "/v1/feed/read-all").catch((e) => say(e.message, true)));
});
