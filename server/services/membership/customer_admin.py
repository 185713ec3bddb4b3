"""Staff acting on a customer's consent (register, console): who may, search, and refusals.

Withdraw, erase, renew, view and re-enrol (``reenrol``: a new consent and templates for a
customer whose consent ended, see ``enrolment.reenrol``) are allowed to the cashier of the
customer's home store, a privacy officer and an admin. Anyone else gets 403, an unknown id
404; both are written to the audit log as ``access.denied`` and kept even though the request
fails. The audit entry names an existing customer only by pseudonym, and an unknown id not at
all (it may be an erased customer's id, which must not reappear anywhere).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.records import is_pass_text
from server.db.membership import ConsentRecord, Customer
from server.db.stores import Store
from server.services.errors import BadInput, NotFound
from server.services.membership import lifecycle, lookup
from server.services.staff import access
from server.services.staff.accounts import StaffIdentity

ACTIONS = ("withdraw", "erase", "renew", "view", "reenrol", "pass", "reissue")
SEARCH_ROLES = ("cashier", "admin")
MAX_RESULTS = 25  # the most recently seen matches, shown by name


@dataclass(frozen=True)
class CustomerSummary:
    """What a search shows: contact fields and consent state; no pseudonym, key or template."""

    id: str
    name: str
    preferred_name: str
    email: str | None
    loyalty_id: str | None
    language: str
    home_store: str | None
    recognition: str
    consent_expires_at: datetime | None
    membership: str | None = None
    """``face``/``pass`` while a consent is active (issue 12), else None."""


def _may(who: StaffIdentity, customer: Customer) -> bool:
    if who.role in ("privacy_officer", "admin"):
        return True
    return (
        who.role == "cashier"
        and who.store_id is not None
        and who.store_id == customer.home_store_id
    )


def authorise(
    session: Session, *, who: StaffIdentity, customer_id: str, action: str, now: datetime
) -> Customer:
    """The customer ``who`` may ``action``; otherwise an audited 404/403."""
    if action not in ACTIONS:
        raise BadInput(f"unknown action {action!r}")
    customer = session.get(Customer, customer_id)
    if customer is not None and _may(who, customer):
        return customer
    if customer is None:
        raise access.deny(
            session,
            who,
            what="customer",
            reason="no such customer",
            error=NotFound,
            now=now,
            action=action,
            found=False,
        )
    raise access.deny(
        session,
        who,
        what="customer",
        reason=f"the {who.role} role may not {action} this customer's consent",
        subject=customer.subject_id,
        now=now,
        action=action,
        found=True,
    )


def summaries(
    session: Session, customers: Sequence[Customer], *, now: datetime
) -> list[CustomerSummary]:
    """What a search shows of ``customers``, in their order: their consent records and home
    stores read in one query each for the whole page, not a few queries per customer."""
    ids = [c.id for c in customers]
    history: dict[str, list[ConsentRecord]] = defaultdict(list)
    for record in session.scalars(
        select(ConsentRecord)
        .where(ConsentRecord.customer_id.in_(ids))
        .order_by(ConsentRecord.given_at, ConsentRecord.id)  # lifecycle.consent_history's
    ):
        assert record.customer_id is not None
        history[record.customer_id].append(record)
    store_ids = {c.home_store_id for c in customers if c.home_store_id is not None}
    codes = (
        {
            row.id: row.code
            for row in session.execute(select(Store.id, Store.code).where(Store.id.in_(store_ids)))
        }
        if store_ids
        else {}
    )
    out: list[CustomerSummary] = []
    for customer in customers:
        records = history[customer.id]
        active = [r for r in records if r.status == "active"]
        current = max(active, key=lambda r: r.expires_at) if active else None
        out.append(
            CustomerSummary(
                id=customer.id,
                name=customer.name,
                preferred_name=customer.preferred_name,
                email=customer.email,
                loyalty_id=customer.loyalty_id,
                language=customer.language,
                home_store=codes.get(customer.home_store_id) if customer.home_store_id else None,
                recognition=lifecycle.state_of_history(records, now=now),
                consent_expires_at=current.expires_at if current else None,
                membership=(
                    None
                    if current is None
                    else "pass"
                    if is_pass_text(current.text_version)
                    else "face"
                ),
            )
        )
    return out


def search(session: Session, *, who: StaffIdentity, q: str, now: datetime) -> list[CustomerSummary]:
    """Customers of the staff member's store whose e-mail or loyalty id is ``q``, or whose name
    words start with the words of ``q`` (blind indexes, ``lookup``; an admin without a store
    searches every store): the ``MAX_RESULTS`` most recently seen of them (a longer query
    narrows), sorted by name once opened, as the database cannot order ciphertext."""
    access.require_role(session, who, SEARCH_ROLES, what="search customers", now=now)
    q = " ".join(q.split())
    if len(q) < 2:
        raise BadInput("type at least 2 characters to search")
    if len(q) > 200:
        raise BadInput("search text too long")
    if who.role == "cashier" and who.store_id is None:
        return []  # a cashier searches only the own store's customers
    found = lookup.search_page(session, q, store_id=who.store_id, limit=MAX_RESULTS)
    return summaries(session, found, now=now)
