// Vertrouwd register: find or create a customer, consent, three checked photos, enrol.
// A customer found in step 1 whose consent has ended can be enrolled again ("Enrol again"): the
// form is filled from their record and sent with their customer_id, so their history is kept.
// Photos live only in this page's memory until they are sent; after enrolment (or a refusal
// that ends the attempt) every photo blob and canvas is cleared.
"use strict";

const MAX_PHOTOS = 3;
const $ = (id) => document.getElementById(id);
// The cashier's words in the page's staff language (server/api/staff_text.py): Dutch for Dutch
// stores, English on request.
const T = JSON.parse($("staff-text").textContent);
const fmt = (text, vars) => text.replace(/\{(\w+)\}/g, (_, k) => String(vars[k]));
const CAMERA_ON = T.camera_on;
const state = { who: null, slots: [], stream: null, nextSlotId: 1, reenrol: null, kind: null };

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

async function detail(r) {
  const body = await r.json().catch(() => ({}));
  if (typeof body.detail === "string") return body.detail;
  if (Array.isArray(body.detail)) return body.detail.map((d) => d.msg || String(d)).join("; ");
  return r.statusText || `HTTP ${r.status}`;
}

async function api(path, opts = {}) {
  // X-Vertrouwd: the server refuses a signed-in change without it (cross-site request forgery).
  const headers = { "X-Vertrouwd": "1", ...(opts.headers || {}) };
  const r = await fetch(path, { credentials: "same-origin", ...opts, headers });
  if (r.status === 401) { showLogin(); throw new Error(T.session_ended); }
  if (!r.ok) { const e = new Error(await detail(r)); e.status = r.status; throw e; }
  return r.status === 204 ? null : r.json();
}

// ---- sign in ----------------------------------------------------------------------------
function show(view) {
  for (const id of ["login-view", "forbidden-view", "app"]) $(id).hidden = id !== view;
}
function showLogin() {
  state.who = null;
  $("who").textContent = T.not_signed_in;
  $("sign-out").hidden = true;
  show("login-view");
  $("username").focus();
}
async function start() {
  let who;
  try { who = await api("/api/v1/auth/me"); } catch { return; }
  state.who = who;
  const role = T[`role_${who.role}`] || who.role;
  $("who").textContent = fmt(T.who, { name: who.display_name, role });
  $("sign-out").hidden = false;
  if (who.role !== "cashier" && who.role !== "admin") {
    $("forbidden-text").textContent = fmt(T.forbidden_who, { name: who.display_name, role });
    show("forbidden-view");
    return;
  }
  show("app");
  refresh();
}
$("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("login-error").textContent = "";
  const r = await fetch("/api/v1/auth/login", {
    method: "POST", headers: { "content-type": "application/json", "X-Vertrouwd": "1" }, credentials: "same-origin",
    body: JSON.stringify({ username: $("username").value, password: $("password").value }),
  });
  if (!r.ok) { $("login-error").textContent = T.wrong_login; return; }
  $("password").value = "";
  start();
});
$("sign-out").addEventListener("click", async () => {
  clearPhotos();
  await fetch("/api/v1/auth/logout", { method: "POST", credentials: "same-origin", headers: { "X-Vertrouwd": "1" } });
  showLogin();
});

