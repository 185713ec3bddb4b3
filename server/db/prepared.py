"""Core statements run straight on the DB-API cursor: the arrival hot path's prepared statements.

SQLAlchemy's ``Connection.execute`` costs about a tenth of a millisecond of Python per statement
beyond what the database itself spends (execution context, expanding ``IN`` lists re-rendered on
every call, result metadata, events), several times what SQLite needs to run the arrival's
small indexed statements. :class:`Prepared` keeps SQLAlchemy for what it is good at, the SQL
and the types, and does the per-call work once: the statement is compiled once per dialect,
the SQL for each combination of ``IN``-list lengths is rendered once, and each call only
converts its parameters with the columns' own bind processors, runs the cursor, and converts
the rows with the columns' own result processors (a ``UTCDateTime`` comes back aware, a JSON
column as its value: what ``Connection.execute`` returns).

It runs on the connection's current transaction (the caller's ``BEGIN``), and a driver error
is raised as SQLAlchemy raises it (``sqlalchemy.exc.OperationalError`` for a database that went
away, the connection invalidated), so callers handle errors as before. No
``before_cursor_execute`` events fire for these statements.

An INSERT takes its rows through :meth:`Prepared.insert`: one multi-row ``VALUES`` statement a
page of rows (as SQLAlchemy's "insertmanyvalues" sends them), compiled for the columns the rows
give; a column the rows leave to a Python-side default is refused (nothing here computes it).
Positional (SQLite) and named (psycopg) parameter styles.
"""

from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ReturnsRows

_EXPANDING = re.compile(r"__\[POSTCOMPILE_(\w+)\]")
_MAX_SHAPES = 256  # rendered SQL kept per statement and dialect (IN-list length combinations)
_PAGE = 500  # rows per multi-row INSERT (SQLite allows 32,766 parameters a statement)
_NAMED = re.compile(r"%\((\w+)\)s")


class Prepared:
    """One statement, compiled once per dialect; :meth:`rows` runs it."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._forms: dict[str, _Form] = {}
        self._inserts: dict[tuple[str, tuple[str, ...]], _Insert] = {}

    def rows(self, db: Connection, params: Mapping[str, Any] | None = None) -> list[Any]:
        """The statement's rows (named tuples: ``row.column`` and unpacking both work); an
        empty list for a statement that returns none."""
        form = self._forms.get(db.dialect.name)
        if form is None:
            form = self._forms[db.dialect.name] = _Form(self.statement, db.dialect)
        return form.run(db, params or {})

    def insert(self, db: Connection, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Run an INSERT for ``rows`` (each giving the same columns); the RETURNING rows of
        all of them (in no promised order, as with SQLAlchemy's own multi-row INSERT)."""
        if not rows:
            return []
        columns = tuple(rows[0])
        key = (db.dialect.name, columns)
        form = self._inserts.get(key)
        if form is None:
            form = self._inserts[key] = _Insert(self.statement, db.dialect, columns)
        out: list[Any] = []
        for start in range(0, len(rows), _PAGE):
            out.extend(form.run_rows(db, rows[start : start + _PAGE]))
        return out


Processor = Callable[[Any], Any]


