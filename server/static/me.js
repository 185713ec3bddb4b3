// Self-service page: "stop recognising me" and "forget me entirely", each after a confirm
// dialog, take effect at once through the JSON API; the page then reloads to show the new state.
"use strict";
const errorEl = document.getElementById("action-error");
for (const button of document.querySelectorAll("button[data-action]")) {
  button.addEventListener("click", async () => {
    if (!window.confirm(button.dataset.confirm)) return;
    for (const b of document.querySelectorAll("button[data-action]")) b.disabled = true;
    errorEl.className = "alert";
    errorEl.textContent = errorEl.dataset.working;
    let reason = "";
    try {
      const r = await fetch(button.dataset.url, { method: "POST", credentials: "omit", cache: "no-store" });
      if (r.ok) {
        const url = new URL(location.href);
        url.searchParams.set("done", button.dataset.action);
        location.replace(url.toString());
        return;
      }
      const body = await r.json().catch(() => ({}));
      reason = typeof body.detail === "string" ? body.detail : `HTTP ${r.status}`;
    } catch (e) {
      reason = e.message;
    }
    errorEl.className = "alert bad";
    errorEl.textContent = errorEl.dataset.template.replace("{reason}", reason);
    for (const b of document.querySelectorAll("button[data-action]")) b.disabled = false;
  });
}

// A new membership pass: shown once, here, as text and QR code (the server keeps only its
// digest); the old pass stops working at once.
const newPass = document.getElementById("new-pass");
if (newPass) {
  newPass.addEventListener("click", async () => {
    if (!window.confirm(newPass.dataset.confirm)) return;
    newPass.disabled = true;
    let reason = "";
    try {
      const r = await fetch(newPass.dataset.url, { method: "POST", credentials: "omit", cache: "no-store" });
      if (r.ok) {
        const body = await r.json();
        const svg = new DOMParser().parseFromString(body.qr_svg, "image/svg+xml").documentElement;
        document.getElementById("pass-qr").replaceChildren(document.importNode(svg, true));
        document.getElementById("pass-token").textContent = body.pass_token;
        document.getElementById("pass-shown").hidden = false;
        newPass.disabled = false;
        return;
      }
      const body = await r.json().catch(() => ({}));
      reason = typeof body.detail === "string" ? body.detail : `HTTP ${r.status}`;
    } catch (e) {
      reason = e.message;
    }
    errorEl.className = "alert bad";
    errorEl.textContent = errorEl.dataset.template.replace("{reason}", reason);
    newPass.disabled = false;
  });
}