// ---- find an existing customer -------------------------------------------------------------
function statusBadge(c) {
  const s = c.recognition || c.consent_status || c.status || "";
  return s ? el("span", { class: `badge ${s}` }, s === "active" ? T.badge_active : s) : null;
}
function customerAction(label, cls, action, fn) {
  return el("button", { type: "button", class: cls, "data-action": action, onclick: fn }, label);
}
async function customerCall(c, what, confirmText) {
  if (confirmText && !window.confirm(confirmText)) return;
  const msg = $("customer-message");
  msg.className = "alert";
  try {
    await api(`/api/v1/customers/${encodeURIComponent(c.id)}/${what}`, { method: "POST" });
    const done = { renew: T.done_renew, withdraw: T.done_withdraw, erase: T.done_erase,
                   "membership/pass": T.done_pass_only }[what];
    msg.className = "alert good";
    msg.textContent = fmt(done, { name: c.name });
    search();
  } catch (e) {
    msg.className = "alert bad";
    msg.textContent = e.message;
  }
}
async function search() {
  const q = $("search").value.trim();
  const results = $("results");
  results.replaceChildren();
  if (!q) { $("search-status").textContent = ""; return; }
  $("search-status").textContent = T.searching;
  let found;
  try {
    found = await api(`/api/v1/customers?q=${encodeURIComponent(q)}`);
  } catch (e) {
    $("search-status").textContent = fmt(T.search_failed, { message: e.message });
    return;
  }
  const list = Array.isArray(found) ? found : (found.customers || found.results || []);
  $("search-status").textContent = list.length ? fmt(T.found, { n: list.length }) : T.not_found;
  for (const c of list) {
    const s = c.recognition || c.consent_status || c.status;
    const buttons = el("div", { class: "row" },
      el("a", { class: "button secondary", href: `/register/receipt/${encodeURIComponent(c.id)}`, "data-action": "receipt" }, T.print_link));
    if (s === "active") {
      buttons.append(
        customerAction(T.new_pass, "secondary", "new-pass", () => newPass(c)));
      if (c.membership === "pass") {
        buttons.append(customerAction(T.add_face, "secondary", "add-face", () => {
          startReenrol(c);
          chooseKind("face");
        }));
      } else if (c.membership === "face") {
        buttons.append(customerAction(T.pass_only, "secondary", "pass-only",
          () => customerCall(c, "membership/pass", fmt(T.pass_only_confirm, { name: c.name }))));
      }
      buttons.append(
        customerAction(T.renew, "secondary", "renew", () => customerCall(c, "renew")),
        customerAction(T.withdraw, "danger", "withdraw",
          () => customerCall(c, "withdraw", fmt(T.withdraw_confirm, { name: c.name }))));
    } else {
      buttons.append(customerAction(s === "none" ? T.enrol_existing_short : T.enrol_again, "primary", "reenrol",
        () => startReenrol(c)));
    }
    buttons.append(customerAction(T.erase, "danger", "erase",
      () => customerCall(c, "erase", fmt(T.erase_confirm, { name: c.name }))));
    results.append(el("li", { "data-customer": c.id },
      el("div", {}, el("strong", {}, c.name), " ",
        c.preferred_name && c.preferred_name !== c.name ? el("span", { class: "muted" }, `(${c.preferred_name}) `) : null,
        statusBadge(c)),
      buttons));
  }
}
$("search-form").addEventListener("submit", (ev) => { ev.preventDefault(); search(); });

// ---- the membership pass: printed once, on the receipt, never put in a URL -------------------
function printReceipt(customerId, passToken) {
  const form = $("receipt-form");
  form.action = `/register/receipt/${encodeURIComponent(customerId)}`;
  $("receipt-pass").value = passToken;
  form.submit();
}
async function newPass(c) {
  if (!window.confirm(fmt(T.new_pass_confirm, { name: c.name }))) return;
  const msg = $("customer-message");
  try {
    const r = await api(`/api/v1/customers/${encodeURIComponent(c.id)}/pass`, { method: "POST" });
    printReceipt(c.id, r.pass_token);
  } catch (e) {
    msg.className = "alert bad";
    msg.textContent = e.message;
  }
}

// ---- kind of membership: with a face or without (two equal choices) -------------------------
function chooseKind(kind) {
  const radio = document.querySelector(`input[name=membership][value="${kind}"]`);
  if (radio) radio.checked = true;
  applyKind();
}
function applyKind() {
  const picked = document.querySelector("input[name=membership]:checked");
  state.kind = picked ? picked.value : null;
  for (const e of document.querySelectorAll("[data-kind]")) e.hidden = e.dataset.kind !== (state.kind || "none");
  // the consent box and the typed name only once a kind (and so its consent text) is chosen
  for (const e of document.querySelectorAll("[data-kind-chosen]")) e.hidden = !state.kind;
  $("finish-step").textContent = state.kind === "face" ? "6" : "5"; // step 5 is the photos
  if (state.kind === "pass") { // no photo and no camera for a membership without a face
    if (state.stream) stopCamera();
    clearPhotos();
  }
  refresh();
}
for (const radio of document.querySelectorAll("input[name=membership]")) radio.addEventListener("change", applyKind);