class _Form:
    def __init__(
        self, statement: ClauseElement, dialect: Dialect, columns: Sequence[str] | None = None
    ) -> None:
        if dialect.paramstyle not in ("qmark", "pyformat"):
            raise NotImplementedError(f"paramstyle {dialect.paramstyle}")
        self.dialect = dialect
        self.compiled = cast(SQLCompiler, statement.compile(dialect=dialect, column_keys=columns))
        self.sql = self.compiled.string
        self.positional = dialect.paramstyle == "qmark"
        self.order: Sequence[str] = list(self.compiled.positiontup or ())
        self.expanding: list[str] = list(dict.fromkeys(_EXPANDING.findall(self.sql)))
        self.binds: dict[str, Processor | None] = {}
        for bind, name in self.compiled.bind_names.items():
            self.binds[name] = bind.type.dialect_impl(dialect).bind_processor(dialect)
        self.shapes: dict[tuple[int, ...], str] = {}
        self.row_type: Any = None
        self.results: list[Processor | None] = []
        if isinstance(statement, ReturnsRows):
            exported = list(statement.exported_columns)
            if exported:
                self.row_type = namedtuple(  # type: ignore[misc]
                    "Row", [c.key for c in exported], rename=True
                )
                self.results = [
                    c.type.dialect_impl(dialect).result_processor(dialect, None) for c in exported
                ]

    def _sql(self, lengths: tuple[int, ...]) -> str:
        sql = self.shapes.get(lengths)
        if sql is not None:
            return sql
        n = dict(zip(self.expanding, lengths, strict=True))

        def placeholders(m: re.Match[str]) -> str:
            name = m.group(1)
            if not n[name]:
                raise ValueError(f"empty IN list for {name}")
            if self.positional:
                return ", ".join("?" * n[name])
            return ", ".join(f"%({name}__{i})s" for i in range(n[name]))

        sql = _EXPANDING.sub(placeholders, self.sql)
        if len(self.shapes) < _MAX_SHAPES:
            self.shapes[lengths] = sql
        return sql

    def _value(self, name: str, value: Any) -> Any:
        process = self.binds.get(name)
        return value if process is None else process(value)

    def run(self, db: Connection, params: Mapping[str, Any]) -> list[Any]:
        values = self.compiled.construct_params(params)  # literals and defaults included
        assert values is not None
        lists = {name: list(values[name]) for name in self.expanding}
        sql = self._sql(tuple(len(v) for v in lists.values()))
        args: list[Any] | dict[str, Any]
        if self.positional:
            args = []
            for name in self.order:
                if name in lists:
                    args.extend(self._value(name, v) for v in lists[name])
                else:
                    args.append(self._value(name, values[name]))
        else:
            args = {
                name: self._value(name, value)
                for name, value in values.items()
                if name not in lists
            }
            for name, items in lists.items():
                for i, v in enumerate(items):
                    args[f"{name}__{i}"] = self._value(name, v)
        return self._execute(db, sql, args)

    def _execute(self, db: Connection, sql: str, args: list[Any] | dict[str, Any]) -> list[Any]:
        raw = db.connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        try:
            try:
                cursor.execute(sql, args)
                fetched = cursor.fetchall() if cursor.description is not None else []
            except self.dialect.loaded_dbapi.Error as exc:
                if self.dialect.is_disconnect(exc, raw, cursor):
                    db.invalidate(exc)
                raise DBAPIError.instance(
                    sql, args, exc, self.dialect.loaded_dbapi.Error, dialect=self.dialect
                ) from exc
        finally:
            cursor.close()
        if self.row_type is None:
            return []
        make = self.row_type._make
        results = self.results
        if not any(results):
            return [make(r) for r in fetched]
        return [
            make([v if p is None else p(v) for p, v in zip(results, r, strict=True)])
            for r in fetched
        ]


class _Insert(_Form):
    """An INSERT compiled for ``columns``; each call renders its rows as one ``VALUES`` list."""

    def __init__(self, statement: ClauseElement, dialect: Dialect, columns: Sequence[str]) -> None:
        super().__init__(statement, dialect, columns)
        if self.compiled.insert_prefetch or self.expanding:
            raise NotImplementedError("an INSERT whose rows leave a Python-side default")
        start = self.sql.index(" VALUES (") + len(" VALUES ")
        depth, end = 0, start
        for end in range(start, len(self.sql)):
            depth += {"(": 1, ")": -1}.get(self.sql[end], 0)
            if depth == 0:
                break
        self.head, self.group, self.tail = (
            self.sql[:start],
            self.sql[start : end + 1],
            self.sql[end + 1 :],
        )
        self.pages: dict[int, str] = {}

    def _page_sql(self, n: int) -> str:
        sql = self.pages.get(n)
        if sql is None:
            if self.positional:
                groups = [self.group] * n
            else:
                groups = [_NAMED.sub(rf"%(\1__r{i})s", self.group) for i in range(n)]
            sql = self.pages[n] = self.head + ", ".join(groups) + self.tail
        return sql

    def run_rows(self, db: Connection, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        args: list[Any] | dict[str, Any]
        if self.positional:
            args = []
            for row in rows:
                values = self.compiled.construct_params(row)
                assert values is not None
                args.extend(self._value(name, values[name]) for name in self.order)
        else:
            args = {}
            for i, row in enumerate(rows):
                values = self.compiled.construct_params(row)
                assert values is not None
                for name, value in values.items():
                    args[f"{name}__r{i}"] = self._value(name, value)
        return self._execute(db, self._page_sql(len(rows)), args)
