"""Enrolment: consent + templates + thumbnail + audit + gallery publication in one transaction.

Every photo is analysed (and every check passed) before anything is written; the photos
themselves are dropped once their embeddings and the one thumbnail exist.

Two kinds of membership, equal choices (issue 12): ``face`` (consent text, photos, templates,
thumbnail) and ``pass`` (its own consent text, no photo, no template, no thumbnail: nothing
biometric is processed at all). Both get the same customer record, data key, consent record,
self-service link and a membership pass (:mod:`server.services.membership.passes`), shown once.

Two ways in, one shared path (:func:`_check` writes nothing, :func:`_attach` writes):

* :func:`enrol` makes a NEW customer;
* :func:`reenrol` gives an EXISTING customer whose consent has ended (withdrawn or expired: their
  templates and data key were destroyed then, their profile and history kept) a new consent, a
  fresh data key and new templates, so their history stays in one record.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.audit_kinds import ConsentExpired, ConsentGiven, DataKeyDestroyed, TemplateCreated
from consent.envelope import new_data_key, seal_blob, seal_template
from consent.keys import KeyProvider
from consent.records import (
    PASS_PURPOSE,
    PURPOSE,
    ConsentText,
    consent_expiry,
    consent_text,
    current_consent_text,
    current_pass_consent_text,
    is_pass_text,
)
from server import faults
from server.db.membership import (
    ConsentRecord,
    ConsentRenewal,
    Customer,
    CustomerKey,
    FaceTemplate,
    FaceThumbnail,
)
from server.db.stores import Store
from server.services import audit
from server.services.context import ServiceContext
from server.services.errors import BadInput, Conflict, NotFound
from server.services.ids import new_id, new_subject_id
from server.services.membership import lifecycle, lookup, passes, selfservice
from server.services.membership.faces import AnalysedPhoto, FaceAnalyser
from server.services.recognition import gallery

CHANNELS = ("register", "portal", "console", "cli")
MEMBERSHIPS = ("face", "pass")
THUMBNAIL_PURPOSE = "enrolment-thumbnail"
MAX_PHOTOS = 5


@dataclass(frozen=True)
class EnrolmentRequest:
    name: str
    preferred_name: str
    language: str
    photos: Sequence[bytes]
    consent_confirmed: bool
    confirmation_name: str
    channel: str
    collected_by: str
    email: str | None = None
    loyalty_id: str | None = None
    text_version: str | None = None
    membership: str = "face"
    """``face`` (photos, templates) or ``pass`` (no photo, nothing biometric)."""
    analysed: Sequence[AnalysedPhoto] | None = None
    """The photos already analysed (:func:`analyse_photos`, as the API does before it touches the
    database, so the analysis holds no connection); None: analysed inside the transaction."""


@dataclass(frozen=True)
class EnrolmentResult:
    customer_id: str
    subject_id: str
    consent_id: str
    templates: int
    gallery_versions: dict[int, int]
    pass_token: str
    """The member's pass, to show once (receipt); only its digest is stored."""
    membership: str = "face"


@dataclass(frozen=True)
class _Checked:
    """A request that passed every check: its consent text and analysed photos."""

    text: ConsentText
    analysed: list[AnalysedPhoto]


def _words(s: str) -> str:
    return " ".join(s.split())


def _validate(req: EnrolmentRequest) -> None:
    if not req.name.strip():
        raise BadInput("the customer's name is required")
    if not req.consent_confirmed:
        raise BadInput("consent was not confirmed: the customer must tick the consent box")
    if _words(req.confirmation_name).casefold() != _words(req.name).casefold():
        raise BadInput("the typed confirmation name does not match the customer's name")
    if req.channel not in CHANNELS:
        raise BadInput(f"unknown channel {req.channel!r}")
    if req.membership not in MEMBERSHIPS:
        raise BadInput("membership: 'face' or 'pass'")
    if req.membership == "pass":
        if req.photos:
            raise BadInput("a membership without a face takes no photos")
        return
    if not req.photos:
        raise BadInput("at least one photo is required (three recommended)")
    if len(req.photos) > MAX_PHOTOS:
        raise BadInput(f"at most {MAX_PHOTOS} photos")


def _same_person(photos: list[AnalysedPhoto], threshold: float) -> None:
    vecs = np.stack([p.embedding.vector for p in photos])
    for i in range(len(vecs)):
        for j in range(i + 1, len(vecs)):
            if float(np.linalg.norm(vecs[i] - vecs[j])) > threshold:
                raise BadInput(f"photos {i + 1} and {j + 1} do not show the same person")


