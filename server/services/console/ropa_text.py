"""The words of the Art. 30 record (:mod:`server.services.console.ropa`), in Dutch and English:
the page, the Markdown and the PDF follow the stores' staff language
(``VERTROUWD_STAFF_LANGUAGE``), as the console's own words do (``server.api.console_text``).

Every language has the same keys and placeholders (a test checks it). The English purposes,
legal bases and processing operations are ``consent.records``' own, written once; the Dutch
ones say the same. What the record fills in (numbers, store names, ids, hashes, the zone) is
data and stays as it is."""

from __future__ import annotations

from typing import Final

from consent.records import (
    LEGAL_BASIS,
    PASS_LEGAL_BASIS,
    PASS_PROCESSING,
    PASS_PURPOSE,
    PROCESSING,
    PURPOSE,
)

# The tables that hold a member's data: (category, what it holds). A table added later shows
# "(no description yet)" in the record until it is described here (in both languages).
_CATEGORIES_EN: Final[dict[str, tuple[str, str]]] = {
    "customers": ("Identity and contact", "name, preferred name, e-mail, language, loyalty id"),
    "customer_keys": ("Key material", "the member's data key, wrapped by the server key"),
    "consent_records": (
        "Proof of consent",
        "purpose, scope (stores), text version and SHA-256, channel, collector, dates, status",
    ),
    "face_templates": (
        "Biometric data (Art. 9)",
        "face templates (128 numbers each), encrypted; never shown or exported",
    ),
    "face_thumbnails": (
        "Biometric data (Art. 9)",
        "one small enrolment photo, encrypted, for the salesperson's visual check",
    ),
    "visits": ("Visits", "store, time of recognition, match score, what staff did with the card"),
    "sales": ("Purchases", "receipts from the point of sale linked to the member"),
    "purchases": ("Purchases", "purchase lines: product, category, brand, size, quantity"),
    "preferences": ("Preferences", "brands, categories, sizes, notes the member shared"),
    "allergies": (
        "Health data (Art. 9)",
        "allergies and intolerances, so suggestions never conflict with them",
    ),
    "dietary_needs": (
        "Dietary needs (may reveal health or belief, Art. 9)",
        "vegan, halal, kosher, gluten-free and similar",
    ),
    "service_items": ("Orders and repairs", "open repairs, special orders, pickups, returns"),
    "staff_notes": ("Staff notes", "short notes by colleagues (at most 500 characters)"),
    "customer_external_ids": ("Linked numbers", "the member's number in the CRM, POS or webshop"),
    "member_passes": (
        "Membership pass",
        "the SHA-256 digest of the member's pass (never the pass itself), issue and revocation",
    ),
    "incidents": (
        "Recognition incidents",
        "'not this person' reports: camera, score, margin, the officer's outcome",
    ),
    "profile_keys": (
        "Key material",
        "the member's profile key (seals their personal fields), wrapped by the server key",
    ),
    "customer_search_terms": (
        "Search index",
        "keyed hashes (HMAC-SHA256) of the beginnings of the member's name words, for staff "
        "search; never the words",
    ),
    "self_service_links": (
        "Self-service link",
        "the SHA-256 digest of the member's link (never the link), channel, who issued it, "
        "expiry and revocation",
    ),
}

