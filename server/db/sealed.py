"""Personal fields that reach the database only as ciphertext (issue 18, privacy invariant 14).

A model declares a sealed field next to the binary column that stores it::

    name_sealed: Mapped[bytes] = mapped_column("name", LargeBinary)
    name = SealedField[str]("name_sealed", owner="id")

Code reads and writes ``customer.name`` as text; the column only ever holds
``consent.fields.seal_field`` output under the customer's *profile* data key (``profile_keys``),
bound to table, column, row id and customer id. The ORM does the work, one way for every table:

* writing: the field keeps the text in memory; ``before_flush`` seals it (a new row whose
  integer id the database assigns is inserted with an empty value and sealed right after its
  INSERT, once the id exists: the text is never sent to the database);
* reading: every ORM query that loads a sealed model opens the fields of the rows it returned,
  fetching the keys it needs in one query (``do_orm_execute``); the unwrapped keys are cached in
  ``Session.info`` for the life of the session (one request), never longer. A query with the
  :data:`OPEN_LAZILY` option leaves each field closed until it is read.
* the customer's blind indexes (``email_bidx``, ``loyalty_bidx``, ``customer_search_terms``)
  and ``customer_external_ids.external_bidx`` follow every change.

Core statements (``select(Customer.name_sealed)``, bulk inserts) see ciphertext; they use
:func:`open_value` / :func:`seal_value`. A value that does not start with the sealed-field
marker is legacy plaintext from before migration 0007, readable until
``vertrouwd keys encrypt-fields`` has sealed it.

Why a profile key separate from ``customer_keys``: that key protects the face templates and is
destroyed when a consent is withdrawn or expires (Art. 7(3)); the profile of a customer outlives
a withdrawal (re-enrolment, purchase history) and ends only with erasure, which deletes its key.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Self, TypeVar, overload

from sqlalchemy import Row, Table, delete, event, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import (
    Mapper,
    ORMExecuteState,
    Session,
    UOWTransaction,
    attributes,
    object_session,
)

from consent.envelope import new_data_key
from consent.errors import InvalidSeal
from consent.fields import (
    blind_index,
    is_sealed_field,
    name_terms,
    normalise_email,
    normalise_id,
    open_field,
    seal_field,
)
from consent.keys import KeyProvider, LocalKeyFileProvider, load_or_create_secret

T = TypeVar("T", str, str | None)

VAULT = "vertrouwd.field_vault"
_DEKS = "vertrouwd.profile_deks"
_TERMS = "vertrouwd.search_terms"
_PENDING = "_vt_pending"  # field -> text set since the last flush
_OPENED = "_vt_opened"  # field -> (the stored bytes, their text)
_DEFERRED = "_vt_deferred"  # field -> text, sealed after the INSERT gave the row its id
_PLACEHOLDER = b""

OPEN_LAZILY = "vertrouwd_open_lazily"
"""An execution option: the rows a query loads are not opened at once, each field on its first
read (a search loads many candidates but shows few of their fields)."""


class UnreadableField(InvalidSeal):
    """A sealed field whose key is gone (erased customer, destroyed epoch) or does not open it.
    ``why`` is for the programmer; like ``InvalidSeal`` the message says nothing."""

    def __init__(self, why: str) -> None:
        super().__init__()
        self.why = why


@dataclass(frozen=True)
class FieldVault:
    """The KEK that wraps profile keys and the blind-index key; one per server process."""

    kek: KeyProvider
    index_key: bytes

    def email_index(self, email: str) -> bytes:
        return blind_index(self.index_key, "email", normalise_email(email))

    def id_index(self, kind: str, value: str) -> bytes:
        return blind_index(self.index_key, kind, normalise_id(value))

    def term_index(self, term: str) -> bytes:
        return blind_index(self.index_key, "name", term)


def local_vault(key_dir: Path) -> FieldVault:
    """A vault from the local keyring and blind-index key files in ``key_dir`` (created 0600 on
    first use): for tools, benches and tests that open a database without a server."""
    return FieldVault(
        kek=LocalKeyFileProvider(key_dir / "kek.json"),
        index_key=load_or_create_secret(key_dir / "blind-index.key"),
    )


def profile_key_context(customer_id: str) -> bytes:
    """The wrap context of a profile key (never the template key's: they cannot be swapped)."""
    return b"profile:" + customer_id.encode()


def vault_of(session: Session) -> FieldVault:
    vault = session.info.get(VAULT)
    if not isinstance(vault, FieldVault):
        raise RuntimeError(
            "this session has no field vault: make it with make_session_factory(engine, vault=...)"
        )
    return vault


class SealedField(Generic[T]):
    """A text attribute stored sealed in ``column_attr`` (see the module docstring). ``owner``
    names the attribute holding the customer id (``id`` on ``Customer``)."""

    def __init__(
        self, column_attr: str, *, owner: str = "customer_id", ownerless_plain: bool = False
    ) -> None:
        self.column_attr = column_attr
        self.owner = owner
        self.ownerless_plain = ownerless_plain
        """a row whose owner is NULL (an incident after erasure anonymised it) belongs to no
        customer: its text is kept as it is, there is no key to seal it under"""
        self.name = ""

    def __set_name__(self, cls: type, name: str) -> None:
        self.name = name
        _SEALED.setdefault(cls, {})[name] = self

    @overload
    def __get__(self, obj: None, cls: type) -> Self: ...
    @overload
    def __get__(self, obj: object, cls: type) -> T: ...
    def __get__(self, obj: object | None, cls: type) -> Self | T:
        if obj is None:
            return self
        pending = obj.__dict__.get(_PENDING, {})
        if self.name in pending:
            return pending[self.name]  # type: ignore[no-any-return]
        deferred = obj.__dict__.get(_DEFERRED, {})
        if self.name in deferred:
            return deferred[self.name]  # type: ignore[no-any-return]
        raw = getattr(obj, self.column_attr)
        opened = obj.__dict__.get(_OPENED, {}).get(self.name)
        if opened is not None and opened[0] is raw:
            return opened[1]  # type: ignore[no-any-return]
        session = object_session(obj)
        if session is None and raw is not None and _is_sealed(raw):
            raise UnreadableField("a sealed field is read outside its session")
        text: T = _open_attr(session, obj, self, raw)
        obj.__dict__.setdefault(_OPENED, {})[self.name] = (raw, text)
        return text

    __hash__ = object.__hash__

    def __eq__(self, other: object) -> bool:
        # ``Customer.email == x`` in a query would silently be ``False``: say why instead
        raise TypeError(
            f"{self.name} is sealed: compare its blind index (server.services.membership.lookup)"
        )

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __set__(self, obj: object, value: T) -> None:
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{self.name} takes text")
        obj.__dict__.setdefault(_PENDING, {})[self.name] = value
        obj.__dict__.get(_DEFERRED, {}).pop(self.name, None)
        # mark the row dirty; before_flush replaces the marker with the ciphertext
        setattr(obj, self.column_attr, _PLACEHOLDER if value is not None else None)


_SEALED: dict[type, dict[str, SealedField[Any]]] = {}


def sealed_columns(cls: type) -> dict[str, SealedField[Any]]:
    """The sealed fields of a model: field name (= its database column) -> field."""
    return dict(_SEALED.get(cls, {}))


def _is_sealed(raw: object) -> bool:
    return isinstance(raw, bytes | memoryview) and is_sealed_field(bytes(raw))


def _legacy_text(raw: object) -> str:
    if isinstance(raw, str):
        return raw  # SQLite keeps a pre-0007 TEXT value as text
    return bytes(raw).decode("utf-8")  # type: ignore[call-overload, no-any-return]


def _owner_id(obj: object, field: SealedField[Any]) -> str:
    cid = getattr(obj, field.owner)
    if not cid:
        raise ValueError(f"{type(obj).__name__}.{field.name} needs {field.owner} to seal it")
    return str(cid)


def _table_name(obj: object) -> str:
    return str(obj.__table__.name)  # type: ignore[attr-defined]


# -- keys ---------------------------------------------------------------------------------------


def _cache(session: Session) -> dict[str, bytes | None]:
    cache: dict[str, bytes | None] = session.info.setdefault(_DEKS, {})
    return cache


def prefetch_keys(session: Session, customer_ids: Iterable[str]) -> None:
    """Unwrap the profile keys of ``customer_ids`` not cached yet, in one query."""
    from server.db.membership import ProfileKey

    cache = _cache(session)
    missing = sorted({c for c in customer_ids if c and c not in cache})
    if not missing:
        return
    with session.no_autoflush:
        for i in range(0, len(missing), 500):
            chunk = missing[i : i + 500]
            found: dict[str, bytes] = {
                row.customer_id: row.wrapped_dek
                for row in session.execute(
                    select(ProfileKey.customer_id, ProfileKey.wrapped_dek).where(
                        ProfileKey.customer_id.in_(chunk)
                    )
                )
            }
            cache_wrapped_keys(session, {cid: found.get(cid) for cid in chunk})


def cache_wrapped_keys(session: Session, wrapped: dict[str, bytes | None]) -> None:
    """Unwrap and cache profile keys a caller has already read (``profile_keys.wrapped_dek``
    by customer id; None where the customer has none), as :func:`prefetch_keys` would: the
    arrival hot path reads them in its member query instead of a query of their own. Keys
    already cached are kept."""
    cache = _cache(session)
    vault: FieldVault | None = None
    for cid, blob in wrapped.items():
        if not cid or cid in cache:
            continue
        if blob is None:
            cache[cid] = None
            continue
        vault = vault or vault_of(session)
        try:
            cache[cid] = vault.kek.unwrap(blob, context=profile_key_context(cid))
        except InvalidSeal:
            cache[cid] = None  # its epoch's KEK is destroyed (a restored backup)


def _key(session: Session, customer_id: str, *, create: bool) -> bytes | None:
    from server.db.membership import ProfileKey

    cache = _cache(session)
    if customer_id not in cache or (create and cache[customer_id] is None):
        cache.pop(customer_id, None)
        prefetch_keys(session, [customer_id])
    dek = cache.get(customer_id)
    if dek is None and create:
        for obj in session.new:  # added earlier in this flush
            if isinstance(obj, ProfileKey) and obj.customer_id == customer_id:
                raise RuntimeError("profile key pending but not cached")  # pragma: no cover
        vault = vault_of(session)
        dek = new_data_key()
        session.add(
            ProfileKey(
                customer_id=customer_id,
                wrapped_dek=vault.kek.wrap(dek, context=profile_key_context(customer_id)),
                kek_id=vault.kek.key_id,
            )
        )
        cache[customer_id] = dek
    return dek


def forget_key(session: Session, customer_id: str) -> None:
    """Drop a customer's cached key (erasure deleted it)."""
    _cache(session)[customer_id] = None


# -- values -------------------------------------------------------------------------------------


def seal_value(
    session: Session, *, table: str, column: str, row_id: str, customer_id: str, text: str
) -> bytes:
    """Seal one value for a Core statement (bulk paths); creates the profile key if needed."""
    dek = _key(session, customer_id, create=True)
    assert dek is not None
    return seal_field(dek, text, table=table, column=column, row_id=row_id, customer_id=customer_id)


def open_value(
    session: Session | None,
    *,
    table: str,
    column: str,
    row_id: str,
    customer_id: str,
    raw: object,
) -> str | None:
    """Open a value a Core query returned (``None`` stays ``None``; legacy text passes)."""
    if raw is None:
        return None
    if not _is_sealed(raw):
        return _legacy_text(raw)
    if session is None:
        raise UnreadableField("a sealed field is read outside a session")
    dek = _key(session, customer_id, create=False)
    if dek is None:
        raise UnreadableField("this customer's profile key is gone")
    try:
        return open_field(
            dek,
            bytes(raw),  # type: ignore[call-overload]
            table=table,
            column=column,
            row_id=row_id,
            customer_id=customer_id,
        )
    except InvalidSeal:
        raise UnreadableField("a sealed field does not open here") from None


def _open_attr(session: Session | None, obj: object, field: SealedField[Any], raw: object) -> Any:
    if raw is None or not _is_sealed(raw):  # NULL, legacy or ownerless text: no key needed
        return None if raw is None else _legacy_text(raw)
    return open_value(
        session,
        table=_table_name(obj),
        column=field.name,
        row_id=str(obj.id),  # type: ignore[attr-defined]
        customer_id=_owner_id(obj, field),
        raw=raw,
    )


def open_rows(session: Session, objs: Iterable[object]) -> None:
    """Open every sealed field of ``objs`` now (keys fetched in one query), so they stay
    readable after the session ends. Rows whose key is gone stay closed (reading raises)."""
    todo = [o for o in objs if type(o) in _SEALED]
    if not todo:
        return
    prefetch_keys(
        session,
        (
            _owner_id(o, f)
            for o in todo
            for f in _SEALED[type(o)].values()
            if getattr(o, f.owner, None)
        ),
    )
    for obj in todo:
        for field in _SEALED[type(obj)].values():
            with contextlib.suppress(UnreadableField):
                field.__get__(obj, type(obj))


# -- events -------------------------------------------------------------------------------------


def _entities(data: Iterable[Any]) -> Iterator[object]:
    for row in data:  # a row of a result, or one object of a scalars() result
        if type(row) in _SEALED:
            yield row
        elif isinstance(row, Row | tuple):
            yield from row


@event.listens_for(Session, "do_orm_execute")
def _open_loaded(state: ORMExecuteState) -> Any:
    if not state.is_select or not any(m.class_ in _SEALED for m in state.all_mappers):
        return None
    opts = state.execution_options
    if opts.get("yield_per") or opts.get("stream_results") or opts.get(OPEN_LAZILY):
        return None  # streamed, or asked for: fields open on first read
    if VAULT not in state.session.info:
        return None  # reading raises on the first sealed value
    frozen = state.invoke_statement().freeze()
    open_rows(state.session, _entities(frozen.data))
    return frozen()


@event.listens_for(Session, "before_flush")
def _seal_pending(session: Session, _ctx: UOWTransaction, _instances: object) -> None:
    from server.db.membership import Customer

    for obj in [*session.new, *session.dirty]:
        fields = _SEALED.get(type(obj))
        pending: dict[str, str | None] | None = obj.__dict__.get(_PENDING)
        if not fields or not pending:
            continue
        vault = vault_of(session)
        for name, text in list(pending.items()):
            field = fields[name]
            if text is None:
                setattr(obj, field.column_attr, None)
                obj.__dict__.setdefault(_OPENED, {})[name] = (None, None)
                continue
            if field.ownerless_plain and not getattr(obj, field.owner, None):
                plain = text.encode("utf-8")
                setattr(obj, field.column_attr, plain)
                obj.__dict__.setdefault(_OPENED, {})[name] = (plain, text)
                continue
            cid = _owner_id(obj, field)
            dek = _key(session, cid, create=True)
            assert dek is not None
            row_id = getattr(obj, "id", None)
            if row_id is None:  # the database assigns it: seal right after the INSERT
                obj.__dict__.setdefault(_DEFERRED, {})[name] = text
                setattr(obj, field.column_attr, _PLACEHOLDER)
                continue
            sealed = seal_field(
                dek, text, table=_table_name(obj), column=name, row_id=str(row_id), customer_id=cid
            )
            setattr(obj, field.column_attr, sealed)
            obj.__dict__.setdefault(_OPENED, {})[name] = (sealed, text)
        if isinstance(obj, Customer):
            _index_customer(session, vault, obj, set(pending))
        elif _table_name(obj) == "customer_external_ids" and "external_id" in pending:
            value = pending["external_id"]
            obj.external_bidx = vault.id_index(f"external:{obj.system}", value) if value else None
        obj.__dict__.pop(_PENDING, None)


def _index_customer(session: Session, vault: FieldVault, customer: Any, changed: set[str]) -> None:
    if "email" in changed:
        email = customer.__dict__[_PENDING]["email"]
        customer.email_bidx = vault.email_index(email) if email else None
    if "loyalty_id" in changed:
        loyalty = customer.__dict__[_PENDING]["loyalty_id"]
        customer.loyalty_bidx = vault.id_index("loyalty", loyalty) if loyalty else None
    if changed & {"name", "preferred_name"}:
        terms = {vault.term_index(t) for t in name_terms(customer.name, customer.preferred_name)}
        session.info.setdefault(_TERMS, {})[customer.id] = terms


def _seal_after_insert(_mapper: Mapper[Any], connection: Connection, obj: Any) -> None:
    deferred: dict[str, str] | None = obj.__dict__.pop(_DEFERRED, None)
    if not deferred:
        return
    session = object_session(obj)
    assert session is not None
    table: Table = obj.__table__
    values: dict[str, bytes] = {}
    for name, text in deferred.items():
        field = _SEALED[type(obj)][name]
        cid = _owner_id(obj, field)
        dek = _cache(session).get(cid)
        assert dek is not None, "the key was fetched in before_flush"
        sealed = seal_field(
            dek, text, table=table.name, column=name, row_id=str(obj.id), customer_id=cid
        )
        values[name] = sealed
        attributes.set_committed_value(obj, field.column_attr, sealed)
        obj.__dict__.setdefault(_OPENED, {})[name] = (sealed, text)
    connection.execute(update(table).where(table.c.id == obj.id).values(values))


@event.listens_for(Session, "after_flush")
def _write_terms(session: Session, _ctx: UOWTransaction) -> None:
    from server.db.membership import CustomerSearchTerm

    pending: dict[str, set[bytes]] | None = session.info.pop(_TERMS, None)
    if not pending:
        return
    table: Table = CustomerSearchTerm.__table__  # type: ignore[assignment]
    conn = session.connection()
    for cid, terms in pending.items():
        conn.execute(delete(table).where(table.c.customer_id == cid))
        if terms:
            conn.execute(insert(table), [{"customer_id": cid, "term": t} for t in sorted(terms)])


def install(base: type) -> None:
    """Seal rows of every model under ``base`` whose id the INSERT assigns."""
    event.listen(base, "after_insert", _seal_after_insert, propagate=True)