def analyse_photos(request: EnrolmentRequest, *, analyser: FaceAnalyser) -> list[AnalysedPhoto]:
    """The form's checks, then each photo analysed (in the analyser's bounded pool); no
    database needed. Raises ``BadInput`` (or ``Unavailable`` when the pool is full)."""
    _validate(request)
    return [analyser.analyse(data, label=f"photo {i + 1}") for i, data in enumerate(request.photos)]


def _check(
    session: Session,
    *,
    request: EnrolmentRequest,
    analyser: FaceAnalyser,
    kek: KeyProvider,
    threshold: float,
    now: datetime,
) -> _Checked:
    """Every check of an enrolment, writing nothing: the form, the consent text, each photo,
    one person on all of them, and a face that no member with an active consent has."""
    _validate(request)
    pass_only = request.membership == "pass"
    try:
        if request.text_version:
            text = consent_text(request.text_version, request.language)
        elif pass_only:
            text = current_pass_consent_text(request.language)
        else:
            text = current_consent_text(request.language)
    except (KeyError, ValueError, LookupError) as exc:
        raise BadInput(f"no consent text for language {request.language!r}") from exc
    if is_pass_text(text.version) != pass_only:
        raise BadInput(
            f"consent text {text.version} is for the other kind of membership "
            f"({'with' if pass_only else 'without'} a face)"
        )
    if pass_only:
        return _Checked(text=text, analysed=[])
    analysed = (
        list(request.analysed)
        if request.analysed is not None
        else analyse_photos(request, analyser=analyser)
    )
    _same_person(analysed, threshold)
    match = gallery.find_enrolled(
        session,
        kek=kek,
        embeddings=[a.embedding for a in analysed],
        threshold=threshold,
        now=now,
    )
    if match is not None:
        raise Conflict(
            "this face is already enrolled as another customer; "
            "look the customer up instead of enrolling again"
        )
    return _Checked(text=text, analysed=analysed)


def _attach(
    session: Session,
    *,
    customer: Customer,
    checked: _Checked,
    request: EnrolmentRequest,
    store: Store,
    kek: KeyProvider,
    consent_months: int,
    now: datetime,
    notify: gallery.Notify | None,
    also_publish: Iterable[str] = (),
) -> EnrolmentResult:
    """Give ``customer`` (flushed, holding no data key) a consent for ``store``, a fresh data
    key, the templates and the thumbnail; audit it and publish the galleries of the consent's
    scope, plus those of ``also_publish`` (stores whose members changed in the same step)."""
    text, analysed = checked.text, checked.analysed
    held = session.get(CustomerKey, customer.id)
    if held is not None:  # a pass-only member adding a face: their consent never ended
        dek = kek.unwrap(held.wrapped_dek, context=customer.id.encode())
    else:
        dek = new_data_key()
        session.add(
            CustomerKey(
                customer_id=customer.id,
                wrapped_dek=kek.wrap(dek, context=customer.id.encode()),
                kek_id=kek.key_id,
                created_at=now,
            )
        )
    record = ConsentRecord(
        id=new_id(),
        customer_id=customer.id,
        purpose=PASS_PURPOSE if is_pass_text(text.version) else PURPOSE,
        scope=[store.code],
        text_version=text.version,
        text_language=text.language,
        text_sha256=text.sha256,
        channel=request.channel,
        collected_by=request.collected_by,
        given_at=now,
        expires_at=consent_expiry(now, months=consent_months),
        status="active",
    )
    session.add(record)
    session.flush()
    for version, photo in enumerate(analysed, start=1):
        session.add(
            FaceTemplate(
                customer_id=customer.id,
                consent_id=record.id,
                model_id=photo.embedding.model_id,
                template_version=version,
                ciphertext=seal_template(
                    dek,
                    photo.embedding.vector.astype(np.float32).tobytes(),
                    subject_id=customer.id,
                    template_version=version,
                ),
                created_at=now,
            )
        )
    if analysed:
        best = max(analysed, key=lambda a: len(a.thumbnail_jpeg))
        session.add(
            FaceThumbnail(
                customer_id=customer.id,
                consent_id=record.id,
                ciphertext=seal_blob(
                    dek, best.thumbnail_jpeg, subject_id=customer.id, purpose=THUMBNAIL_PURPOSE
                ),
                created_at=now,
            )
        )
    del dek
    actor = f"staff:{request.collected_by}"
    audit.append(
        session,
        ConsentGiven(
            consent_id=record.id,
            purpose=PURPOSE,
            scope=record.scope,
            text_version=text.version,
            text_sha256=text.sha256,
            channel=request.channel,
            expires_at=record.expires_at.isoformat(),
            membership=request.membership,
        ),
        actor=actor,
        subject=customer.subject_id,
        at=now,
    )
    if analysed:
        audit.append(
            session,
            TemplateCreated(count=len(analysed), model_id=analysed[0].embedding.model_id),
            actor=actor,
            subject=customer.subject_id,
            at=now,
        )
    issued = passes.issue(session, customer=customer, reason="enrolment", actor=actor, now=now)
    session.flush()
    faults.point("enrol.after_templates")  # crash-safety tests: die with the rows flushed
    versions = gallery.publish_for_scope(
        session,
        scope=sorted({*record.scope, *also_publish}),
        reason="enrolment",
        actor=actor,
        now=now,
        notify=notify,
    )
    return EnrolmentResult(
        customer_id=customer.id,
        subject_id=customer.subject_id,
        consent_id=record.id,
        templates=len(analysed),
        gallery_versions=versions,
        pass_token=issued.token,
        membership=request.membership,
    )


