// The web chat of the built-in Bot API server (bot/botapi/web.py). It only draws what the
// bot sent through the Bot API and turns clicks into updates: no bot behaviour lives here.
"use strict";

const state = {
  config: null, lang: "zh", persona: null, version: null, messages: [], keyboard: null,
  toastSeq: {}, poll: null, rendered: "",
};
const $ = (id) => document.getElementById(id);
const COLOURS = ["#e17076", "#7bc862", "#65aadd", "#a695e7", "#ee7aae", "#6ec9cb", "#faa774"];

function t(key, fields) {
  const labels = state.config.labels[state.lang] || {};
  let text = labels[key] || key;
  for (const [name, value] of Object.entries(fields || {})) text = text.split("{" + name + "}").join(value);
  return text;
}

async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({ ok: false, error: response.statusText }));
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function post(path, payload) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload) });
}

function chatPath(suffix) {
  return "/api/chats/" + state.persona.chat_id + (suffix ? "/" + suffix : "");
}

// ------------------------------------------------------------------ Telegram formatting

// Entities (offsets in UTF-16 code units, as JavaScript strings count) become elements of
// the kinds Telegram's HTML allows; all text goes in as text nodes, never as markup.
function entityElement(entity, text) {
  let el;
  switch (entity.type) {
    case "bold": el = document.createElement("b"); break;
    case "italic": el = document.createElement("i"); break;
    case "underline": el = document.createElement("u"); break;
    case "strikethrough": el = document.createElement("s"); break;
    case "code": el = document.createElement("code"); break;
    case "pre": el = document.createElement("pre"); break;
    case "blockquote": case "expandable_blockquote": el = document.createElement("blockquote"); break;
    case "spoiler":
      el = document.createElement("span"); el.className = "spoiler";
      el.addEventListener("click", () => el.classList.add("shown"));
      break;
    case "text_link": case "url": {
      const href = entity.type === "url" ? text : entity.url || "";
      if (/^(https?:|tg:|mailto:)/i.test(href)) {
        el = document.createElement("a"); el.href = href; el.target = "_blank"; el.rel = "noopener noreferrer";
      } else {
        el = document.createElement("span");
      }
      break;
    }
    case "bot_command": case "mention": case "hashtag":
      el = document.createElement("a"); el.href = "#"; el.className = "command";
      el.addEventListener("click", (event) => { event.preventDefault(); if (entity.type === "bot_command") sendText(text); });
      break;
    default: el = document.createElement("span");
  }
  return el;
}

function build(parent, text, start, end, entities) {
  let pos = start;
  let i = 0;
  while (i < entities.length) {
    const entity = entities[i];
    if (entity.offset < pos) { i++; continue; }
    if (entity.offset >= end) break;
    parent.append(text.slice(pos, entity.offset));
    const stop = Math.min(entity.offset + entity.length, end);
    const inner = [];
    let j = i + 1;
    while (j < entities.length && entities[j].offset < stop) inner.push(entities[j++]);
    const el = entityElement(entity, text.slice(entity.offset, stop));
    build(el, text, entity.offset, stop, inner);
    parent.append(el);
    pos = stop;
    i = j;
  }
  parent.append(text.slice(pos, end));
}

function formatted(text, entities) {
  const body = document.createElement("div");
  body.className = "body";
  const sorted = (entities || []).slice().sort((a, b) => a.offset - b.offset || b.length - a.length);
  build(body, text, 0, text.length, sorted);
  return body;
}

// ------------------------------------------------------------------ drawing the chat

function clockText(seconds) {
  const options = { hour: "2-digit", minute: "2-digit", hour12: false };
  if (state.config.zone) options.timeZone = state.config.zone;
  return new Date(seconds * 1000).toLocaleTimeString(state.lang === "zh" ? "zh-CN" : "en-GB", options);
}

function dayAndTime(seconds) {
  const options = { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false };
  if (state.config.zone) options.timeZone = state.config.zone;
  return new Date(seconds * 1000).toLocaleString("sv-SE", options); // 2026-12-03 09:00
}

function fileUrl(fileId) { return "/api/files/" + encodeURIComponent(fileId); }

