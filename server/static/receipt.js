// Receipt: a print button (no inline script: the pages' CSP allows only this file).
"use strict";
const printButton = document.getElementById("print");
if (printButton) printButton.addEventListener("click", () => window.print());

// No link on the page (not right after enrolment): an explicit re-issue, which revokes the old
// link and is audited. The QR code comes from the server as SVG markup.
const reissue = document.getElementById("reissue");
const reissueButton = document.getElementById("reissue-button");
if (reissue && reissueButton) {
  reissueButton.addEventListener("click", async () => {
    // the cashier's words come with the page (data- attributes: the CSP allows no inline script)
    if (!window.confirm(reissue.dataset.confirm)) return;
    reissueButton.disabled = true;
    const error = document.getElementById("reissue-error");
    error.hidden = true;
    const r = await fetch(reissue.dataset.url, {
      method: "POST", credentials: "same-origin", headers: { "X-Vertrouwd": "1", Accept: "application/json" },
    }).catch(() => null);
    if (!r || !r.ok) {
      error.textContent = r ? ((await r.json().catch(() => ({}))).detail || r.statusText) : reissue.dataset.unreachable;
      error.hidden = false;
      reissueButton.disabled = false;
      return;
    }
    const body = await r.json();
    const svg = new DOMParser().parseFromString(body.qr_svg, "image/svg+xml").documentElement;
    document.getElementById("qr").replaceChildren(document.importNode(svg, true));
    const link = document.getElementById("self-service-link");
    link.href = body.self_service_url;
    link.textContent = body.self_service_url;
    document.getElementById("reissued").hidden = false;
    reissueButton.hidden = true;
    document.getElementById("print").addEventListener("click", () => window.print());
  });
}
