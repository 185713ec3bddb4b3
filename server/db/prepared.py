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

Only SELECTs and UPDATE/DELETEs whose parameters are all named ``bindparam``s (no INSERT, whose
columns SQLAlchemy picks from each call's parameters), on the positional (SQLite) and named
(psycopg) parameter styles.
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


class Prepared:
    """One statement, compiled once per dialect; :meth:`rows` runs it."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._forms: dict[str, _Form] = {}

    def rows(self, db: Connection, params: Mapping[str, Any] | None = None) -> list[Any]:
        """The statement's rows (named tuples: ``row.column`` and unpacking both work); an
        empty list for a statement that returns none."""
        form = self._forms.get(db.dialect.name)
        if form is None:
            form = self._forms[db.dialect.name] = _Form(self.statement, db.dialect)
        return form.run(db, params or {})


Processor = Callable[[Any], Any]


class _Form:
    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        if dialect.paramstyle not in ("qmark", "pyformat"):
            raise NotImplementedError(f"paramstyle {dialect.paramstyle}")
        self.dialect = dialect
        self.compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
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
            columns = list(statement.exported_columns)
            if columns:
                self.row_type = namedtuple(  # type: ignore[misc]
                    "Row", [c.key for c in columns], rename=True
                )
                self.results = [
                    c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
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
