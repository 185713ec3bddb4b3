"""Plain words for the customer's self-service page (``/me``): its first screen (what is held,
for how long, what the camera does, the three buttons) and human labels for the detail tables
(issue 16). Kept apart from ``page_text`` so the page's own words live in one place; a key here
replaces the one in ``page_text`` on this page only (its wording there is for other pages).

Every language has exactly the same keys (a test checks it)."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any, Final

from server.api.page_text import texts
from server.services import localtime

ME_TEXT: Final[dict[str, dict[str, str]]] = {
    "en": {
        "me_intro": "Here you see what we keep about you and you decide what happens with it.",
        "held_title": "What we keep about you",
        "held_profile": "Your name, e-mail address and language.",
        "held_face": "A code made from your photos, so the camera can recognise you. Nobody can "
        "turn it back into a photo, and it is locked so only our system can read it. The photos "
        "themselves were deleted right away.",
        "held_noface": "Nothing about your face.",
        "held_purchases": "{count} purchases, {visits} visits, your preferences and notes.",
        "keep_title": "How long",
        "keep_until": "Until {date}, when your consent ends (unless you renew it). Your face code "
        "is deleted at the latest {years} years after your last visit.",
        "keep_noconsent": "We no longer recognise you. Your purchases and preferences stay until "
        "you have them erased below.",
        "keep_until_pass": "Until {date}, when your consent ends (unless you renew it).",
        "camera_body_pass": "The camera does not recognise you: we keep nothing about your "
        "face. You show your pass at the check-in point and the staff see your name, so they can "
        "greet you. People the camera does not recognise are ignored at once and nothing about "
        "them is kept.",
        "qr_pass_label": "QR code of the membership pass",
        "camera_title": "What the camera does",
        "camera_body": "When you walk into the store, the camera at the entrance recognises you "
        "and tells the staff your name, so they can greet you. It sends no pictures anywhere. "
        "People who are not members are ignored at once and nothing about them is kept.",
        "buttons_title": "What you can do",
        "details": "Show all details (purchases per month, notes, history)",
        "templates": "Face codes kept: {count}, locked; nobody can see them.",
        "templates_none": "No face code is kept.",
        "data_key": "Your data is locked with your own key. Erasing it makes your face code and "
        "photo unreadable everywhere.",
        "month_total": "{count} items",
        "col_total_cents": "Amount",
        "col_price_cents": "Price",
        "col_sold_at": "Date",
        "col_created_at": "Recorded",
        "col_description": "Description",
        "col_ready_at": "Ready since",
        "code_return": "return",
        "section_customer_external_ids": "Linked customer numbers",
        "col_updated_at": "Updated",
        "col_due_at": "Expected",
        "col_reported_at": "Reported",
        "col_kind": "What",
        "col_status": "Status",
        "col_text": "Description",
        "col_body": "Note",
        "col_author": "By",
        "col_ref": "Number",
        "col_source": "From",
        "col_need": "Need",
        "col_outcome": "Outcome",
        "col_score": "Match score",
        "col_margin": "Margin",
        "code_special_order": "special order",
        "code_repair": "repair",
        "code_pickup": "pickup",
        "code_open": "open",
        "code_ready": "ready",
        "code_done": "done",
        "code_collected": "collected",
        "code_cancelled": "cancelled",
        "code_pos": "till",
        "code_import": "import",
    },
    "nl": {
        "me_intro": "Hier ziet u wat wij over u bewaren en bepaalt u wat ermee gebeurt.",
        "held_title": "Wat wij over u bewaren",
        "held_profile": "Uw naam, e-mailadres en taal.",
        "held_face": "Een code gemaakt van uw foto's, zodat de camera u herkent. Niemand kan er "
        "weer een foto van maken, en hij is afgesloten zodat alleen ons systeem hem kan lezen. "
        "De foto's zelf zijn meteen gewist.",
        "held_noface": "Niets over uw gezicht.",
        "held_purchases": "{count} aankopen, {visits} bezoeken, uw voorkeuren en notities.",
        "keep_title": "Hoe lang",
        "keep_until": "Tot {date}, als uw toestemming afloopt (tenzij u die verlengt). Uw "
        "gezichtscode wordt uiterlijk {years} jaar na uw laatste bezoek gewist.",
        "keep_noconsent": "Wij herkennen u niet meer. Uw aankopen en voorkeuren blijven tot u ze "
        "hieronder laat wissen.",
        "keep_until_pass": "Tot {date}, als uw toestemming afloopt (tenzij u die verlengt).",
        "camera_body_pass": "De camera herkent u niet: wij bewaren niets over uw gezicht. U laat "
        "uw pas zien bij het aanmeldpunt en het personeel krijgt uw naam te zien, zodat ze u "
        "kunnen begroeten. Mensen die de camera niet herkent, worden meteen genegeerd; over hen "
        "wordt niets bewaard.",
        "qr_pass_label": "QR-code van de ledenpas",
        "camera_title": "Wat de camera doet",
        "camera_body": "Als u de winkel binnenloopt, herkent de camera bij de ingang u en krijgt "
        "het personeel uw naam te zien, zodat ze u kunnen begroeten. De camera stuurt nergens "
        "beelden heen. Mensen die geen lid zijn, worden meteen genegeerd; over hen wordt niets "
        "bewaard.",
        "buttons_title": "Wat u kunt doen",
        "details": "Alle details tonen (aankopen per maand, notities, geschiedenis)",
        "templates": "Gezichtscodes bewaard: {count}, afgesloten; niemand kan ze zien.",
        "templates_none": "Er wordt geen gezichtscode bewaard.",
        "data_key": "Uw gegevens zijn afgesloten met uw eigen sleutel. Wissen maakt uw "
        "gezichtscode en foto overal onleesbaar.",
        "month_total": "{count} artikelen",
        "col_total_cents": "Bedrag",
        "col_price_cents": "Prijs",
        "col_sold_at": "Datum",
        "col_created_at": "Vastgelegd",
        "col_description": "Omschrijving",
        "col_ready_at": "Klaar sinds",
        "code_return": "retour",
        "section_customer_external_ids": "Gekoppelde klantnummers",
        "col_updated_at": "Bijgewerkt",
        "col_due_at": "Verwacht",
        "col_reported_at": "Gemeld",
        "col_kind": "Wat",
        "col_status": "Status",
        "col_text": "Omschrijving",
        "col_body": "Notitie",
        "col_author": "Door",
        "col_ref": "Nummer",
        "col_source": "Van",
        "col_need": "Wens",
        "col_outcome": "Uitkomst",
        "col_score": "Herkenningsscore",
        "col_margin": "Marge",
        "code_special_order": "bestelling",
        "code_repair": "reparatie",
        "code_pickup": "afhalen",
        "code_open": "open",
        "code_ready": "klaar",
        "code_done": "afgerond",
        "code_collected": "opgehaald",
        "code_cancelled": "geannuleerd",
        "code_pos": "kassa",
        "code_import": "import",
    },
}


def me_texts(language: str) -> dict[str, str]:
    """The shared page words for ``language`` with this page's own on top."""
    return {**texts(language), **ME_TEXT.get(language, ME_TEXT["nl"])}


