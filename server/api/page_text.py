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
        "qr_pass_label": "QR code of the membership pass",
        "qr_link_label": "QR code of the self-service link",
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
        # public privacy page (/privacy) and the entrance sign
        "privacy_title": "Face recognition in our stores: how it works",
        "privacy_intro": "In some of our stores a camera at the entrance recognises members who "
        "asked to be recognised, so that staff can greet them by name and help them personally. "
        "This page explains, in plain words, what the system does and what it does not do. It is "
        "generated from the system's current settings.",
        "privacy_does_title": "What it does",
        "privacy_does_1": "It recognises only members who gave their explicit consent at the "
        "register, after reading the consent text.",
        "privacy_does_2": "When a member steps into the member zone at the entrance, the staff of "
        "that store see their preferred name and photo. Once staff confirm it is them, they see "
        "the member's purchases, preferences and allergies, to help them better.",
        "privacy_does_3": "Every time staff open a member's profile, it is recorded. Our privacy "
        "officer checks these records and can prove what happened.",
        "privacy_doesnt_title": "What it does not do",
        "privacy_doesnt_1": "It does not recognise anyone who did not opt in. A face that matches "
        "no member is discarded at once, on the device in the store: no photo, no face data and "
        "no record of it is kept or sent anywhere.",
        "privacy_doesnt_2": "It does not keep photos or video. The photos taken at the register "
        "are discarded as soon as the member's face template is made.",
        "privacy_doesnt_3": "It does not look beyond the member zone: the camera processes only a "
        "marked area just inside the entrance, and only faces close to the camera.",
        "privacy_doesnt_4": "It does not share or sell data, and does not use it for advertising, "
        "for profiling by others, for training software or for watch lists.",
        "privacy_retention_title": "How long data is kept",
        "privacy_retention_consent": "Consent lasts {months} months. If a member does not renew "
        "it, their face data is destroyed when it ends.",
        "privacy_retention_limit": "Face data is never kept longer than {years} years after a "
        "member's last visit or purchase.",
        "privacy_retention_withdraw": "When a member withdraws, their face data is destroyed at "
        "once on our server and removed from the store devices within seconds. A store device "
        "that cannot confirm it is up to date stops recognising anyone within {ttl} minutes.",
        "privacy_retention_backups": "Erasure reaches every backup within {days} days: names, "
        "contact details, preferences, allergies and notes are stored encrypted under a key of "
        "the member's own, which erasure destroys at once; backups made before hold it locked "
        "under a server key that changes every {rotation} days and is destroyed {retention} days "
        "after it changed, when those backups are gone.",
        "privacy_stores_title": "Stores where recognition is switched on",
        "privacy_stores_none": "Recognition is not switched on in any store at the moment.",
        "privacy_store_since": "since {date}",
        "privacy_sign": "Entrance sign (PDF)",
        "privacy_withdraw_title": "How to stop recognition or have your data erased",
        "privacy_withdraw_link": "Open the link or scan the code on your membership receipt. You "
        "can see everything we hold about you, download it, stop recognition, or have everything "
        "erased. Each takes effect at once.",
        "privacy_withdraw_register": "Or ask at any register: the cashier can stop recognition "
        "for you on the spot.",
        "privacy_withdraw_contact": "Or contact our privacy officer: {contact}.",
        "privacy_withdraw_no_contact": "Or ask in the store to speak to our privacy officer.",
        "privacy_rights_title": "Your rights",
        "privacy_rights": "You may see, download, correct and erase your data, and withdraw your "
        "consent at any time, as easily as you gave it. Saying no or withdrawing changes "
        "nothing else: you keep the same prices, offers and loyalty benefits. You may also "
        "complain to the Dutch Data Protection Authority (Autoriteit Persoonsgegevens).",
        "privacy_legal": "Legal basis: your explicit consent (GDPR Article 9(2)(a)). Face data "
        "is biometric data and is stored encrypted.",
        "privacy_controller": "Responsible for this processing (controller): {controller}.",
        "privacy_generated": "Generated from the system's settings on {date}.",
        "sign_title": "Face recognition for members only",
        "sign_lead": "This camera recognises only members who opted in: customers who chose to "
        "be recognised and gave their consent.",
        "sign_point_others": "Not a member, or no consent given? You are not recognised and we "
        "keep nothing of you: no image, no face, no data.",
        "sign_point_zone": "The camera looks only at the member zone just inside the entrance.",
        "sign_point_retention": "Face data is destroyed when a member withdraws, when consent is "
        "not renewed after {months} months, and at the latest {years} years after the last visit.",
        "sign_point_withdraw": "Members can stop recognition at any time: with the link on their "
        "receipt, at the register, or with our privacy officer.",
        "sign_scan": "Scan to read how recognition works in this store",
        "sign_controller": "Controller: {controller}",
        "sign_contact": "Privacy officer: {contact}",
        "sign_no_contact": "Questions? Ask at the register.",
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
        "qr_pass_label": "QR-code van de ledenpas",
        "qr_link_label": "QR-code van de link naar uw eigen pagina",
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
        "privacy_title": "Gezichtsherkenning in onze winkels: zo werkt het",
        "privacy_intro": "In een aantal van onze winkels herkent een camera bij de ingang leden "
        "die gevraagd hebben om herkend te worden, zodat het personeel hen bij naam kan begroeten "
        "en persoonlijk kan helpen. Op deze pagina leest u in gewone woorden wat het systeem wel "
        "en niet doet. De pagina wordt gemaakt uit de huidige instellingen van het systeem.",
        "privacy_does_title": "Wat het doet",
        "privacy_does_1": "Het herkent alleen leden die aan de kassa uitdrukkelijk toestemming "
        "gaven, nadat zij de toestemmingstekst hadden gelezen.",
        "privacy_does_2": "Als een lid de ledenzone bij de ingang inloopt, ziet het personeel van "
        "die winkel de roepnaam en foto. Pas als het personeel bevestigt dat het om dit lid gaat, "
        "ziet het de aankopen, voorkeuren en allergieën, om het lid beter te helpen.",
        "privacy_does_3": "Elke keer dat het personeel een profiel opent, wordt dat vastgelegd. "
        "Onze privacyfunctionaris controleert deze gegevens en kan aantonen wat er gebeurde.",
        "privacy_doesnt_title": "Wat het niet doet",
        "privacy_doesnt_1": "Het herkent niemand die niet zelf heeft gekozen om mee te doen. Een "
        "gezicht dat bij geen enkel lid past, wordt direct weggegooid, op het apparaat in de "
        "winkel: er wordt geen foto, geen gezichtsgegeven en geen registratie bewaard of "
        "verstuurd.",
        "privacy_doesnt_2": "Het bewaart geen foto's of video. De foto's die aan de kassa worden "
        "gemaakt, worden weggegooid zodra de gezichtstemplate is gemaakt.",
        "privacy_doesnt_3": "Het kijkt niet verder dan de ledenzone: de camera verwerkt alleen een "
        "gemarkeerd gebied vlak achter de ingang, en alleen gezichten dicht bij de camera.",
        "privacy_doesnt_4": "Het deelt of verkoopt geen gegevens en gebruikt ze niet voor reclame, "
        "profilering door anderen, het trainen van software of zwarte lijsten.",
        "privacy_retention_title": "Hoe lang gegevens worden bewaard",
        "privacy_retention_consent": "Toestemming geldt {months} maanden. Verlengt een lid deze "
        "niet, dan worden de gezichtsgegevens vernietigd als zij afloopt.",
        "privacy_retention_limit": "Gezichtsgegevens worden nooit langer bewaard dan {years} jaar "
        "na het laatste bezoek of de laatste aankoop van een lid.",
        "privacy_retention_withdraw": "Trekt een lid de toestemming in, dan worden de "
        "gezichtsgegevens direct vernietigd op onze server en binnen enkele seconden verwijderd "
        "van de apparaten in de winkels. Een apparaat dat niet kan bevestigen dat het bij is, "
        "herkent binnen {ttl} minuten niemand meer.",
        "privacy_retention_backups": "Wissen bereikt elke back-up binnen {days} dagen: naam, "
        "contactgegevens, voorkeuren, allergieën en notities staan versleuteld onder een eigen "
        "sleutel van het lid, die bij wissen direct wordt vernietigd; oudere back-ups bewaren "
        "die sleutel alleen vergrendeld onder een serversleutel die elke {rotation} dagen "
        "wisselt en {retention} dagen daarna wordt vernietigd, als die back-ups weg zijn.",
        "privacy_stores_title": "Winkels waar herkenning aan staat",
        "privacy_stores_none": "Herkenning staat op dit moment in geen enkele winkel aan.",
        "privacy_store_since": "sinds {date}",
        "privacy_sign": "Bord bij de ingang (PDF)",
        "privacy_withdraw_title": "Herkenning stoppen of uw gegevens laten wissen",
        "privacy_withdraw_link": "Open de link of scan de code op uw lidmaatschapsbon. U ziet "
        "alles wat wij over u bewaren, kunt het downloaden, herkenning stoppen of alles laten "
        "wissen. Alles werkt direct.",
        "privacy_withdraw_register": "Of vraag het aan een kassa: de kassamedewerker kan de "
        "herkenning direct voor u stoppen.",
        "privacy_withdraw_contact": "Of neem contact op met onze privacyfunctionaris: {contact}.",
        "privacy_withdraw_no_contact": "Of vraag in de winkel naar onze privacyfunctionaris.",
        "privacy_rights_title": "Uw rechten",
        "privacy_rights": "U mag uw gegevens inzien, downloaden, laten verbeteren en laten wissen, "
        "en uw toestemming op elk moment intrekken, net zo makkelijk als u die gaf. Nee zeggen "
        "of intrekken verandert verder niets: u houdt dezelfde prijzen, aanbiedingen en "
        "voordelen. U kunt ook een klacht indienen bij de Autoriteit Persoonsgegevens.",
        "privacy_legal": "Grondslag: uw uitdrukkelijke toestemming (AVG artikel 9, lid 2, onder "
        "a). Gezichtsgegevens zijn biometrische gegevens en worden versleuteld bewaard.",
        "privacy_controller": "Verantwoordelijk voor deze verwerking: {controller}.",
        "privacy_generated": "Gemaakt uit de instellingen van het systeem op {date}.",
        "sign_title": "Gezichtsherkenning alleen voor leden",
        "sign_lead": "Deze camera herkent alleen leden die daarvoor kozen: klanten die zelf "
        "toestemming gaven om herkend te worden.",
        "sign_point_others": "Geen lid, of geen toestemming gegeven? Dan wordt u niet herkend en "
        "bewaren wij niets van u: geen beeld, geen gezicht, geen gegevens.",
        "sign_point_zone": "De camera kijkt alleen naar de ledenzone vlak achter de ingang.",
        "sign_point_retention": "Gezichtsgegevens worden vernietigd zodra een lid de toestemming "
        "intrekt, als de toestemming na {months} maanden niet is verlengd, en uiterlijk {years} "
        "jaar na het laatste bezoek.",
        "sign_point_withdraw": "Leden stoppen de herkenning wanneer zij willen: met de link op hun "
        "kassabon, aan de kassa of via onze privacyfunctionaris.",
        "sign_scan": "Scan en lees hoe herkenning in deze winkel werkt",
        "sign_controller": "Verwerkingsverantwoordelijke: {controller}",
        "sign_contact": "Privacyfunctionaris: {contact}",
        "sign_no_contact": "Vragen? Vraag het aan de kassa.",
    },
}


def texts(language: str) -> dict[str, str]:
    """The words for ``language``; Dutch (the default consent language) for anything else."""
    return TEXT.get(language, TEXT["nl"])


# The membership without a face and the pass (issue 12): their words live in their own module.
from server.api.page_text_pass import PASS_TEXT  # noqa: E402

for _lang, _words in PASS_TEXT.items():
    TEXT[_lang].update(_words)