// ---- enrol an existing customer again -----------------------------------------------------
function submitLabel() {
  if (!state.reenrol) return T.enrol;
  return state.reenrol.again ? T.enrol_again : T.enrol_existing;
}
function setMode(customer) {
  state.reenrol = customer ? { id: customer.id, name: customer.name, again: customer.again } : null;
  $("name").readOnly = Boolean(customer);
  $("name-hint").hidden = !customer;
  $("reenrol-banner").hidden = !customer;
  $("reenrol-text").textContent = customer
    ? fmt(customer.again ? T.reenrolling_again : T.reenrolling_existing, { name: customer.name })
    : "";
  $("new-title-text").textContent = customer ? submitLabel() : T.new_member;
  $("submit").textContent = submitLabel();
  $("enrol-error").textContent = "";
}
function startReenrol(c) {
  const s = c.recognition || c.consent_status || c.status;
  setMode({ id: c.id, name: c.name, again: s !== "none" });
  $("name").value = c.name;
  $("preferred_name").value = c.preferred_name || "";
  if (["nl", "en"].includes(c.language)) $("language").value = c.language;
  $("email").value = c.email || "";
  $("consent_confirmed").checked = false;
  $("confirmation_name").value = "";
  applyLanguage();
  refresh();
  $("reenrol-banner").scrollIntoView({ block: "center" });
  $("reenrol-cancel").focus();
}
function cancelReenrol() {
  for (const id of ["name", "preferred_name", "email", "confirmation_name"]) $(id).value = "";
  $("consent_confirmed").checked = false;
  setMode(null);
  refresh();
  $("name").focus();
}
$("reenrol-cancel").addEventListener("click", cancelReenrol);

// ---- language and consent ------------------------------------------------------------------
function applyLanguage() {
  const lang = $("language").value;
  for (const e of document.querySelectorAll("[data-lang]")) e.hidden = e.dataset.lang !== lang;
}
$("language").addEventListener("change", applyLanguage);

const norm = (s) => s.split(/\s+/).filter(Boolean).join(" ").toLowerCase();
function nameMatches() {
  const name = norm($("name").value);
  return name !== "" && norm($("confirmation_name").value) === name;
}
function updateNameMatch() {
  const typed = $("confirmation_name").value.trim();
  $("name-match").textContent = !typed ? "" : nameMatches() ? T.name_matches : T.name_differs;
}