function messageElement(message) {
  const from = message.from || {};
  const mine = !from.is_bot && from.id === state.persona.user_id;
  const el = document.createElement("div");
  el.className = "msg" + (mine ? " out" : " in") + (from.is_bot ? " bot" : "");
  el.dataset.messageId = message.message_id;
  if (message.chat.type !== "private" && !mine) {
    const sender = document.createElement("div");
    sender.className = "sender";
    sender.textContent = from.first_name || "";
    el.append(sender);
  }
  if (message.photo && message.photo.length) {
    const img = document.createElement("img");
    img.className = "photo";
    img.alt = "";
    img.src = fileUrl(message.photo[message.photo.length - 1].file_id);
    img.addEventListener("click", () => window.open(img.src, "_blank"));
    el.append(img);
  }
  if (message.document) {
    const doc = document.createElement("div");
    doc.className = "document";
    const icon = document.createElement("div");
    icon.className = "file-icon"; icon.textContent = "⬇";
    const link = document.createElement("a");
    link.href = fileUrl(message.document.file_id);
    link.download = message.document.file_name || "file";
    link.textContent = message.document.file_name || t("download");
    link.title = t("download");
    const size = document.createElement("div");
    size.className = "size";
    size.textContent = Math.max(1, Math.round((message.document.file_size || 0) / 1024)) + " KB";
    const label = document.createElement("div");
    label.append(link, size);
    doc.append(icon, label);
    el.append(doc);
  }
  if (message.location) {
    const where = document.createElement("div");
    where.className = "location";
    where.textContent = t("location", {
      latitude: message.location.latitude.toFixed(5), longitude: message.location.longitude.toFixed(5),
    });
    el.append(where);
  }
  if (message.text) el.append(formatted(message.text, message.entities));
  if (message.caption) el.append(formatted(message.caption, message.caption_entities));
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = clockText(message.edit_date || message.date);
  el.append(meta);
  const wrap = document.createElement("div");
  wrap.className = "item" + (mine ? " out" : " in") + (from.is_bot ? " bot" : "");
  wrap.dataset.messageId = message.message_id;
  wrap.append(el);
  const rows = (message.reply_markup || {}).inline_keyboard;
  if (rows && rows.length) wrap.append(inlineKeyboard(message, rows));
  return wrap;
}

function inlineKeyboard(message, rows) {
  const box = document.createElement("div");
  box.className = "inline-keyboard";
  for (const row of rows) {
    const line = document.createElement("div");
    line.className = "inline-row";
    for (const button of row) {
      let el;
      if (button.url) {
        el = document.createElement("a");
        el.href = /^(https?:|tg:)/i.test(button.url) ? button.url : "#";
        el.target = "_blank"; el.rel = "noopener noreferrer";
      } else {
        el = document.createElement("button");
        el.type = "button";
        if (button.callback_data !== undefined) {
          el.addEventListener("click", () => act(() => post(chatPath("press"), {
            user_id: state.persona.user_id, message_id: message.message_id, data: button.callback_data, lang: state.lang,
          })));
        }
      }
      el.className = "inline-btn";
      el.textContent = button.text;
      line.append(el);
    }
    box.append(line);
  }
  return box;
}

function drawKeyboard(rows) {
  const box = $("keyboard");
  box.replaceChildren();
  for (const row of rows || []) {
    const line = document.createElement("div");
    line.className = "kb-row";
    for (const button of row) {
      const label = typeof button === "string" ? button : button.text;
      const el = document.createElement("button");
      el.type = "button";
      el.className = "kb-btn";
      el.textContent = label;
      if (button.request_location) el.dataset.requestLocation = "1";
      el.addEventListener("click", () => (button.request_location ? askLocation() : sendText(label)));
      line.append(el);
    }
    box.append(line);
  }
}

