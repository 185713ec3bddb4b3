"""The check-in kiosk page the device serves beside the spot (``/kiosk`` on the health port).

It shows one of three states, large, and nothing else: *idle* ("Check hier in"), *looking*
("Even kijken…") and *welcome* ("Welkom!"). Never a name, a picture, a score or whether someone
was *not* recognised: the screen stands in public view (a non-member standing there learns
nothing, and neither does the next person in line). With a required trigger it shows a button
that posts ``/kiosk/checkin``. The page polls ``/kiosk/state`` twice a second; the script is
served from ``/kiosk.js`` so the page's Content-Security-Policy forbids inline script.
"""

from __future__ import annotations

from typing import Any

from edge.checkin import KioskSnapshot

__all__ = ["KIOSK_CSP", "KIOSK_HTML", "KIOSK_JS", "kiosk_state_json"]

KIOSK_CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)

KIOSK_HTML = """<!doctype html>
<html lang="nl">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Inchecken</title>
<style>
  html, body { height: 100%; margin: 0; }
  body { display: flex; align-items: center; justify-content: center; flex-direction: column;
         font-family: system-ui, sans-serif; background: #f4f1ea; color: #222;
         transition: background 0.3s; }
  body[data-state="looking"] { background: #e6eef8; }
  body[data-state="welcome"] { background: #e3f3e5; }
  body[data-state="off"] { background: #eee; color: #777; }
  #message { font-size: 9vw; font-weight: 600; text-align: center; margin: 0 5vw; }
  #hint { font-size: 3.2vw; margin-top: 2vh; text-align: center; }
  #checkin { font-size: 4vw; padding: 2vh 6vw; margin-top: 4vh; border-radius: 2vw;
             border: 0; background: #1f5f3a; color: #fff; }
  #checkin[hidden] { display: none; }
</style>
</head>
<body data-state="idle">
  <p id="message" role="status" aria-live="polite">Check hier in</p>
  <p id="hint">Ga op de gemarkeerde plek staan en kijk naar de camera.</p>
  <button id="checkin" type="button" hidden>Inchecken</button>
  <script src="/kiosk.js"></script>
</body>
</html>
"""

KIOSK_JS = """"use strict";
(function () {
  var TEXT = {
    idle: ["Check hier in", "Ga op de gemarkeerde plek staan en kijk naar de camera."],
    looking: ["Even kijken\\u2026", "Blijf even staan en kijk naar de camera."],
    welcome: ["Welkom!", ""],
    off: ["Inchecken is nu niet beschikbaar", "Vraag het gerust aan een medewerker."]
  };
  var message = document.getElementById("message");
  var hint = document.getElementById("hint");
  var button = document.getElementById("checkin");
  function show(state, trigger) {
    var text = TEXT[state] || TEXT.off;
    document.body.setAttribute("data-state", state);
    if (message.textContent !== text[0]) { message.textContent = text[0]; }
    hint.textContent = state === "idle" && trigger ? "Druk op de knop om in te checken." : text[1];
    button.hidden = !(trigger && state === "idle");
  }
  function poll() {
    fetch("/kiosk/state", {cache: "no-store"})
      .then(function (r) { return r.json(); })
      .then(function (s) { show(s.available ? s.state : "off", s.trigger_required); })
      .catch(function () { show("off", false); })
      .finally(function () { setTimeout(poll, 500); });
  }
  button.addEventListener("click", function () {
    fetch("/kiosk/checkin", {method: "POST", headers: {"Content-Type": "application/json"},
                             body: "{}"})
      .then(function (r) { return r.json(); })
      .then(function (s) { show(s.available ? s.state : "off", s.trigger_required); })
      .catch(function () {});
  });
  poll();
})();
"""


def kiosk_state_json(snapshot: KioskSnapshot, *, available: bool) -> dict[str, Any]:
    """The ``/kiosk/state`` document: the phase only (no identity, score or time of day)."""
    return {
        "state": snapshot.state if available else "idle",
        "available": available,
        "trigger_required": snapshot.trigger_required,
    }