// ---- photos --------------------------------------------------------------------------------
function slotView(slot) {
  const verdict = el("div", { class: "verdict" });
  const detailEl = el("div", { class: "detail" });
  const remove = el("button", { type: "button", class: "secondary", "data-action": "remove",
    "aria-label": `${T.remove} ${slot.id}`, onclick: () => removeSlot(slot) }, T.remove);
  slot.node = el("div", { class: "slot pending", "data-slot": slot.id },
    el("div", { class: "meta" }, fmt(T.photo_slot, { n: slot.id, source: T[`source_${slot.source}`] || slot.source })),
    slot.canvas, verdict, detailEl, remove);
  slot.verdictEl = verdict;
  slot.detailEl = detailEl;
  verdict.replaceChildren(el("progress", { "aria-label": fmt(T.checking_photo, { n: slot.id }) }),
    " " + T.checking);
  $("slots").append(slot.node);
}
function renderVerdict(slot) {
  slot.node.className = `slot ${slot.status}`;
  slot.node.dataset.status = slot.status;
  if (slot.status === "ok") {
    const r = slot.result;
    slot.verdictEl.textContent = T.photo_ok;
    slot.detailEl.textContent =
      fmt(T.photo_facts, { px: r.face_size, sharpness: Math.round(r.sharpness) }) +
      (r.frontalness == null ? "" : fmt(T.photo_frontal, { percent: Math.round(r.frontalness * 100) }));
  } else if (slot.status === "bad") {
    slot.verdictEl.textContent = T.photo_bad;
    // the server's reasons as codes, said in the page's language (its English sentences only
    // for a code this page does not know)
    const problems = slot.result ? slot.result.problems || [] : [];
    const said = problems.map(problemText);
    const known = problems.length > 0 && said.every((t) => t);
    const reasons = !slot.result ? [slot.error] : known ? said : slot.result.reasons;
    const hints = !slot.result ? [] : known
      ? [...new Set(problems.map((p) => T[`photo_hint_${p.code}`]).filter((t) => t))]
      : slot.result.hints || [];
    slot.detailEl.replaceChildren(...reasons.map((t) => el("div", {}, t)),
      ...hints.map((t) => el("div", { class: "muted" }, t)));
  }
}
function problemText(p) {
  const template = T[`photo_problem_${p.code}`];
  if (!template) return null;
  const scale = p.code === "not_frontal" ? 100 : 1; // frontalness 0..1, said as a percentage
  return fmt(template, { value: Math.round(p.value * scale), need: Math.round(p.need * scale) });
}
async function addPhoto(blob, source) {
  if (state.slots.length >= MAX_PHOTOS) {
    $("camera-status").textContent = T.enough_photos;
    return;
  }
  const slot = { id: state.nextSlotId++, blob, source, status: "pending", result: null,
    canvas: el("canvas", { width: 1, height: 1, role: "img", "aria-label": T.photo_preview }) };
  state.slots.push(slot);
  slotView(slot);
  refresh();
  try {
    const bitmap = await createImageBitmap(blob);
    const scale = Math.min(1, 320 / bitmap.width);
    slot.canvas.width = Math.round(bitmap.width * scale);
    slot.canvas.height = Math.round(bitmap.height * scale);
    slot.canvas.getContext("2d").drawImage(bitmap, 0, 0, slot.canvas.width, slot.canvas.height);
    bitmap.close();
  } catch { /* the server says why it is not an image */ }
  const form = new FormData();
  form.append("photo", blob, `photo-${slot.id}.jpg`);
  try {
    slot.result = await api("/api/v1/enrolments/check-photo", { method: "POST", body: form });
    slot.status = slot.result.ok ? "ok" : "bad";
  } catch (e) {
    slot.status = "bad";
    slot.error = e.message;
  }
  if (!state.slots.includes(slot)) return; // removed while being checked
  renderVerdict(slot);
  refresh();
}
function wipe(slot) {
  slot.blob = null;
  slot.result = null;
  const ctx = slot.canvas.getContext("2d");
  ctx.clearRect(0, 0, slot.canvas.width, slot.canvas.height);
  slot.canvas.width = 0;
  slot.canvas.height = 0;
  slot.node.remove();
}
function removeSlot(slot) {
  state.slots = state.slots.filter((s) => s !== slot);
  wipe(slot);
  $("camera-status").textContent = state.stream ? CAMERA_ON : "";  // "only N more fit" is stale
  refresh();
}
function clearPhotos() {
  for (const slot of state.slots) wipe(slot);
  state.slots = [];
  state.nextSlotId = 1;
  $("upload").value = "";
  $("camera-status").textContent = "";
  stopCamera();
  refresh();
}
$("upload").addEventListener("change", async (ev) => {
  const files = Array.from(ev.target.files || []);
  ev.target.value = ""; // the page keeps its own copy only until submit
  const room = MAX_PHOTOS - state.slots.length;
  if (files.length > room) {
    $("camera-status").textContent = fmt(T.only_room, { n: room });
  }
  await Promise.all(files.slice(0, Math.max(room, 0)).map((f) => addPhoto(f, "uploaded")));
});

async function startCamera() {
  const status = $("camera-status");
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    status.textContent = T.no_camera;
    return;
  }
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: "user", width: { ideal: 1280 }, height: { ideal: 720 } }, audio: false });
  } catch (e) {
    status.textContent = fmt(T.camera_failed, { error: e.name });
    return;
  }
  const video = $("video");
  video.srcObject = state.stream;
  video.hidden = false;
  await video.play().catch(() => {});
  $("capture").hidden = false;
  $("camera-start").textContent = T.stop_camera;
  status.textContent = CAMERA_ON;
  // the preview is sized to fit; bring "Take photo" into view with it
  $("video").closest(".camera").scrollIntoView({ block: "nearest" });
}
function stopCamera() {
  if (state.stream) for (const t of state.stream.getTracks()) t.stop();
  state.stream = null;
  const video = $("video");
  video.srcObject = null;
  video.hidden = true;
  $("capture").hidden = true;
  $("camera-start").textContent = T.start_camera;
}
$("camera-start").addEventListener("click", () => (state.stream ? stopCamera() : startCamera()));
$("capture").addEventListener("click", async () => {
  const video = $("video");
  if (!video.videoWidth) { $("camera-status").textContent = "The camera has no picture yet."; return; }
  const canvas = el("canvas", { width: video.videoWidth, height: video.videoHeight });
  canvas.getContext("2d").drawImage(video, 0, 0);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.92));
  canvas.width = 0; // the full-size frame is not kept
  if (blob) await addPhoto(blob, "camera");
});