_CATEGORIES_NL: Final[dict[str, tuple[str, str]]] = {
    "customers": (
        "Identiteit en contact",
        "naam, roepnaam, e-mailadres, taal, klantnummer",
    ),
    "customer_keys": (
        "Sleutelmateriaal",
        "de gegevenssleutel van het lid, versleuteld met de serversleutel",
    ),
    "consent_records": (
        "Bewijs van toestemming",
        "doel, reikwijdte (winkels), tekstversie en SHA-256, kanaal, wie de toestemming "
        "vastlegde, data, status",
    ),
    "face_templates": (
        "Biometrische gegevens (art. 9)",
        "gezichtstemplates (elk 128 getallen), versleuteld; nooit getoond of geëxporteerd",
    ),
    "face_thumbnails": (
        "Biometrische gegevens (art. 9)",
        "één kleine foto van de inschrijving, versleuteld, zodat de verkoper kan zien wie het is",
    ),
    "visits": (
        "Bezoeken",
        "winkel, tijd van herkenning, herkenningsscore, wat het personeel met de kaart deed",
    ),
    "sales": ("Aankopen", "bonnen van de kassa die aan het lid gekoppeld zijn"),
    "purchases": ("Aankopen", "bonregels: product, categorie, merk, maat, aantal"),
    "preferences": ("Voorkeuren", "merken, categorieën, maten, notities die het lid deelde"),
    "allergies": (
        "Gezondheidsgegevens (art. 9)",
        "allergieën en intoleranties, zodat suggesties er nooit mee botsen",
    ),
    "dietary_needs": (
        "Voedingswensen (kunnen iets zeggen over gezondheid of geloof, art. 9)",
        "veganistisch, halal, koosjer, glutenvrij en dergelijke",
    ),
    "service_items": (
        "Bestellingen en reparaties",
        "lopende reparaties, speciale bestellingen, afhaalorders, retouren",
    ),
    "staff_notes": (
        "Notities van personeel",
        "korte notities van collega's (hooguit 500 tekens)",
    ),
    "customer_external_ids": (
        "Gekoppelde nummers",
        "het nummer van het lid in het CRM, de kassa of de webwinkel",
    ),
    "member_passes": (
        "Ledenpas",
        "de SHA-256-hash van de pas van het lid (nooit de pas zelf), uitgifte en intrekking",
    ),
    "incidents": (
        "Herkenningsincidenten",
        "meldingen „niet deze persoon”: camera, score, marge, de uitkomst van de "
        "privacyfunctionaris",
    ),
    "profile_keys": (
        "Sleutelmateriaal",
        "de profielsleutel van het lid (versleutelt de persoonsgegevens), versleuteld met de "
        "serversleutel",
    ),
    "customer_search_terms": (
        "Zoekindex",
        "hashes met een sleutel (HMAC-SHA256) van het begin van de woorden van de naam van het "
        "lid, om door personeel te laten zoeken; nooit de woorden zelf",
    ),
    "self_service_links": (
        "Link naar de eigen pagina",
        "de SHA-256-hash van de link van het lid (nooit de link zelf), kanaal, wie de link "
        "uitgaf, vervaldatum en intrekking",
    ),
}

_PROCESSING_NL: Final[tuple[str, ...]] = (
    "het maken van drie inschrijffoto's (weggegooid nadat de templates zijn gemaakt)",
    "het maken en versleuteld opslaan van gezichtstemplates en één kleine foto",
    "vergelijken in de ledenzone bij de ingang van de winkel",
    "naam, foto, geschiedenis, voorkeuren en allergieën tijdens een bezoek tonen aan het "
    "winkelpersoneel",
)

_PASS_PROCESSING_NL: Final[tuple[str, ...]] = (
    "het bewaren van de hash van de pas van het lid (nooit de pas zelf)",
    "een bezoek vastleggen als het lid de pas bij een apparaat in de winkel laat zien",
    "naam, geschiedenis, voorkeuren en allergieën tijdens een bezoek tonen aan het winkelpersoneel",
)

_ROLES_NL: Final[dict[str, str]] = {
    "sales": "verkoop",
    "cashier": "kassa",
    "privacy_officer": "privacyfunctionaris",
    "admin": "beheerder",
}


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


