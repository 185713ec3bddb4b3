"""Finding customers without plaintext: every lookup goes through the blind indexes (issue 18).

* e-mail: exact, normalised (trimmed, case-folded);
* loyalty id / external id: exact, spaces dropped, case-folded;
* name: every word of the query is a prefix (2..16 characters) of a word of the name or
  preferred name (``obam`` finds Barack Obama, ``bar ob`` too; ``rack`` does not).

No substring search: the database holds only keyed digests of these values.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, false, func, or_, select
from sqlalchemy.orm import Session

from consent.fields import query_words
from server.db.clienteling import CustomerExternalId
from server.db.models import Customer, CustomerSearchTerm
from server.db.sealed import vault_of


def matches(session: Session, q: str) -> ColumnElement[bool]:
    """A condition on ``Customer`` true for customers whose e-mail or loyalty id is ``q``, or
    whose name words start with every word of ``q``."""
    vault = vault_of(session)
    conditions: list[ColumnElement[bool]] = [Customer.loyalty_bidx == vault.id_index("loyalty", q)]
    if "@" in q:
        conditions.append(Customer.email_bidx == vault.email_index(q))
    words = query_words(q)
    if words:
        terms = [vault.term_index(w) for w in words]
        by_name: Select[str] = (
            select(CustomerSearchTerm.customer_id)
            .where(CustomerSearchTerm.term.in_(terms))
            .group_by(CustomerSearchTerm.customer_id)
            .having(func.count() == len(terms))
        )
        conditions.append(Customer.id.in_(by_name))
    return or_(false(), *conditions)


def by_loyalty_id(session: Session, loyalty_id: str) -> Customer | None:
    vault = vault_of(session)
    return session.scalar(
        select(Customer).where(Customer.loyalty_bidx == vault.id_index("loyalty", loyalty_id))
    )


def loyalty_taken(session: Session, loyalty_id: str) -> bool:
    vault = vault_of(session)
    return (
        session.scalar(
            select(Customer.id).where(
                Customer.loyalty_bidx == vault.id_index("loyalty", loyalty_id)
            )
        )
        is not None
    )


def by_external_id(session: Session, system: str, external_id: str) -> Customer | None:
    vault = vault_of(session)
    return session.scalar(
        select(Customer)
        .join(CustomerExternalId, CustomerExternalId.customer_id == Customer.id)
        .where(
            CustomerExternalId.system == system,
            CustomerExternalId.external_bidx == vault.id_index(f"external:{system}", external_id),
        )
    )