def _wiring(ctx: ServiceContext) -> tuple[KeyProvider, int, datetime, gallery.Notify]:
    return ctx.kek, ctx.settings.consent_months, ctx.now(), ctx.notify


def enrol(
    session: Session,
    ctx: ServiceContext,
    *,
    request: EnrolmentRequest,
    store: Store,
    analyser: FaceAnalyser,
    threshold: float,
) -> EnrolmentResult:
    """Enrol a new member at ``store``. Raises ``BadInput``/``Conflict``; writes nothing then.
    ``ctx.notify`` tells the store's devices about the new gallery."""
    kek, consent_months, now, notify = _wiring(ctx)
    checked = _check(
        session, request=request, analyser=analyser, kek=kek, threshold=threshold, now=now
    )
    if request.loyalty_id and lookup.loyalty_taken(session, request.loyalty_id):
        raise Conflict("this loyalty id already belongs to a customer")

    customer = Customer(
        id=new_id(),
        subject_id=new_subject_id(),
        name=_words(request.name),
        preferred_name=_words(request.preferred_name) or request.name.split()[0],
        language=request.language,
        email=request.email,
        loyalty_id=request.loyalty_id,
        home_store_id=store.id,
        created_at=now,
        last_interaction_at=now,
    )
    session.add(customer)
    session.flush()
    return _attach(
        session,
        customer=customer,
        checked=checked,
        request=request,
        store=store,
        kek=kek,
        consent_months=consent_months,
        now=now,
        notify=notify,
    )


