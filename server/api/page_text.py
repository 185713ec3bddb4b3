"""Words on the customer-facing pages (receipt, self-service), in every consent language.

Every language has exactly the same keys (a test checks it); templates look labels up as
``t.key``.
"""

from __future__ import annotations

from typing import Final

TEXT: Final[dict[str, dict[str, str]]] = {
    "en": {
        "lang_name": "English",
        # register (consent confirmation, shown to the customer)
        "version": "Text version",
        "confirm": "I have read this text and I explicitly consent to face recognition in your "
        "stores.",
        "type_name": "Type your full name to confirm",
        # receipt
        "receipt_title": "Your Vertrouwd membership",
        "receipt_welcome": "Welcome, {name}. You are now recognised when you visit {store}.",
        "receipt_welcome_nostore": "Welcome, {name}. You are now recognised in our stores.",
        "receipt_scan": "Scan the code or open the link to see everything we hold about you, "
        "download it, stop recognition or have everything erased.",
        "receipt_keep": "Keep this link private: anyone who has it can see your data. "
        "The link is valid until {date}; ask at any register for a new one.",
        "print": "Print receipt",
        "next_customer": "Next customer",
        # self-service
        "me_title": "Your data at Vertrouwd",
        "me_intro": "This page shows everything we hold about you. You can download it, "
        "stop face recognition, or have everything erased. Each takes effect at once.",
        "profile": "Profile",
        "name": "Name",
        "preferred_name": "Preferred name",
        "email": "Email",
        "language": "Language",
        "member_since": "Member since",
        "last_interaction": "Last visit or purchase",
        "recognition": "Face recognition",
        "recognition_active": "On: staff can recognise you when you enter the member zone.",
        "recognition_withdrawn": "Stopped: you are no longer recognised. "
        "Your face templates have been destroyed.",
        "recognition_erased": "Erased.",
        "recognition_expired": "Expired: your consent has lapsed and your face templates are "
        "destroyed. Ask at the register if you want to join again.",
        "recognition_none": "Off: you have not consented to face recognition.",
        "templates": "{count} face templates, stored encrypted; never shown.",
        "templates_none": "No face templates are held.",
        "consents": "Consent history",
        "consent_given": "Given",
        "consent_expires": "Expires",
        "consent_status": "Status",
        "consent_withdrawn_at": "Withdrawn",
        "consent_text": "Text (version · SHA-256)",
        "consent_channel": "Where",
        "status_active": "active",
        "status_withdrawn": "withdrawn",
        "status_expired": "expired",
        "purchases": "Purchases",
        "date": "Date",
        "product": "Product",
        "category": "Category",
        "quantity": "Quantity",
        "preferences": "Preferences",
        "allergies": "Allergies",
        "visits": "Visits",
        "store": "Store",
        "none": "None.",
        "download": "Download my data (JSON)",
        "withdraw": "Stop recognising me",
        "withdraw_confirm": "Stop face recognition now? Your face templates are destroyed at once "
        "on our server and on the store devices. Your purchases and preferences are kept.",
        "withdraw_done": "Face recognition has been stopped. Your face templates are destroyed.",
        "forget": "Forget me entirely",
        "forget_confirm": "Erase everything we hold about you? Your profile, purchases, "
        "preferences, visits and face templates are deleted at once. This cannot be undone.",
        "forget_done": "Everything about you has been erased.",
        "working": "One moment…",
        "action_failed": "That did not work: {reason}. Please try again or ask at the register.",
        "nothing_title": "We hold nothing about you",
        "nothing_body": "There is no data about you at Vertrouwd: no profile, no purchases, no "
        "face templates. If you want to join again, ask at the register.",
        "invalid_title": "This link is not valid",
        "invalid_body": "The link is incomplete, has expired, or was not made by us. No data is "
        "shown. Ask at any register for a new self-service link.",
        "photo_alt": "Your photo from the enrolment",
        "data_key": "Your personal data key is held, stored wrapped by our server key; never "
        "shown. Erasing it makes your templates and photo unreadable everywhere.",
        "yes": "yes",
        "no": "no",
        "channel_register": "at the register",
        "channel_portal": "self-service",
        "channel_console": "privacy console",
        "channel_cli": "by the store",
        "pref_brand": "Brand",
        "pref_category": "Category",
        "pref_size": "Size",
        "pref_note": "Note",
        "section_sales": "Receipts",
        "section_dietary_needs": "Dietary needs",
        "section_service_items": "Orders, repairs and pickups",
        "section_staff_notes": "Notes by staff",
        "section_external_ids": "Linked customer numbers",
        "section_incidents": "Recognition incidents",
        "privacy_contact": "Questions? Ask at the register or contact our privacy officer.",
    },
    "nl": {
        "lang_name": "Nederlands",
        "version": "Tekstversie",
        "confirm": "Ik heb deze tekst gelezen en ik geef uitdrukkelijk toestemming voor "
        "gezichtsherkenning in uw winkels.",
        "type_name": "Typ uw volledige naam ter bevestiging",
        "receipt_title": "Uw lidmaatschap van Vertrouwd",
        "receipt_welcome": "Welkom, {name}. U wordt nu herkend als u {store} bezoekt.",
        "receipt_welcome_nostore": "Welkom, {name}. U wordt nu herkend in onze winkels.",
        "receipt_scan": "Scan de code of open de link om alles te zien wat wij over u bewaren, "
        "het te downloaden, herkenning te stoppen of alles te laten wissen.",
        "receipt_keep": "Houd deze link voor uzelf: wie hem heeft, kan uw gegevens zien. "
        "De link is geldig tot {date}; vraag aan elke kassa een nieuwe.",
        "print": "Bon afdrukken",
        "next_customer": "Volgende klant",
        "me_title": "Uw gegevens bij Vertrouwd",
        "me_intro": "Deze pagina toont alles wat wij over u bewaren. U kunt het downloaden, "
        "gezichtsherkenning stoppen of alles laten wissen. Alles werkt direct.",
        "profile": "Profiel",
        "name": "Naam",
        "preferred_name": "Roepnaam",
        "email": "E-mail",
        "language": "Taal",
        "member_since": "Lid sinds",
        "last_interaction": "Laatste bezoek of aankoop",
        "recognition": "Gezichtsherkenning",
        "recognition_active": "Aan: het personeel kan u herkennen als u de ledenzone inloopt.",
        "recognition_withdrawn": "Gestopt: u wordt niet meer herkend. "
        "Uw gezichtstemplates zijn vernietigd.",
        "recognition_erased": "Gewist.",
        "recognition_expired": "Verlopen: uw toestemming is afgelopen en uw gezichtstemplates "
        "zijn vernietigd. Vraag het aan de kassa als u opnieuw wilt meedoen.",
        "recognition_none": "Uit: u hebt geen toestemming gegeven voor gezichtsherkenning.",
        "templates": "{count} gezichtstemplates, versleuteld opgeslagen; nooit getoond.",
        "templates_none": "Er worden geen gezichtstemplates bewaard.",
        "consents": "Geschiedenis van uw toestemming",
        "consent_given": "Gegeven",
        "consent_expires": "Verloopt",
        "consent_status": "Status",
        "consent_withdrawn_at": "Ingetrokken",
        "consent_text": "Tekst (versie · SHA-256)",
        "consent_channel": "Waar",
        "status_active": "actief",
        "status_withdrawn": "ingetrokken",
        "status_expired": "verlopen",
        "purchases": "Aankopen",
        "date": "Datum",
        "product": "Product",
        "category": "Categorie",
        "quantity": "Aantal",
        "preferences": "Voorkeuren",
        "allergies": "Allergieën",
        "visits": "Bezoeken",
        "store": "Winkel",
        "none": "Geen.",
        "download": "Mijn gegevens downloaden (JSON)",
        "withdraw": "Herken mij niet meer",
        "withdraw_confirm": "Gezichtsherkenning nu stoppen? Uw gezichtstemplates worden direct "
        "vernietigd op onze server en op de apparaten in de winkels. Uw aankopen en voorkeuren "
        "blijven bewaard.",
        "withdraw_done": "Gezichtsherkenning is gestopt. Uw gezichtstemplates zijn vernietigd.",
        "forget": "Vergeet mij helemaal",
        "forget_confirm": "Alles wissen wat wij over u bewaren? Uw profiel, aankopen, voorkeuren, "
        "bezoeken en gezichtstemplates worden direct verwijderd. Dit kan niet ongedaan worden.",
        "forget_done": "Alles over u is gewist.",
        "working": "Een ogenblik…",
        "action_failed": "Dat is niet gelukt: {reason}. Probeer het opnieuw of vraag het aan de "
        "kassa.",
        "nothing_title": "Wij bewaren niets over u",
        "nothing_body": "Er zijn geen gegevens over u bij Vertrouwd: geen profiel, geen aankopen, "
        "geen gezichtstemplates. Wilt u opnieuw meedoen, vraag het dan aan de kassa.",
        "invalid_title": "Deze link is niet geldig",
        "invalid_body": "De link is onvolledig, verlopen of niet door ons gemaakt. Er worden geen "
        "gegevens getoond. Vraag aan elke kassa een nieuwe link.",
        "photo_alt": "Uw foto van de inschrijving",
        "data_key": "Uw persoonlijke gegevenssleutel wordt bewaard, versleuteld met onze "
        "serversleutel; nooit getoond. Wissen maakt uw templates en foto overal onleesbaar.",
        "yes": "ja",
        "no": "nee",
        "channel_register": "aan de kassa",
        "channel_portal": "zelfservice",
        "channel_console": "privacyconsole",
        "channel_cli": "door de winkel",
        "pref_brand": "Merk",
        "pref_category": "Categorie",
        "pref_size": "Maat",
        "pref_note": "Notitie",
        "section_sales": "Kassabonnen",
        "section_dietary_needs": "Dieetwensen",
        "section_service_items": "Bestellingen, reparaties en afhaalorders",
        "section_staff_notes": "Notities van medewerkers",
        "section_external_ids": "Gekoppelde klantnummers",
        "section_incidents": "Herkenningsincidenten",
        "privacy_contact": "Vragen? Vraag het aan de kassa of neem contact op met onze "
        "privacyfunctionaris.",
    },
}


def texts(language: str) -> dict[str, str]:
    """The words for ``language``; Dutch (the default consent language) for anything else."""
    return TEXT.get(language, TEXT["nl"])