function draw(chat) {
  const key = JSON.stringify([chat.messages, chat.keyboard]);
  if (key !== state.rendered) {
    state.rendered = key;
    const list = $("messages");
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    list.replaceChildren(...chat.messages.map(messageElement));
    if (atBottom || chat.messages.length !== state.messages.length) list.scrollTop = list.scrollHeight;
    state.messages = chat.messages;
    drawKeyboard(chat.keyboard);
  }
  drawCommands(chat.commands || []);
  if (chat.now) $("clock").textContent = dayAndTime(chat.now);
  $("start-bar").hidden = !(chat.chat.type === "private" && chat.messages.length === 0);
  const seen = state.toastSeq[state.persona.chat_id];
  const fresh = chat.toasts.filter((toast) => seen !== undefined && toast.seq > seen);
  if (chat.toasts.length) state.toastSeq[state.persona.chat_id] = chat.toasts[chat.toasts.length - 1].seq;
  else if (seen === undefined) state.toastSeq[state.persona.chat_id] = -1;
  for (const toast of fresh) showToast(toast.text, toast.alert);
}

function drawCommands(commands) {
  const menu = $("command-menu");
  $("menu").hidden = commands.length === 0;
  if (commands.length === 0) menu.hidden = true;
  const key = JSON.stringify(commands);
  if (menu.dataset.key === key) return;
  menu.dataset.key = key;
  menu.replaceChildren(...commands.map((command) => {
    const el = document.createElement("button");
    el.type = "button";
    el.className = "command-item";
    const name = document.createElement("b");
    name.textContent = "/" + command.command;
    const about = document.createElement("span");
    about.textContent = command.description;
    el.append(name, about);
    el.addEventListener("click", () => { menu.hidden = true; sendText("/" + command.command); });
    return el;
  }));
}

let toastTimer = null;
function showToast(text, alert) {
  const el = $("toast");
  el.textContent = text;
  el.className = alert ? "alert" : "";
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, alert ? 5000 : 2500);
}

// ------------------------------------------------------------------ talking to the server

