"""Words for the membership without a face and the pass (issue 12), merged into
``server.api.page_text.TEXT`` (kept apart so the two lists of words merge easily)."""

from __future__ import annotations

from typing import Final

PASS_TEXT: Final[dict[str, dict[str, str]]] = {
    "en": {
        "confirm_pass": "I have read this text and I consent to a membership with a pass.",
        "receipt_welcome_pass": "Welcome, {name}. Show your pass when you visit {store}.",
        "receipt_pass_title": "Your membership pass",
        "receipt_pass_lead": "Show this code at the check-in of the store. It names nobody; "
        "keep it like a key.",
        "receipt_pass_once": "This pass is printed only now: we keep no copy of it. Lost it? Ask "
        "at the register or on your self-service page for a new one; the old one then stops "
        "working at once.",
        "receipt_pass_reprint": "The pass is not printed again. A new pass can be issued at the "
        "register or on the self-service page.",
        "membership": "Membership",
        "membership_face": "With face recognition: staff recognise you by your face.",
        "membership_pass": "With a pass, without a face: no photo or face template is held.",
        "switch_pass": "Keep my membership without a face",
        "switch_pass_confirm": "Your face templates and photo are destroyed at once, on our "
        "server and in the stores within seconds. You keep your membership, history and pass. "
        "Continue?",
        "switch_pass_done": "Done: your membership now works without a face. Your face "
        "templates and photo are destroyed.",
        "pass_title": "Your membership pass",
        "pass_text": "Show the QR code of your pass at the store's check-in. We keep only a "
        "checksum of it, so we cannot show it again: ask for a new one here, and the old one "
        "stops working at once.",
        "pass_new": "Issue a new pass",
        "pass_new_confirm": "Your current pass stops working at once. Issue a new one?",
        "pass_shown": "Your new pass, shown only now: save or print this page.",
        # recognition modes: /privacy and the entrance sign
        "mode_door": "members are recognised by the camera at the entrance (member zone)",
        "mode_checkin": "members who want to be recognised step onto the marked check-in spot; "
        "nobody else is looked at",
        "mode_pass": "members show their membership pass; no face is processed",
        "mode_pass+face": "members show their membership pass, and the camera checks only that "
        "member's face",
        "sign_title_pass": "Members check in with their pass",
        "sign_lead_pass": "This store recognises members only by the pass they show: no face "
        "recognition here.",
        "sign_mode_door": "The camera looks only at the member zone just inside the entrance.",
        "sign_mode_checkin": "The camera looks only at the marked check-in spot, and only while "
        "someone stands on it. Walk past it and you are not looked at.",
        "sign_mode_pass": "Members show the QR code of their pass. No camera recognises faces in "
        "this store.",
        "sign_mode_pass+face": "Members show the QR code of their pass; the camera then checks "
        "only that member's face. Nobody else is looked at.",
    },
    "nl": {
        "confirm_pass": "Ik heb deze tekst gelezen en ik geef toestemming voor een lidmaatschap "
        "met een pas.",
        "receipt_welcome_pass": "Welkom, {name}. Laat uw pas zien als u {store} bezoekt.",
        "receipt_pass_title": "Uw ledenpas",
        "receipt_pass_lead": "Laat deze code zien bij het aanmeldpunt in de winkel. Er staat "
        "geen naam in; bewaar hem als een sleutel.",
        "receipt_pass_once": "Deze pas wordt alleen nu afgedrukt: wij bewaren er geen kopie van. "
        "Kwijt? Vraag aan de kassa of op uw selfservicepagina om een nieuwe; de oude werkt dan "
        "direct niet meer.",
        "receipt_pass_reprint": "De pas wordt niet opnieuw afgedrukt. Een nieuwe pas kan aan de "
        "kassa of op de selfservicepagina worden uitgegeven.",
        "membership": "Lidmaatschap",
        "membership_face": "Met gezichtsherkenning: medewerkers herkennen u aan uw gezicht.",
        "membership_pass": "Met een pas, zonder gezicht: er wordt geen foto of "
        "gezichtstemplate bewaard.",
        "switch_pass": "Mijn lidmaatschap houden, zonder gezicht",
        "switch_pass_confirm": "Uw gezichtstemplates en foto worden direct vernietigd, op onze "
        "server en binnen enkele seconden in de winkels. U houdt uw lidmaatschap, geschiedenis "
        "en pas. Doorgaan?",
        "switch_pass_done": "Gedaan: uw lidmaatschap werkt nu zonder gezicht. Uw "
        "gezichtstemplates en foto zijn vernietigd.",
        "pass_title": "Uw ledenpas",
        "pass_text": "Laat de QR-code van uw pas zien bij het aanmeldpunt in de winkel. Wij "
        "bewaren alleen een controlegetal ervan en kunnen hem dus niet opnieuw tonen: vraag hier "
        "om een nieuwe, dan werkt de oude direct niet meer.",
        "pass_new": "Nieuwe pas uitgeven",
        "pass_new_confirm": "Uw huidige pas werkt dan direct niet meer. Een nieuwe uitgeven?",
        "pass_shown": "Uw nieuwe pas, alleen nu zichtbaar: bewaar of druk deze pagina af.",
        # herkenningswijzen: /privacy en het bord bij de ingang
        "mode_door": "leden worden herkend door de camera bij de ingang (ledenzone)",
        "mode_checkin": "leden die herkend willen worden, gaan op het gemarkeerde aanmeldpunt "
        "staan; naar niemand anders wordt gekeken",
        "mode_pass": "leden laten hun ledenpas zien; er wordt geen gezicht verwerkt",
        "mode_pass+face": "leden laten hun ledenpas zien, en de camera controleert alleen het "
        "gezicht van dat lid",
        "sign_title_pass": "Leden melden zich aan met hun pas",
        "sign_lead_pass": "Deze winkel herkent leden alleen aan de pas die zij laten zien: hier "
        "geen gezichtsherkenning.",
        "sign_mode_door": "De camera kijkt alleen naar de ledenzone vlak achter de ingang.",
        "sign_mode_checkin": "De camera kijkt alleen naar het gemarkeerde aanmeldpunt, en alleen "
        "als daar iemand staat. Loopt u erlangs, dan wordt niet naar u gekeken.",
        "sign_mode_pass": "Leden laten de QR-code van hun pas zien. In deze winkel herkent geen "
        "camera gezichten.",
        "sign_mode_pass+face": "Leden laten de QR-code van hun pas zien; de camera controleert "
        "dan alleen het gezicht van dat lid. Naar niemand anders wordt gekeken.",
    },
}