ROPA_TEXT: Final[dict[str, dict[str, str]]] = {
    "en": {
        "title": "Record of processing activities (GDPR Art. 30)",
        "kicker": "GDPR ARTICLE 30",
        "heading": "Record of processing activities",
        "never": "never",
        "dash": "-",
        # 1
        "s_controller": "1. Controller",
        "controller": "Controller",
        "controller_unset": "not configured (set VERTROUWD_CONTROLLER_NAME)",
        "contact": "Privacy officer (contact)",
        "contact_unset": "not configured (set VERTROUWD_PRIVACY_CONTACT)",
        "public_notice": "Public notice",
        "generated": "Record generated",
        "times": "Times in this record",
        # 2
        "s_purposes": "2. Purposes and legal basis",
        "purpose": "Purpose",
        "legal_basis": "Legal basis",
        "data_subjects": "Data subjects",
        "purpose_face": _capital(PURPOSE) + " ({id})",
        "basis_face": LEGAL_BASIS,
        "subjects_face": "members who opted in",
        "purpose_pass": _capital(PASS_PURPOSE),
        "basis_pass": PASS_LEGAL_BASIS,
        "subjects_pass": "members who chose a membership without a face",
        "purpose_audit": "Proof of consent and accountability: the hash-chained audit log",
        "basis_audit": "GDPR Art. 6(1)(c) with Art. 7(1) and 5(2)",
        "subjects_audit": "members (by pseudonym), staff",
        "purpose_access": "Security of access by staff: the access log",
        "basis_access": "GDPR Art. 6(1)(f) legitimate interest",
        "subjects_access": "staff",
        "operations": "Processing operations consented to:",
        "without_face": "without a face: {operation}",
        **{f"processing:{i}": text for i, text in enumerate(PROCESSING)},
        **{f"pass_processing:{i}": text for i, text in enumerate(PASS_PROCESSING)},
        # 3
        "s_texts": "3. Consent texts in force",
        "version": "Version",
        "lang": "Lang.",
        "text_title": "Title",
        "texts_note": "New consents are given on version {face} (membership with face "
        "recognition) or {pass_version} (membership without a face, with a pass); each consent "
        "record keeps the version and SHA-256 of the exact text the member was shown.",
        # 4
        "s_subjects": "4. Categories of data subjects",
        "who": "Who",
        "now": "Now",
        "what_processed": "What is processed",
        "members_opted": "Members who opted in",
        "active_n": "{n} with an active consent",
        "below": "the categories of data below",
        "store_staff": "Store staff",
        "role_count": "{n} {role}",
        "none": "none",
        "staff_what": "account, role, store; the access log (who opened which profile, when)",
        "passers": "People passing the camera",
        "not_counted": "not counted",
        "passers_what": "a face in the member zone is compared in memory on the store device "
        "and discarded at once when it matches no member: no image, template, log line or event "
        "is kept or sent; in 'checkin' mode only a person on the check-in spot is looked at, in "
        "'pass' mode no face is processed at all (the mode of each store: section 10)",
        **{f"role:{role}": role for role in _ROLES_NL},
        # 5
        "s_data": "5. Categories of personal data (members)",
        "table": "Table",
        "category": "Category",
        "what": "What",
        "no_description": "(no description yet)",
        "see_table": "see the table",
        "tables_note": "Every table that holds a member's data is listed (taken from the "
        "database schema); each is covered by the member's export (Art. 15/20) and by erasure "
        "(Art. 17).",
        **{f"category:{name}": text[0] for name, text in _CATEGORIES_EN.items()},
        **{f"holds:{name}": text[1] for name, text in _CATEGORIES_EN.items()},
        # 6
        "s_retention": "6. Retention (time limits for erasure)",
        "limit": "Limit",
        "ret_consent": "Consent",
        "ret_consent_value": "{months} months, unless the member renews it; templates are "
        "destroyed when it ends",
        "ret_templates": "Face templates",
        "ret_templates_value": "at most {years} years after the member's last interaction, "
        "whatever the consent says (the retention job runs every {minutes} minutes)",
        "ret_withdrawal": "Withdrawal",
        "ret_withdrawal_value": "templates and data key destroyed at once, galleries re-issued",
        "ret_erasure": "Erasure",
        "ret_erasure_value": "every row of the member deleted at once; consent records kept "
        "without the member (proof that consent existed), incidents kept without the member",
        "ret_backups": "Erasure in backups",
        "ret_backups_value": "{promise} ({rotation} + {retention} = {days} days: key rotation "
        "period + backup retention; key-encryption keys are kept outside the database backups)",
        "ret_gallery": "Gallery on a store device",
        "ret_gallery_value": "stops matching {minutes} minutes after it could last confirm it is "
        "current; a sealed gallery expires after {hours} hours",
        "ret_card": "Card on a tablet",
        "ret_card_value": "{minutes} minutes after arrival",
        "ret_link": "Self-service link",
        "ret_link_value": "{days} days",
        "ret_audit": "Audit log",
        "ret_audit_value": "kept; it names members only by pseudonym",
        # 7, 8
        "s_recipients": "7. Recipients",
        "not_shared": "No member data is sold, shared or disclosed to third parties.",
        "processors": "Processors: {processors}.",
        "none_configured": "none configured",
        "s_transfers": "8. Transfers to third countries",
        "transfers": "None. Face models run on the store devices and the server; nothing is "
        "sent to an outside service.",
        # 9
        "s_measures": "9. Technical and organisational measures (Art. 32)",
        "measure": "Measure",
        "as_configured": "As configured",
        "m_encryption": "Encryption at rest",
        "m_encryption_value": "AES-256-GCM under a per-member data key; data keys wrapped by "
        "the server's key-encryption key ({keys} in the key ring, current {current}, last "
        "rotated {rotated})",
        "m_shredding": "Crypto-shredding",
        "m_shredding_value": "withdrawal and erasure delete the member's data key first: every "
        "copy of their templates, in any backup, becomes unreadable",
        "m_sealed": "Personal fields sealed",
        "m_sealed_value": "names, contact details, loyalty and CRM ids, preferences, dietary "
        "needs, allergies, service items and staff notes are stored only as AES-256-GCM "
        "ciphertext under the member's profile key (bound to table, column and row); staff "
        "search through keyed HMAC-SHA256 blind indexes; erasure deletes the profile key, so no "
        "database page, WAL segment or dump holds them readably",
        "m_galleries": "Galleries to store devices",
        "m_galleries_value": "{suite}, sealed to one device; manifest signed with Ed25519; "
        "pseudonyms only, no names",
        "m_audit": "Audit log",
        "m_audit_value": "SHA-256 hash chain over every consent change, template change, "
        "gallery, device confirmation and staff view; Ed25519-signed checkpoints every {every} "
        "entries; last verified {last}",
        "verified_ok": "{at}: intact",
        "verified_bad": "{at}: BROKEN",
        "m_access": "Access control",
        "m_access_value": "staff see a member only in their own store, only while the visit is "
        "live; every opening and every refusal is logged",
        "m_minimisation": "Data minimisation",
        "m_minimisation_value": "photos discarded after enrolment; no frames, crops or "
        "embeddings of non-members; logs hold no embeddings or images",
        "m_golive": "Go-live gate",
        "m_golive_value": "recognition is off in a store until its entrance signage, DPIA "
        "reference and member zone are confirmed",
        # 10
        "s_stores": "10. Stores, recognition modes, DPIA references and member zones",
        "store": "Store",
        "recognition": "Recognition",
        "mode": "Mode",
        "dpia": "DPIA reference",
        "signage": "Signage confirmed",
        "zone": "Member zone",
        "on": "on",
        "off": "off",
        "zone_value": "{w}% x {h}% of the frame at ({x}%, {y}%); faces from {px} px",
        "zone_none": "not recorded",
        "no_stores": "No stores are set up yet.",
        # the Markdown and PDF frame
        "md_controller": "Controller: {controller}",
        "md_contact": "Privacy officer: {contact}",
        "md_unset": "not configured",
        "md_generated": "Generated from the live configuration: {at}",
        "footer": "This record is generated by Vertrouwd from its running configuration. It is "
        "an engineering record, not legal advice; the controller's DPIA remains the reference.",
        "pdf_subtitle": "{controller} · generated from the live configuration on {at}",
        "pdf_subject": "{purpose} - generated {at}",
        "pdf_page": "page {n}",
    },
    "nl": {
        "title": "Register van verwerkingsactiviteiten (AVG art. 30)",
        "kicker": "AVG ARTIKEL 30",
        "heading": "Register van verwerkingsactiviteiten",
        "never": "nooit",
        "dash": "-",
        "s_controller": "1. Verwerkingsverantwoordelijke",
        "controller": "Verwerkingsverantwoordelijke",
        "controller_unset": "niet ingesteld (stel VERTROUWD_CONTROLLER_NAME in)",
        "contact": "Privacyfunctionaris (contact)",
        "contact_unset": "niet ingesteld (stel VERTROUWD_PRIVACY_CONTACT in)",
        "public_notice": "Openbare privacyverklaring",
        "generated": "Register gemaakt",
        "times": "Tijden in dit register",
        "s_purposes": "2. Doeleinden en rechtsgrond",
        "purpose": "Doel",
        "legal_basis": "Rechtsgrond",
        "data_subjects": "Betrokkenen",
        "purpose_face": "Herkenning in de winkel en persoonlijke service ({id})",
        "basis_face": "AVG art. 9 lid 2 onder a: uitdrukkelijke toestemming",
        "subjects_face": "leden die ervoor kozen",
        "purpose_pass": "Lidmaatschap met een pas en persoonlijke service (geen biometrische "
        "verwerking)",
        "basis_pass": "AVG art. 6 lid 1 onder a: toestemming",
        "subjects_pass": "leden die kozen voor een lidmaatschap zonder gezicht",
        "purpose_audit": "Bewijs van toestemming en verantwoording: het auditlogboek met hashketen",
        "basis_audit": "AVG art. 6 lid 1 onder c, met art. 7 lid 1 en art. 5 lid 2",
        "subjects_audit": "leden (onder pseudoniem), personeel",
        "purpose_access": "Beveiliging van inzage door personeel: het inzagelogboek",
        "basis_access": "AVG art. 6 lid 1 onder f: gerechtvaardigd belang",
        "subjects_access": "personeel",
        "operations": "Verwerkingen waarvoor toestemming is gegeven:",
        "without_face": "zonder gezicht: {operation}",
        **{f"processing:{i}": text for i, text in enumerate(_PROCESSING_NL)},
        **{f"pass_processing:{i}": text for i, text in enumerate(_PASS_PROCESSING_NL)},
        "s_texts": "3. Geldende toestemmingsteksten",
        "version": "Versie",
        "lang": "Taal",
        "text_title": "Titel",
        "texts_note": "Nieuwe toestemmingen worden gegeven op versie {face} (lidmaatschap met "
        "gezichtsherkenning) of {pass_version} (lidmaatschap zonder gezicht, met een pas); elk "
        "toestemmingsrecord bewaart de versie en de SHA-256 van precies de tekst die het lid "
        "te zien kreeg.",
        "s_subjects": "4. Categorieën betrokkenen",
        "who": "Wie",
        "now": "Nu",
        "what_processed": "Wat wordt verwerkt",
        "members_opted": "Leden die ervoor kozen",
        "active_n": "{n} met een actieve toestemming",
        "below": "de categorieën gegevens hieronder",
        "store_staff": "Winkelpersoneel",
        "role_count": "{role}: {n}",
        "none": "geen",
        "staff_what": "account, rol, winkel; het inzagelogboek (wie welk profiel opende, en "
        "wanneer)",
        "passers": "Mensen die langs de camera lopen",
        "not_counted": "niet geteld",
        "passers_what": "een gezicht in de ledenzone wordt in het geheugen van het apparaat in "
        "de winkel vergeleken en meteen weggegooid als het bij geen lid hoort: er wordt geen "
        "beeld, template, logregel of gebeurtenis bewaard of verstuurd; in de vorm 'checkin' "
        "wordt alleen iemand op de incheckplek bekeken, in de vorm 'pass' wordt helemaal geen "
        "gezicht verwerkt (de vorm van elke winkel: onderdeel 10)",
        **{f"role:{role}": text for role, text in _ROLES_NL.items()},
        "s_data": "5. Categorieën persoonsgegevens (leden)",
        "table": "Tabel",
        "category": "Categorie",
        "what": "Wat",
        "no_description": "(nog geen beschrijving)",
        "see_table": "zie de tabel",
        "tables_note": "Elke tabel met gegevens van een lid staat erin (uit het "
        "databaseschema); elke tabel valt onder de export voor het lid (art. 15/20) en onder "
        "wissen (art. 17).",
        **{f"category:{name}": text[0] for name, text in _CATEGORIES_NL.items()},
        **{f"holds:{name}": text[1] for name, text in _CATEGORIES_NL.items()},
        "s_retention": "6. Bewaartermijnen (termijnen voor wissen)",
        "limit": "Termijn",
        "ret_consent": "Toestemming",
        "ret_consent_value": "{months} maanden, tenzij het lid verlengt; de templates worden "
        "vernietigd als de toestemming eindigt",
        "ret_templates": "Gezichtstemplates",
        "ret_templates_value": "hooguit {years} jaar na het laatste contact met het lid, wat de "
        "toestemming ook zegt (de bewaartaak draait elke {minutes} minuten)",
        "ret_withdrawal": "Intrekking",
        "ret_withdrawal_value": "templates en gegevenssleutel meteen vernietigd, galerijen "
        "opnieuw uitgegeven",
        "ret_erasure": "Wissen",
        "ret_erasure_value": "elke rij van het lid meteen verwijderd; toestemmingsrecords "
        "bewaard zonder het lid (bewijs dat er toestemming was), incidenten bewaard zonder het "
        "lid",
        "ret_backups": "Wissen in back-ups",
        "ret_backups_value": "{promise} ({rotation} + {retention} = {days} dagen: "
        "sleutelwisseltermijn + bewaartermijn back-ups; de sleutels die de gegevenssleutels "
        "versleutelen worden buiten de databaseback-ups bewaard)",
        "ret_gallery": "Galerij op een apparaat in de winkel",
        "ret_gallery_value": "herkent niet meer {minutes} minuten nadat het voor het laatst kon "
        "bevestigen dat de galerij actueel is; een verzegelde galerij verloopt na {hours} uur",
        "ret_card": "Kaart op een tablet",
        "ret_card_value": "{minutes} minuten na binnenkomst",
        "ret_link": "Link naar de eigen pagina",
        "ret_link_value": "{days} dagen",
        "ret_audit": "Auditlogboek",
        "ret_audit_value": "bewaard; het noemt leden alleen onder pseudoniem",
        "s_recipients": "7. Ontvangers",
        "not_shared": "Er worden geen gegevens van leden verkocht, gedeeld of aan derden "
        "verstrekt.",
        "processors": "Verwerkers: {processors}.",
        "none_configured": "geen ingesteld",
        "s_transfers": "8. Doorgifte naar derde landen",
        "transfers": "Geen. De gezichtsmodellen draaien op de apparaten in de winkels en op de "
        "server; er gaat niets naar een externe dienst.",
        "s_measures": "9. Technische en organisatorische maatregelen (art. 32)",
        "measure": "Maatregel",
        "as_configured": "Zoals ingesteld",
        "m_encryption": "Versleuteling van opgeslagen gegevens",
        "m_encryption_value": "AES-256-GCM onder een gegevenssleutel per lid; de "
        "gegevenssleutels zijn versleuteld met de sleutelversleutelingssleutel van de server "
        "({keys} in de sleutelbos, actueel {current}, laatst vervangen {rotated})",
        "m_shredding": "Crypto-shredding",
        "m_shredding_value": "intrekken en wissen vernietigen eerst de gegevenssleutel van het "
        "lid: elke kopie van de templates, in welke back-up ook, wordt onleesbaar",
        "m_sealed": "Persoonsgegevens versleuteld",
        "m_sealed_value": "namen, contactgegevens, klant- en CRM-nummers, voorkeuren, "
        "voedingswensen, allergieën, service-items en notities van personeel worden alleen als "
        "AES-256-GCM-versleutelde tekst opgeslagen onder de profielsleutel van het lid "
        "(gebonden aan tabel, kolom en rij); personeel zoekt via blinde indexen met een "
        "HMAC-SHA256-sleutel; wissen vernietigt de profielsleutel, zodat geen databasepagina, "
        "WAL-segment of dump ze nog leesbaar bevat",
        "m_galleries": "Galerijen naar de apparaten in de winkels",
        "m_galleries_value": "{suite}, verzegeld voor één apparaat; manifest ondertekend met "
        "Ed25519; alleen pseudoniemen, geen namen",
        "m_audit": "Auditlogboek",
        "m_audit_value": "SHA-256-hashketen over elke wijziging van een toestemming of "
        "template, elke galerij, elke bevestiging van een apparaat en elke inzage door "
        "personeel; met Ed25519 ondertekende controlepunten elke {every} regels; laatst "
        "gecontroleerd {last}",
        "verified_ok": "{at}: intact",
        "verified_bad": "{at}: GEBROKEN",
        "m_access": "Toegangsbeheer",
        "m_access_value": "personeel ziet een lid alleen in de eigen winkel en alleen zolang het "
        "bezoek loopt; elke inzage en elke weigering wordt vastgelegd",
        "m_minimisation": "Dataminimalisatie",
        "m_minimisation_value": "foto's weggegooid na de inschrijving; geen beelden, uitsneden "
        "of embeddings van niet-leden; logboeken bevatten geen embeddings of beelden",
        "m_golive": "Livegang",
        "m_golive_value": "herkenning staat in een winkel uit totdat het bord bij de ingang, de "
        "DPIA-referentie en de ledenzone zijn bevestigd",
        "s_stores": "10. Winkels, herkenningsvormen, DPIA-referenties en ledenzones",
        "store": "Winkel",
        "recognition": "Herkenning",
        "mode": "Vorm",
        "dpia": "DPIA-referentie",
        "signage": "Bord bevestigd",
        "zone": "Ledenzone",
        "on": "aan",
        "off": "uit",
        "zone_value": "{w}% x {h}% van het beeld op ({x}%, {y}%); gezichten vanaf {px} px",
        "zone_none": "niet vastgelegd",
        "no_stores": "Er zijn nog geen winkels ingericht.",
        "md_controller": "Verwerkingsverantwoordelijke: {controller}",
        "md_contact": "Privacyfunctionaris: {contact}",
        "md_unset": "niet ingesteld",
        "md_generated": "Gemaakt uit de actuele configuratie: {at}",
        "footer": "Dit register is door Vertrouwd gemaakt uit de actuele configuratie. Het is "
        "een technisch verslag, geen juridisch advies; de DPIA van de "
        "verwerkingsverantwoordelijke blijft de maatstaf.",
        "pdf_subtitle": "{controller} · gemaakt uit de actuele configuratie op {at}",
        "pdf_subject": "{purpose} - gemaakt {at}",
        "pdf_page": "pagina {n}",
    },
}


def ropa_texts(language: str) -> dict[str, str]:
    """The record's words in ``language`` (a staff language); English for any other."""
    return ROPA_TEXT.get(language, ROPA_TEXT["en"])
