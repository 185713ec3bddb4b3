"""Words on the register page for the cashier, in Dutch and English (issue 16): Dutch for Dutch
stores (``VERTROUWD_STAFF_LANGUAGE``, default ``nl``), English on request (``?lang=en``). The
consent text itself is in the customer's language, chosen on the page (``page_text``).

Every language has exactly the same keys and placeholders (a test checks it). The page's script
gets them as a JSON block (``#staff-text``)."""

from __future__ import annotations

from typing import Final

STAFF_LANGUAGES: Final = ("nl", "en")

STAFF_TEXT: Final[dict[str, dict[str, str]]] = {
    "en": {
        "title": "Vertrouwd · register",
        "not_signed_in": "not signed in",
        "sign_out": "Sign out",
        "sign_in": "Sign in",
        "username": "Username",
        "password": "Password",
        "wrong_login": "Wrong username or password.",
        "forbidden_title": "This page is for cashiers",
        "forbidden_body": "Your account may not enrol customers. Sign in with a cashier account.",
        "find_title": "Find the customer",
        "search_label": "Search customers",
        "search_placeholder": "Name or email",
        "search": "Search",
        "searching": "Searching…",
        "found": "{n} customer(s) found in this store.",
        "not_found": "No customer found in this store: enrol them as a new member below.",
        "new_member": "New member",
        "cancel_reenrol": "Cancel: enrol a new member instead",
        "full_name": "Full name",
        "name_hint": "The name on record; the customer confirms it below.",
        "preferred_name": "Preferred name",
        "preferred_hint": "How staff greet them; the first name if left empty.",
        "language": "Language of the customer",
        "email": "Email",
        "optional": "(optional)",
        "consent_help": "Turn the screen to the customer and let them read the text in their "
        "language.",
        "photos_title": "Photos: one required, three recommended",
        "photos_help": "Each photo is checked at once: exactly one face, close enough, sharp, "
        "looking at the camera. Photos are used only to make the face template and are then "
        "discarded.",
        "camera_preview": "Camera preview",
        "start_camera": "Start camera",
        "stop_camera": "Stop camera",
        "take_photo": "Take photo",
        "choose_photos": "Choose photos…",
        "camera_on": "Camera on: ask the customer to look at the camera, then take a photo.",
        "enough_photos": "Three photos are enough: remove one to add another.",
        "only_room": "Only {n} more photo(s) fit; the rest were not added.",
        "checking": "Checking the photo… (a few seconds)",
        "photo_ok": "✓ ok: good photo",
        "photo_bad": "✗ Not usable",
        "remove": "Remove",
        "enrol_title": "Enrol",
        "enrol": "Enrol customer",
        "enrolling": "Enrolling…",
        "start_over": "Start over",
        "enrol_progress": "Enrolling: checking the photos, making the face template and sending "
        "it to the store's camera. This takes a few seconds; the receipt opens by itself.",
        "name_matches": "✓ The typed name matches.",
        "name_differs": "The typed name does not match the full name above yet.",
        "still_needed": "Still needed: {what}",
        "need_name": "the customer's full name",
        "need_consent": "the customer ticks the consent box",
        "need_typed_name": "the customer types their full name, exactly as above",
        "need_check": "wait for the photo check",
        "need_remove": "remove or retake the photos marked “not usable”",
        "need_photo": "at least one good photo (three recommended)",
        "ready_some": "Ready ({n} of 3 photos; three give the best recognition).",
        "kind_title": "Kind of membership",
        "kind_help": "Two equal choices, with the same service, cards, self-service page and "
        "rights. Let the customer choose; neither is the default.",
        "kind_face": "With face recognition",
        "kind_face_help": "Photos at the register; staff recognise the customer by their face.",
        "kind_pass": "Without a face: membership pass",
        "kind_pass_help": "No photo, no camera: the customer shows the QR code of their pass.",
        "kind_first": "Choose the kind of membership first: each has its own consent text.",
        "need_kind": "the customer chooses a kind of membership",
        "ready_pass": "Ready (membership pass, no photo).",
        "enrol_again": "Enrol again",
        "enrol_existing": "Enrol existing customer",
        "enrol_existing_short": "Enrol",
        "new_pass_confirm": "Issue a new pass for {name}? Their current pass stops working at "
        "once.",
        "ready": "Ready.",
        # said by the page's script (search results, photos, errors)
        "session_ended": "Your session has ended: please sign in again.",
        "who": "{name} ({role})",
        "role_sales": "sales",
        "role_cashier": "cashier",
        "role_privacy_officer": "privacy officer",
        "role_admin": "admin",
        "forbidden_who": "You are signed in as {name}, a {role} account, which may not enrol "
        "customers. Sign out and sign in with a cashier account.",
        "search_failed": "Search failed: {message}",
        "badge_active": "recognition on",
        "print_link": "Print self-service link",
        "new_pass": "New pass",
        "add_face": "Add a face",
        "pass_only": "Pass only (no face)",
        "pass_only_confirm": "Keep {name}'s membership without a face? Their face templates and "
        "photo are destroyed at once.",
        "renew": "Renew consent",
        "withdraw": "Stop recognition",
        "withdraw_confirm": "Stop recognising {name}? Their face templates are destroyed at once.",
        "erase": "Erase",
        "erase_confirm": "Erase everything about {name}? This cannot be undone.",
        "done_renew": "Consent renewed: {name}.",
        "done_withdraw": "Recognition stopped: {name}.",
        "done_erase": "Customer erased: {name}.",
        "done_pass_only": "Membership without a face now: {name}.",
        "reenrolling_again": "Enrolling again: {name} (their history is kept)",
        "reenrolling_existing": "Enrolling existing customer: {name} (their history is kept)",
        "photo_slot": "Photo {n} · {source}",
        "source_camera": "camera",
        "source_uploaded": "uploaded",
        "checking_photo": "Checking photo {n}",
        "photo_preview": "photo preview",
        "photo_facts": "one face, {px} px; sharpness {sharpness}",
        "photo_frontal": "; frontal {percent}%",
        "no_camera": "No camera available in this browser: use “Choose photos…” instead.",
        "camera_failed": "The camera could not be started ({error}): use “Choose photos…” instead.",
        "err_face_taken": "This face is already enrolled as another customer. Nothing was saved: "
        "look the customer up with the search above instead of enrolling again.",
        "err_member": "This customer already has an active consent. Nothing was saved: use "
        "“Renew consent” in the search results instead.",
        "err_not_found": "Not enrolled, nothing was saved: {message}. Search for the customer "
        "again.",
        "err_too_large": "A photo is too large. Use a smaller photo.",
        # the photo check's reasons and what to do about them ({value}, {need}: the figures)
        "photo_problem_no_face": "No face found.",
        "photo_problem_several_faces": "{value} faces found: exactly one person may be in the "
        "photo.",
        "photo_problem_too_small": "Face too small ({value} px, at least {need} needed).",
        "photo_problem_too_blurred": "Face too blurred (sharpness {value}, at least {need} "
        "needed).",
        "photo_problem_not_frontal": "Not looking at the camera ({value}% frontal, at least "
        "{need}% needed).",
        "photo_hint_no_face": "Ask the customer to look straight at the camera, face uncovered.",
        "photo_hint_several_faces": "Only the customer may be in the photo: ask others to step "
        "aside.",
        "photo_hint_too_small": "Ask the customer to step closer to the camera.",
        "photo_hint_too_blurred": "Hold still and make sure the face is in focus and well lit.",
        "photo_hint_not_frontal": "Ask the customer to face the camera straight on.",
        "err_invalid": "Not enrolled, nothing was saved: {message}",
        "err_forbidden": "Not allowed: {message}",
        "err_failed": "Enrolment failed, nothing was saved: {message}",
        # the receipt page's frame, and the re-issue of a link (for the cashier)
        "no_receipt": "No receipt",
        "back_to_register": "Back to the register",
        "reissue_title": "Self-service link for {name}",
        "reissue_why": "A receipt with a link is printed right after enrolment. A new link can "
        "be issued if the customer lost theirs: the old link then stops working, and the "
        "privacy officer sees that you issued it.",
        "reissue_button": "Issue a new link (the old one stops working)",
        "reissue_confirm": "Issue a new self-service link? The customer's old link stops working.",
        "reissue_qr": "QR code of the self-service link",
        "unreachable": "The server cannot be reached.",
        "print": "Print",
    },
    "nl": {
        "title": "Vertrouwd · kassa",
        "not_signed_in": "niet aangemeld",
        "sign_out": "Afmelden",
        "sign_in": "Aanmelden",
        "username": "Gebruikersnaam",
        "password": "Wachtwoord",
        "wrong_login": "Onjuiste gebruikersnaam of wachtwoord.",
        "forbidden_title": "Deze pagina is voor de kassa",
        "forbidden_body": "Met uw account kunt u geen klanten inschrijven. Meld u aan met een "
        "kassa-account.",
        "find_title": "Zoek de klant",
        "search_label": "Klanten zoeken",
        "search_placeholder": "Naam of e-mail",
        "search": "Zoeken",
        "searching": "Zoeken…",
        "found": "{n} klant(en) gevonden in deze winkel.",
        "not_found": "Geen klant gevonden in deze winkel: schrijf hem of haar hieronder in als "
        "nieuw lid.",
        "new_member": "Nieuw lid",
        "cancel_reenrol": "Annuleren: een nieuw lid inschrijven",
        "full_name": "Volledige naam",
        "name_hint": "De naam in ons bestand; de klant bevestigt die hieronder.",
        "preferred_name": "Roepnaam",
        "preferred_hint": "Hoe het personeel de klant begroet; de voornaam als dit leeg blijft.",
        "language": "Taal van de klant",
        "email": "E-mail",
        "optional": "(niet verplicht)",
        "consent_help": "Draai het scherm naar de klant en laat de klant de tekst in de eigen "
        "taal lezen.",
        "photos_title": "Foto's: één verplicht, drie aanbevolen",
        "photos_help": "Elke foto wordt meteen gecontroleerd: precies één gezicht, dichtbij "
        "genoeg, scherp, recht in de camera. De foto's dienen alleen om het gezichtstemplate te "
        "maken en worden daarna gewist.",
        "camera_preview": "Camerabeeld",
        "start_camera": "Camera aan",
        "stop_camera": "Camera uit",
        "take_photo": "Foto maken",
        "choose_photos": "Foto's kiezen…",
        "camera_on": "Camera aan: vraag de klant in de camera te kijken en maak dan een foto.",
        "enough_photos": "Drie foto's is genoeg: verwijder er een om een andere toe te voegen.",
        "only_room": "Er passen nog maar {n} foto('s) bij; de rest is niet toegevoegd.",
        "checking": "De foto wordt gecontroleerd… (enkele seconden)",
        "photo_ok": "✓ goed: bruikbare foto",
        "photo_bad": "✗ Niet bruikbaar",
        "remove": "Verwijderen",
        "enrol_title": "Inschrijven",
        "enrol": "Klant inschrijven",
        "enrolling": "Bezig met inschrijven…",
        "start_over": "Opnieuw beginnen",
        "enrol_progress": "Bezig met inschrijven: de foto's worden gecontroleerd, het "
        "gezichtstemplate wordt gemaakt en naar de camera van de winkel gestuurd. Dit duurt "
        "enkele seconden; de bon opent vanzelf.",
        "name_matches": "✓ De getypte naam klopt.",
        "name_differs": "De getypte naam komt nog niet overeen met de volledige naam hierboven.",
        "still_needed": "Nog nodig: {what}",
        "need_name": "de volledige naam van de klant",
        "need_consent": "de klant vinkt het toestemmingsvakje aan",
        "need_typed_name": "de klant typt de volledige naam, precies zoals hierboven",
        "need_check": "wacht op de fotocontrole",
        "need_remove": "verwijder of vervang de foto's gemarkeerd als “niet bruikbaar”",
        "need_photo": "minstens één goede foto (drie aanbevolen)",
        "ready_some": "Klaar ({n} van 3 foto's; met drie werkt herkenning het best).",
        "kind_title": "Soort lidmaatschap",
        "kind_help": "Twee gelijkwaardige keuzes, met dezelfde service, kaarten, eigen pagina en "
        "rechten. Laat de klant kiezen; geen van beide is de standaard.",
        "kind_face": "Met gezichtsherkenning",
        "kind_face_help": "Foto's aan de kassa; het personeel herkent de klant aan het gezicht.",
        "kind_pass": "Zonder gezicht: ledenpas",
        "kind_pass_help": "Geen foto, geen camera: de klant laat de QR-code van de pas zien.",
        "kind_first": "Kies eerst het soort lidmaatschap: elk heeft een eigen toestemmingstekst.",
        "need_kind": "de klant kiest een soort lidmaatschap",
        "ready_pass": "Klaar (ledenpas, geen foto).",
        "enrol_again": "Opnieuw inschrijven",
        "enrol_existing": "Bestaande klant inschrijven",
        "enrol_existing_short": "Inschrijven",
        "new_pass_confirm": "Een nieuwe pas maken voor {name}? De huidige pas werkt dan meteen "
        "niet meer.",
        "ready": "Klaar.",
        "session_ended": "Uw sessie is verlopen: meld u opnieuw aan.",
        "who": "{name} ({role})",
        "role_sales": "verkoop",
        "role_cashier": "kassa",
        "role_privacy_officer": "privacyfunctionaris",
        "role_admin": "beheerder",
        "forbidden_who": "U bent aangemeld als {name}, met een account voor {role}, dat geen "
        "klanten mag inschrijven. Meld u af en meld u aan met een kassa-account.",
        "search_failed": "Zoeken mislukt: {message}",
        "badge_active": "herkenning aan",
        "print_link": "Link naar de eigen pagina afdrukken",
        "new_pass": "Nieuwe pas",
        "add_face": "Gezicht toevoegen",
        "pass_only": "Alleen pas (geen gezicht)",
        "pass_only_confirm": "Het lidmaatschap van {name} voortzetten zonder gezicht? De "
        "gezichtstemplates en de foto worden meteen vernietigd.",
        "renew": "Toestemming verlengen",
        "withdraw": "Herkenning stoppen",
        "withdraw_confirm": "{name} niet meer herkennen? De gezichtstemplates worden meteen "
        "vernietigd.",
        "erase": "Wissen",
        "erase_confirm": "Alles over {name} wissen? Dit kan niet ongedaan worden gemaakt.",
        "done_renew": "Toestemming verlengd: {name}.",
        "done_withdraw": "Herkenning gestopt: {name}.",
        "done_erase": "Klant gewist: {name}.",
        "done_pass_only": "Nu lidmaatschap zonder gezicht: {name}.",
        "reenrolling_again": "Opnieuw inschrijven: {name} (de geschiedenis blijft bewaard)",
        "reenrolling_existing": "Bestaande klant inschrijven: {name} (de geschiedenis blijft "
        "bewaard)",
        "photo_slot": "Foto {n} · {source}",
        "source_camera": "camera",
        "source_uploaded": "gekozen bestand",
        "checking_photo": "Foto {n} wordt gecontroleerd",
        "photo_preview": "voorbeeld van de foto",
        "photo_facts": "één gezicht, {px} px; scherpte {sharpness}",
        "photo_frontal": "; recht van voren {percent}%",
        "no_camera": "Geen camera beschikbaar in deze browser: gebruik „Foto's kiezen…”.",
        "camera_failed": "De camera kon niet starten ({error}): gebruik „Foto's kiezen…”.",
        "err_face_taken": "Dit gezicht is al ingeschreven als een andere klant. Er is niets "
        "opgeslagen: zoek de klant hierboven op in plaats van opnieuw in te schrijven.",
        "err_member": "Deze klant heeft al een actieve toestemming. Er is niets opgeslagen: "
        "gebruik „Toestemming verlengen” in de zoekresultaten.",
        "err_not_found": "Niet ingeschreven, er is niets opgeslagen: {message}. Zoek de klant "
        "opnieuw op.",
        "err_too_large": "Een foto is te groot. Gebruik een kleinere foto.",
        "photo_problem_no_face": "Geen gezicht gevonden.",
        "photo_problem_several_faces": "{value} gezichten gevonden: er mag precies één persoon "
        "op de foto.",
        "photo_problem_too_small": "Gezicht te klein ({value} px, minstens {need} nodig).",
        "photo_problem_too_blurred": "Gezicht te onscherp (scherpte {value}, minstens {need} "
        "nodig).",
        "photo_problem_not_frontal": "Kijkt niet in de camera ({value}% frontaal, minstens "
        "{need}% nodig).",
        "photo_hint_no_face": "Vraag de klant recht in de camera te kijken, met het gezicht "
        "onbedekt.",
        "photo_hint_several_faces": "Alleen de klant mag op de foto: vraag anderen even opzij "
        "te gaan.",
        "photo_hint_too_small": "Vraag de klant dichter bij de camera te komen.",
        "photo_hint_too_blurred": "Stilhouden, en zorg dat het gezicht scherp en goed verlicht is.",
        "photo_hint_not_frontal": "Vraag de klant recht naar de camera te kijken.",
        "err_invalid": "Niet ingeschreven, er is niets opgeslagen: {message}",
        "err_forbidden": "Niet toegestaan: {message}",
        "err_failed": "Inschrijven mislukt, er is niets opgeslagen: {message}",
        "no_receipt": "Geen bon",
        "back_to_register": "Terug naar de kassa",
        "reissue_title": "Link naar de eigen pagina voor {name}",
        "reissue_why": "Een bon met een link wordt direct na het inschrijven afgedrukt. Is de "
        "klant de link kwijt, dan kan een nieuwe worden uitgegeven: de oude link werkt dan niet "
        "meer, en de privacyfunctionaris ziet dat u hem uitgaf.",
        "reissue_button": "Nieuwe link uitgeven (de oude werkt dan niet meer)",
        "reissue_confirm": "Een nieuwe link naar de eigen pagina uitgeven? De oude link van de "
        "klant werkt dan niet meer.",
        "reissue_qr": "QR-code van de link naar de eigen pagina",
        "unreachable": "De server is niet bereikbaar.",
        "print": "Afdrukken",
    },
}


def staff_texts(language: str) -> dict[str, str]:
    return STAFF_TEXT.get(language, STAFF_TEXT["nl"])


def staff_language(requested: str | None, default: str) -> str:
    """The language of a staff page (register, tablet, console): ``?lang=`` when it names a
    staff language, else the stores' setting (``VERTROUWD_STAFF_LANGUAGE``)."""
    return requested if requested in STAFF_LANGUAGES else default