def reenrol(
    session: Session,
    ctx: ServiceContext,
    *,
    customer_id: str,
    request: EnrolmentRequest,
    store: Store,
    analyser: FaceAnalyser,
    threshold: float,
) -> EnrolmentResult:
    """Enrol an existing customer whose consent has ended, at ``store``, keeping their record,
    pseudonym and history. Who may do it is for the caller to check first
    (``customer_admin.authorise(action="reenrol")``).

    ``request.name`` must be the name on record (whitespace and case aside): the customer types
    it to confirm, as a new member does. A preferred name, the language and an e-mail, when
    given, update the profile; an empty one keeps what is stored. Otherwise it is :func:`enrol`:
    the same checks (a face that belongs to another member is refused), the same rows, audit
    entries and gallery publication, in the caller's transaction.

    What the end of the old consent left behind is handled here: a consent still marked active
    but past its expiry (the retention job has not run yet) is ended as that job would end it,
    and a data key without an active consent is destroyed (audited) before the fresh one is
    made; an old key is never reused.

    Raises ``Conflict`` while the customer has an active consent ("renew instead"),
    ``NotFound`` for an unknown (or erased) id, ``BadInput``/``Conflict`` as :func:`enrol`;
    nothing is written then."""
    kek, consent_months, now, notify = _wiring(ctx)
    customer = session.scalars(
        select(Customer)
        .where(Customer.id == customer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if customer is None:
        raise NotFound("no such customer")
    open_records = list(
        session.scalars(
            select(ConsentRecord)
            .where(ConsentRecord.customer_id == customer.id, ConsentRecord.status == "active")
            .with_for_update()
        )
    )
    live = [r for r in open_records if r.expires_at > now]
    # A member without a face who now wants one (issue 12): their pass consent is superseded
    # by the face consent given here, like a renewal; anything else active is "renew instead".
    adding_face = (
        bool(live)
        and request.membership == "face"
        and all(is_pass_text(r.text_version) for r in live)
    )
    if live and not adding_face:
        raise Conflict("this customer is already a member with an active consent; renew instead")
    if _words(request.name).casefold() != _words(customer.name).casefold():
        raise BadInput(
            "the name does not match this customer's record; enrolling again keeps the "
            "name on record (correct it first if it has changed)"
        )
    if request.loyalty_id and request.loyalty_id != customer.loyalty_id:
        raise BadInput("the loyalty id cannot be changed when enrolling again")
    checked = _check(
        session, request=request, analyser=analyser, kek=kek, threshold=threshold, now=now
    )

    actor = f"staff:{request.collected_by}"
    lapsed: set[str] = set()
    if adding_face:
        return _add_face(
            session,
            customer=customer,
            superseded=live,
            checked=checked,
            request=request,
            store=store,
            kek=kek,
            consent_months=consent_months,
            now=now,
            notify=notify,
        )
    if open_records:  # past expiry, not yet ended by the retention job: end them as it would
        ended = lifecycle.end_consents(
            session,
            customer=customer,
            records=open_records,
            status="expired",
            reason="expiry",
            actor=actor,
            channel=None,
            now=now,
            notify=notify,
        )
        lapsed = ended.scope
    left = lifecycle.shred(session, customer)  # a key that outlived its consent
    if left.keys:
        audit.append(
            session,
            DataKeyDestroyed(reason="no active consent"),
            actor=actor,
            subject=customer.subject_id,
            at=now,
        )
    if _words(request.preferred_name):
        customer.preferred_name = _words(request.preferred_name)
    customer.language = request.language
    if request.email:
        customer.email = request.email
    if customer.home_store_id is None:
        customer.home_store_id = store.id
    customer.last_interaction_at = now
    session.flush()
    return _attach(
        session,
        customer=customer,
        checked=checked,
        request=request,
        store=store,
        kek=kek,
        consent_months=consent_months,
        now=now,
        notify=notify,
        also_publish=lapsed,
    )


@dataclass(frozen=True)
class Enrolled:
    result: EnrolmentResult
    self_service_url: str


def enrol_member(
    session: Session,
    ctx: ServiceContext,
    *,
    request: EnrolmentRequest,
    store: Store,
    analyser: FaceAnalyser,
    threshold: float,
    customer_id: str | None = None,
) -> Enrolled:
    """The one enrolment of the register and the command line: :func:`enrol`, or with
    ``customer_id`` :func:`reenrol` (the caller checked who may), then the member's
    self-service link, issued by whoever collected the consent on the request's channel."""
    if customer_id is None:
        result = enrol(
            session, ctx, request=request, store=store, analyser=analyser, threshold=threshold
        )
    else:
        result = reenrol(
            session,
            ctx,
            customer_id=customer_id,
            request=request,
            store=store,
            analyser=analyser,
            threshold=threshold,
        )
    member = session.get(Customer, result.customer_id)
    assert member is not None
    link = selfservice.issue_link(
        session,
        ctx,
        customer=member,
        actor=f"staff:{request.collected_by}",
        channel=request.channel,
    )
    return Enrolled(result, link)


def _add_face(
    session: Session,
    *,
    customer: Customer,
    superseded: list[ConsentRecord],
    checked: _Checked,
    request: EnrolmentRequest,
    store: Store,
    kek: KeyProvider,
    consent_months: int,
    now: datetime,
    notify: gallery.Notify | None,
) -> EnrolmentResult:
    """A pass-only member enrols a face: the face consent, templates and thumbnail are made as
    for any enrolment; the pass consent ends (``expired``, linked to the new one in
    ``consent_renewals``, as a renewal is); the member's data key is kept (it is live: their
    consent never ended) and a new pass is issued."""
    actor = f"staff:{request.collected_by}"
    if _words(request.preferred_name):
        customer.preferred_name = _words(request.preferred_name)
    customer.language = request.language
    if request.email:
        customer.email = request.email
    customer.last_interaction_at = now
    session.flush()
    result = _attach(
        session,
        customer=customer,
        checked=checked,
        request=request,
        store=store,
        kek=kek,
        consent_months=consent_months,
        now=now,
        notify=notify,
        also_publish={s for r in superseded for s in r.scope},
    )
    for record in superseded:
        record.status = "expired"
        record.withdrawn_at = now
        session.add(
            ConsentRenewal(consent_id=record.id, renewed_by=result.consent_id, renewed_at=now)
        )
        audit.append(
            session,
            ConsentExpired(consent_id=record.id, reason="face added", renewed_by=result.consent_id),
            actor=actor,
            subject=customer.subject_id,
            at=now,
        )
    session.flush()
    return result
