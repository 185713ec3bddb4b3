"""Finding customers without plaintext: every lookup goes through the blind indexes (issue 18).

* e-mail: exact, normalised (trimmed, case-folded), for a query with an ``@``;
* loyalty id / external id: exact, spaces dropped, case-folded;
* name: every word of the query is a prefix (2..16 characters) of a word of the name or
  preferred name (``obam`` finds Barack Obama, ``bar ob`` too; ``rack`` does not).

No substring search: the database holds only keyed digests of these values.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import ColumnElement, Select, exists, select, union_all
from sqlalchemy.orm import Session, aliased

from consent.fields import query_words
from server.db.membership import Customer, CustomerExternalId, CustomerSearchTerm, ProfileKey
from server.db.sealed import OPEN_LAZILY, UnreadableField, cache_wrapped_keys, vault_of


def matches(session: Session, q: str) -> ColumnElement[bool]:
    """A condition on ``Customer`` true for customers whose loyalty id is ``q`` and, for a
    query with an ``@``, whose e-mail is ``q``; otherwise whose name words start with every
    word of ``q``."""
    vault = vault_of(session)
    # One ``id IN (… UNION ALL …)``, each part read from its own index: an OR of the parts made
    # PostgreSQL scan every customer (100k, bench/search.py: name search p95 111 ms, 83 this way)
    parts: list[Select[str]] = [
        select(Customer.id).where(Customer.loyalty_bidx == vault.id_index("loyalty", q))
    ]
    if "@" in q:
        parts.append(select(Customer.id).where(Customer.email_bidx == vault.email_index(q)))
    else:
        words = sorted(query_words(q), key=len, reverse=True)
        if words:
            parts.append(_all_words(vault.term_index, words))
    return Customer.id.in_(union_all(*parts))


MAX_RANKED = 1000
"""Matches a search ranks at most (see :func:`search_page`)."""


def search_page(session: Session, q: str, *, store_id: int | None, limit: int) -> list[Customer]:
    """The ``limit`` most recently seen customers that ``q`` matches (:func:`matches`; with
    ``store_id``, of that home store only; of the first ``MAX_RANKED`` matches), sorted by
    name.

    Ranked in the database, before anything is opened: it cannot order ciphertext by name, and
    opening every match to sort them (up to 200, every field) was most of a name search's time
    (bench/search.py, 100k customers). One query returns the page with its wrapped profile keys,
    loaded closed (``OPEN_LAZILY``): only the page's fields are ever opened, each when read. A
    customer whose key is gone (a restored backup past its epoch) cannot be shown and is left
    out."""
    found = select(Customer.id, Customer.last_interaction_at).where(matches(session, q))
    if store_id is not None:
        found = found.where(Customer.home_store_id == store_id)
    # Ranking reads every match's row; a 2-letter query matches thousands (4570 of 100k in
    # bench/search.py's names: 43-71 ms on PostgreSQL, 83 on SQLite, and ten times that at 1M),
    # so at most MAX_RANKED are ranked, the first the index returns: type more to narrow.
    pool = found.limit(MAX_RANKED).subquery()
    page_ids = (
        select(pool.c.id)
        .order_by(pool.c.last_interaction_at.desc(), pool.c.id)
        .limit(limit)
        .subquery()
    )
    stmt = (
        select(Customer, ProfileKey.wrapped_dek)
        .join(page_ids, page_ids.c.id == Customer.id)
        .outerjoin(ProfileKey, ProfileKey.customer_id == Customer.id)
        .execution_options(**{OPEN_LAZILY: True})
    )
    rows = session.execute(stmt).all()
    cache_wrapped_keys(session, {c.id: wrapped for c, wrapped in rows})
    page: list[tuple[str, str, Customer]] = []
    for customer, _ in rows:
        try:
            page.append((customer.name.casefold(), customer.id, customer))
        except UnreadableField:
            continue
    page.sort(key=lambda r: (r[0], r[1]))
    return [customer for _, _, customer in page]


def _all_words(index: Callable[[str], bytes], words: list[str]) -> Select[str]:
    """Customers with every word: read from the longest word's term (likely the rarest) and
    check the others on the primary key (term, customer)."""
    first = aliased(CustomerSearchTerm)
    stmt = select(first.customer_id).where(first.term == index(words[0]))
    for word in words[1:]:
        other = aliased(CustomerSearchTerm)
        stmt = stmt.where(
            exists().where(other.term == index(word), other.customer_id == first.customer_id)
        )
    return stmt


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