// ---- enrol ---------------------------------------------------------------------------------
function missing() {
  const out = [];
  if (!$("name").value.trim()) out.push(T.need_name);
  if (!state.kind) { out.push(T.need_kind); return out; }
  if (!$("consent_confirmed").checked) out.push(T.need_consent);
  if (!nameMatches()) out.push(T.need_typed_name);
  if (state.kind === "pass") return out;
  const ok = state.slots.filter((s) => s.status === "ok").length;
  if (state.slots.some((s) => s.status === "pending")) out.push(T.need_check);
  if (state.slots.some((s) => s.status === "bad")) out.push(T.need_remove);
  if (ok === 0) out.push(T.need_photo);
  return out;
}
function refresh() {
  updateNameMatch();
  const m = missing();
  const ok = state.slots.filter((s) => s.status === "ok").length;
  const items = m.map((t) => el("li", {}, fmt(T.still_needed, { what: t })));
  if (!m.length && state.kind === "pass") items.push(el("li", {}, T.ready_pass));
  else if (!m.length && ok < MAX_PHOTOS) items.push(el("li", {}, fmt(T.ready_some, { n: ok })));
  else if (!m.length && ok === MAX_PHOTOS) items.push(el("li", {}, T.ready));
  $("missing").replaceChildren(...items);
  $("submit").disabled = m.length > 0;
}
for (const id of ["name", "confirmation_name", "consent_confirmed"]) {
  $(id).addEventListener("input", refresh);
  $(id).addEventListener("change", refresh);
}
$("reset").addEventListener("click", () => {
  // `form.reset` is the button with id "reset" (named access): call the method itself, so the
  // previous customer's name, e-mail, consent tick and photos leave the shared counter screen
  HTMLFormElement.prototype.reset.call($("enrol-form"));
  setMode(null);
  clearPhotos();
  for (const id of ["search", "confirmation_name"]) $(id).value = "";
  $("results").replaceChildren();
  for (const id of ["search-status", "customer-message", "camera-status", "enrol-error", "name-match"]) {
    $(id).textContent = "";
  }
  applyLanguage();
  applyKind();
  refresh();
  $("search").focus();
});

function plainError(status, message) {
  if (status === 409 && /already enrolled/.test(message)) {
    return T.err_face_taken;
  }
  if (status === 409 && /already a member/.test(message)) {
    return T.err_member;
  }
  if (status === 404) return fmt(T.err_not_found, { message });
  if (status === 413) return T.err_too_large;
  if (status === 422) return fmt(T.err_invalid, { message });
  if (status === 403) return fmt(T.err_forbidden, { message });
  return fmt(T.err_failed, { message });
}
$("enrol-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (missing().length) return;
  const button = $("submit");
  button.disabled = true;
  button.textContent = T.enrolling;
  $("enrol-error").textContent = "";
  $("enrol-progress").hidden = false;
  const form = new FormData();
  form.append("name", $("name").value);
  form.append("preferred_name", $("preferred_name").value);
  form.append("language", $("language").value);
  if ($("email").value.trim()) form.append("email", $("email").value.trim());
  if (state.reenrol) form.append("customer_id", state.reenrol.id);
  form.append("consent_confirmed", "true");
  form.append("confirmation_name", $("confirmation_name").value);
  form.append("membership", state.kind);
  if (state.kind === "face") {
    for (const s of state.slots) if (s.status === "ok") form.append("photos", s.blob, `photo-${s.id}.jpg`);
  }
  try {
    const result = await api("/api/v1/enrolments", { method: "POST", body: form });
    clearPhotos();
    printReceipt(result.customer_id, result.pass_token);
  } catch (e) {
    $("enrol-progress").hidden = true;
    if (e.status === 409) clearPhotos(); // this person must not be enrolled again
    $("enrol-error").textContent = plainError(e.status, e.message);
    button.textContent = submitLabel();
    refresh();
  }
});
window.addEventListener("pagehide", clearPhotos);

applyLanguage();
applyKind();
start();