async function follow(persona) {
  const mine = {};
  state.poll = mine;
  let since = null;
  while (state.poll === mine) {
    try {
      const query = "?user_id=" + persona.user_id + (since === null ? "" : "&since=" + since + "&wait=25");
      const chat = await api(chatPath("") + query);
      if (state.poll !== mine) return;
      since = chat.version;
      draw(chat);
    } catch (error) {
      if (state.poll !== mine) return;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

async function act(work) {
  try {
    await work();
  } catch (error) {
    showToast(t("failed", { error: error.message }), true);
  }
}

function sendText(text) {
  if (!text.trim()) return;
  act(() => post(chatPath("text"), { user_id: state.persona.user_id, text, lang: state.lang }));
}

async function upload(kind, file, album) {
  const query = new URLSearchParams({ user_id: state.persona.user_id, lang: state.lang });
  if (kind === "document") query.set("file_name", file.name);
  if (album) query.set("media_group_id", album);
  await act(() => api(chatPath(kind) + "?" + query, {
    method: "POST", headers: { "Content-Type": file.type || "application/octet-stream" }, body: file,
  }));
}

// ------------------------------------------------------------------ the location picker

function bounds() {
  return state.config.map || { south: 32.95, north: 33.08, west: 112.45, east: 112.62 };
}

function askLocation() {
  const dialog = $("location-dialog");
  $("map-pin").hidden = true;
  $("latitude").value = "";
  $("longitude").value = "";
  dialog.showModal();
}

function pickOnMap(event) {
  const map = $("map");
  const box = map.getBoundingClientRect();
  const x = (event.clientX - box.left) / box.width;
  const y = (event.clientY - box.top) / box.height;
  const b = bounds();
  $("latitude").value = (b.north - y * (b.north - b.south)).toFixed(6);
  $("longitude").value = (b.west + x * (b.east - b.west)).toFixed(6);
  const pin = $("map-pin");
  pin.style.left = x * 100 + "%";
  pin.style.top = y * 100 + "%";
  pin.hidden = false;
}

function sendLocation() {
  const latitude = parseFloat($("latitude").value);
  const longitude = parseFloat($("longitude").value);
  if (!Number.isFinite(latitude) || !Number.isFinite(longitude)) return;
  $("location-dialog").close();
  act(() => post(chatPath("location"), { user_id: state.persona.user_id, latitude, longitude, lang: state.lang }));
}

// ------------------------------------------------------------------ the side bar

function choose(persona) {
  state.persona = persona;
  state.rendered = "";
  state.messages = [];
  $("messages").replaceChildren();
  $("keyboard").replaceChildren();
  $("command-menu").hidden = true;
  for (const el of document.querySelectorAll(".persona")) el.classList.toggle("active", el.dataset.persona === persona.key);
  $("chat-title").textContent = persona.labels[state.lang];
  $("chat-sub").textContent = persona.key === "group" ? "" : t("bot");
  follow(persona);
}

function label() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  $("title").textContent = t("title");
  $("personas-label").textContent = t("personas");
  $("clock-label").textContent = t("clock");
  $("run-jobs").textContent = t("run_jobs");
  $("next-day").textContent = t("next_day");
  $("language").textContent = t("language");
  $("start").textContent = t("start");
  $("text").placeholder = t("placeholder");
  $("send").textContent = t("send");
  $("menu").textContent = t("menu");
  $("attach-photo").textContent = t("attach_photo");
  $("attach-file").textContent = t("attach_file");
  $("location-title").textContent = t("location_title");
  $("location-hint").textContent = t("location_hint");
  $("latitude-label").textContent = t("latitude");
  $("longitude-label").textContent = t("longitude");
  $("location-send").textContent = t("location_send");
  $("location-cancel").textContent = t("cancel");
  const list = $("personas");
  list.replaceChildren();
  state.config.personas.forEach((persona, index) => {
    const el = document.createElement("button");
    el.type = "button";
    el.className = "persona" + (state.persona && state.persona.key === persona.key ? " active" : "");
    el.dataset.persona = persona.key;
    const avatar = document.createElement("span");
    avatar.className = "avatar";
    avatar.style.background = COLOURS[index % COLOURS.length];
    const name = persona.labels[state.lang];
    avatar.textContent = Array.from(name.split(" ").pop())[0] || "?";
    const text = document.createElement("span");
    text.textContent = name;
    el.append(avatar, text);
    el.addEventListener("click", () => choose(persona));
    list.append(el);
  });
  if (state.persona) $("chat-title").textContent = state.persona.labels[state.lang];
}

async function control(name, button) {
  button.disabled = true;
  try {
    const answer = await api("/api/controls/" + name, { method: "POST" });
    $("clock").textContent = answer.result.clock;
    showToast(t("ran", { clock: answer.result.clock }), false);
  } catch (error) {
    showToast(t("failed", { error: error.message }), true);
  } finally {
    button.disabled = false;
  }
}

async function main() {
  state.config = await api("/api/config");
  state.lang = state.config.language || "zh";
  $("clock").textContent = state.config.clock || "";
  label();
  $("language").addEventListener("click", () => { state.lang = state.lang === "zh" ? "en" : "zh"; label(); state.rendered = ""; });
  $("run-jobs").addEventListener("click", () => control("jobs", $("run-jobs")));
  $("next-day").addEventListener("click", () => control("next_day", $("next-day")));
  $("start").addEventListener("click", () => sendText("/start"));
  $("menu").addEventListener("click", () => { $("command-menu").hidden = !$("command-menu").hidden; });
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("text").value;
    $("text").value = "";
    sendText(text);
  });
  $("attach-photo").addEventListener("click", () => $("photo-input").click());
  $("attach-file").addEventListener("click", () => $("file-input").click());
  $("photo-input").addEventListener("change", async (event) => {
    const files = Array.from(event.target.files);
    const album = files.length > 1 ? String(Date.now()) : null; // sent as one album
    for (const file of files) await upload("photo", file, album);
    event.target.value = "";
  });
  $("file-input").addEventListener("change", async (event) => {
    for (const file of event.target.files) await upload("document", file);
    event.target.value = "";
  });
  $("map").addEventListener("click", pickOnMap);
  $("location-send").addEventListener("click", sendLocation);
  $("location-cancel").addEventListener("click", () => $("location-dialog").close());
  choose(state.config.personas[0]);
}

main();
