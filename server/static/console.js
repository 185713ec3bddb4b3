// Vertrouwd privacy console: sign in and out, and send the few actions (verify now, an
// incident's outcome, revoke a device, go live / pause a store, withdraw / erase) to the JSON
// API. Everything else is rendered on the server. After an action the page reloads and shows
// what happened (the message survives the reload in sessionStorage).
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const FLASH = "vertrouwd.console.flash";

async function detail(r) {
  const body = await r.json().catch(() => ({}));
  if (typeof body.detail === "string") return body.detail;
  if (Array.isArray(body.detail)) {
    return body.detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg || d}`).join("; ");
  }
  return r.statusText || `HTTP ${r.status}`;
}

async function send(url, body) {
  const r = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-Vertrouwd": "1" },
    body: JSON.stringify(body || {}),
  });
  if (r.status === 401) { location.reload(); throw new Error(document.body.dataset.sessionEnded); }
  if (!r.ok) throw new Error(await detail(r));
  return r.status === 204 ? null : r.json();
}

function showError(text) {
  const box = $("#error") || $("#login-error");
  if (box) { box.textContent = text; box.scrollIntoView({ block: "nearest" }); }
}

function done(message, then) {
  if (message) sessionStorage.setItem(FLASH, message);
  if (then) location.assign(then); else location.reload();
}

// ---- sign in / out -------------------------------------------------------------------------
function setupLogin() {
  const form = $("#login");
  if (!form) return;
  $("#username").focus();
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const button = $("button[type=submit]", form);
    button.disabled = true;
    $("#login-error").textContent = "";
    // not send(): a wrong password is a 401, which here is an answer to show, not a session
    // that ended
    const r = await fetch("/api/v1/auth/login", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Vertrouwd": "1" },
      body: JSON.stringify({ username: $("#username").value, password: $("#password").value }),
    }).catch(() => null);
    if (r && r.ok) { location.assign(form.dataset.next || "/console"); return; }
    // a lockout (429) says for how long; anything else is the one message for a bad sign-in
    $("#login-error").textContent = r && r.status === 429 ? await detail(r) : form.dataset.wrong;
    button.disabled = false;
  });
}

function setupSignOut() {
  const button = $("#sign-out");
  if (!button) return;
  button.addEventListener("click", async () => {
    await fetch("/api/v1/auth/logout", { method: "POST", credentials: "same-origin", headers: { "X-Vertrouwd": "1" } }).catch(() => null);
    location.assign("/console");
  });
}

// ---- actions -------------------------------------------------------------------------------
function setupButtons() {
  for (const button of document.querySelectorAll("button[data-post]")) {
    button.addEventListener("click", async () => {
      if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
      button.disabled = true;
      const label = button.textContent;
      button.textContent = document.body.dataset.working;  // in the staff language
      try {
        await send(button.dataset.post, {});
        done(button.dataset.done, button.dataset.then);
      } catch (err) {
        showError(err.message);
        button.disabled = false;
        button.textContent = label;
      }
    });
  }
}

function formBody(form) {
  const body = {};
  const put = (name, value) => {
    const parts = name.split(".");
    let obj = body;
    for (const p of parts.slice(0, -1)) obj = obj[p] = obj[p] || {};
    obj[parts[parts.length - 1]] = value;
  };
  for (const el of form.elements) {
    if (!el.name || el.disabled) continue;
    if (el.type === "radio") { if (el.checked) put(el.name, el.value); continue; }
    if (el.type === "checkbox") { put(el.name, el.checked); continue; }
    if (el.type === "number") {
      const n = Number(el.value) * Number(el.dataset.scale || 1);
      put(el.name, Math.round(n * 10000) / 10000);
      continue;
    }
    put(el.name, el.value);
  }
  return body;
}

function setupForms() {
  for (const form of document.querySelectorAll("form[data-api]")) {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const button = $("button[type=submit]", form);
      button.disabled = true;
      try {
        await send(form.dataset.api, formBody(form));
        done(form.dataset.done, form.dataset.then);
      } catch (err) {
        showError(err.message);
        button.disabled = false;
      }
    });
  }
}

// ---- member zone preview -------------------------------------------------------------------
function setupZones() {
  for (const form of document.querySelectorAll("form[data-zone-form]")) {
    const rect = $(".zone-rect", form.closest("section"));
    if (!rect) continue;
    const update = () => {
      const v = (n) => Math.max(0, Number(form.elements[`zone.${n}`].value) || 0) / 100;
      rect.setAttribute("x", (v("x") * 160).toFixed(1));
      rect.setAttribute("y", (v("y") * 90).toFixed(1));
      rect.setAttribute("width", (Math.min(v("w"), 1 - v("x")) * 160).toFixed(1));
      rect.setAttribute("height", (Math.min(v("h"), 1 - v("y")) * 90).toFixed(1));
    };
    form.addEventListener("input", update);
  }
}

// ---- recognition mode: the legal position appears when "door" is picked -------------------
function setupModes() {
  for (const box of document.querySelectorAll("[data-mode-choice]")) {
    const legal = $("[data-door-legal]", box);
    const ack = $("input[name=door_acknowledged]", box);
    const update = () => {
      const picked = $("input[name=mode]:checked", box);
      const door = !!picked && picked.value === "door";
      legal.hidden = !door;
      ack.required = door;
    };
    box.addEventListener("change", update);
    update();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const message = sessionStorage.getItem(FLASH);
  if (message && $("#flash")) { $("#flash").textContent = message; sessionStorage.removeItem(FLASH); }
  setupLogin();
  setupSignOut();
  setupButtons();
  setupForms();
  setupZones();
  setupModes();
});