def euro(cents: int, language: str) -> str:
    """``€ 229,00`` (Dutch) / ``€229.00`` (English)."""
    whole, rest = divmod(abs(int(cents)), 100)
    sign = "-" if cents < 0 else ""
    if language == "en":
        return f"{sign}€{whole:,}.{rest:02d}"
    return f"{sign}€ {whole:,}".replace(",", ".") + f",{rest:02d}"


def detail_columns(rows: list[dict[str, Any]], t: dict[str, str]) -> list[tuple[str, str]]:
    """Human columns for a detail table: internal ids (``id``, ``store_id``, …) left out (the
    JSON download keeps them), labels in the page's language, never a raw column name."""
    keys = list(dict.fromkeys(k for row in rows for k in row))
    keys = [k for k in keys if k != "id" and not k.endswith("_id")]
    return [(k, t.get("col_" + k) or k.removesuffix("_cents").replace("_", " ").capitalize())
            for k in keys]  # fmt: skip


def detail_value(key: str, value: Any, t: dict[str, str], language: str) -> Any:
    """Money in euros, codes in words; anything else as it is (dates are formatted by the
    template's ``date``/``clock`` filters)."""
    if key.endswith("_cents") and isinstance(value, int) and not isinstance(value, bool):
        return euro(value, language)
    if isinstance(value, str) and value.replace("_", "").isalpha() and value.islower():
        return t.get("code_" + value, value.replace("_", " "))
    return value


MONTHS: Final[dict[str, tuple[str, ...]]] = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
    "nl": ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus",
           "september", "oktober", "november", "december"),
}  # fmt: skip


def by_month(
    purchases: list[dict[str, Any]], language: str, tz: tzinfo
) -> list[tuple[str, list[dict[str, Any]]]]:
    """Purchases grouped by the local calendar month, newest month and purchase first:
    ``[("november 2026", [row, ...]), ...]``."""
    names = MONTHS.get(language, MONTHS["nl"])
    rows = sorted(purchases, key=lambda r: str(r.get("purchased_at") or ""), reverse=True)
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        at = row.get("purchased_at")
        if not at:
            continue
        day = localtime.day_of(datetime.fromisoformat(str(at)), tz)
        out.setdefault(f"{names[day.month - 1]} {day.year}", []).append(
            {**row, "quantity": int(row.get("quantity") or 1)}
        )
    return list(out.items())
