"""The Superset engine spec of dyntag: DataFusion SQL over Arrow Flight SQL, reached through
the `flightsql-dbapi` SQLAlchemy dialect (`datafusion://` or `datafusion+flightsql://`)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Optional

from sqlalchemy import types
from superset.db_engine_specs.base import BaseEngineSpec
from superset.errors import SupersetErrorType
from superset.utils.core import GenericDataType

from . import types as _types  # noqa: F401 - lists as ARRAY, not BLOB (for datafusion:// too)
from .statements import is_dyntag_statement, is_mutating_statement

_EPOCH = "TIMESTAMP '1970-01-01 00:00:00'"


def _bin(interval: str) -> str:
    return f"date_bin(INTERVAL '{interval}', {{col}}, {_EPOCH})"


# The message dyntag sent, out of pyarrow's and gRPC's wrapping of it.
_FLIGHT_MESSAGE = re.compile(r"with message: (?P<message>.*?)(?:\. gRPC client debug context|\. Detail:|$)", re.DOTALL)


class DyntagEngineSpec(BaseEngineSpec):
    """dyntag: natural-language tags as SQL tables over an image and video library."""

    engine = "datafusion"
    engine_name = "dyntag"
    drivers = {"flightsql": "Arrow Flight SQL (flightsql-dbapi)"}
    default_driver = "flightsql"
    sqlalchemy_uri_placeholder = "datafusion+flightsql://user:token@host:50051?insecure=true"
    supports_file_upload = False
    disable_ssh_tunneling = True
    allows_joins = True
    allows_subqueries = True
    allows_alias_in_select = True
    allows_alias_in_orderby = True

    _time_grain_expressions = {
        None: "{col}",
        "PT1S": "date_trunc('second', {col})",
        "PT5S": _bin("5 seconds"),
        "PT30S": _bin("30 seconds"),
        "PT1M": "date_trunc('minute', {col})",
        "PT5M": _bin("5 minutes"),
        "PT10M": _bin("10 minutes"),
        "PT15M": _bin("15 minutes"),
        "PT30M": _bin("30 minutes"),
        "PT1H": "date_trunc('hour', {col})",
        "PT6H": _bin("6 hours"),
        "P1D": "date_trunc('day', {col})",
        "P1W": "date_trunc('week', {col})",
        "P1M": "date_trunc('month', {col})",
        "P3M": "date_trunc('quarter', {col})",
        "P1Y": "date_trunc('year', {col})",
    }

    # The Arrow types dyntag returns, as flightsql-dbapi names them (its reflection maps
    # lists, large strings and structs to BLOB): embeddings are lists of floats.
    column_type_mappings = (
        (re.compile(r"^(blob|binary|varbinary|largebinary|bytea)", re.IGNORECASE), types.LargeBinary(), GenericDataType.STRING),
        (re.compile(r"^(list|largelist|fixedsizelist|array|struct|map)", re.IGNORECASE), types.JSON(), GenericDataType.STRING),
        (re.compile(r"^(utf8|largeutf8|utf8view|string|varchar|text)", re.IGNORECASE), types.String(), GenericDataType.STRING),
        (re.compile(r"^u?int(8|16|32|64)", re.IGNORECASE), types.BigInteger(), GenericDataType.NUMERIC),
        (re.compile(r"^(float(16|32|64)|double|real)", re.IGNORECASE), types.Float(), GenericDataType.NUMERIC),
        (re.compile(r"^bool", re.IGNORECASE), types.Boolean(), GenericDataType.BOOLEAN),
    )

    custom_errors = {
        re.compile(r"permission denied: (?P<message>.*)", re.IGNORECASE): (
            "dyntag refused it: %(message)s",
            SupersetErrorType.DATABASE_SECURITY_ACCESS_ERROR,
            {},
        ),
        re.compile(r"(unauthenticated|invalid or expired token|wrong user name or password)", re.IGNORECASE): (
            "dyntag did not accept the user name and token of this database connection",
            SupersetErrorType.CONNECTION_ACCESS_DENIED_ERROR,
            {},
        ),
        re.compile(r"table '?(?P<table>[\w.]+)'? not found", re.IGNORECASE): (
            'Table "%(table)s" does not exist (or is in a dataset this login does not see)',
            SupersetErrorType.TABLE_DOES_NOT_EXIST_ERROR,
            {},
        ),
        re.compile(r"No field named (?P<column>[\w.\"]+)", re.IGNORECASE): (
            "Column %(column)s does not exist",
            SupersetErrorType.COLUMN_DOES_NOT_EXIST_ERROR,
            {},
        ),
        re.compile(r"SQL syntax error: (?P<message>.*)", re.IGNORECASE): (
            "Syntax error: %(message)s",
            SupersetErrorType.SYNTAX_ERROR,
            {},
        ),
        re.compile(r"(failed to connect|connection refused|unavailable|could not finish writing before closing)", re.IGNORECASE): (
            "Cannot reach dyntag at %(hostname)s:%(port)s: is `dyntag serve` running?",
            SupersetErrorType.CONNECTION_HOST_DOWN_ERROR,
            {},
        ),
    }

    @classmethod
    def convert_dttm(cls, target_type: str, dttm: datetime, db_extra: Optional[dict[str, Any]] = None) -> Optional[str]:
        kind = target_type.upper()
        if kind.startswith("DATE") and not kind.startswith("DATETIME"):
            return f"DATE '{dttm.date().isoformat()}'"
        if kind.startswith("TIMESTAMP") or kind == "DATETIME":
            return f"TIMESTAMP '{dttm.isoformat(sep=' ', timespec='microseconds')}'"
        return None

    @classmethod
    def epoch_to_dttm(cls) -> str:
        return "to_timestamp_seconds({col})"

    @classmethod
    def epoch_ms_to_dttm(cls) -> str:
        return "to_timestamp_millis({col})"

    @classmethod
    def get_datatype(cls, type_code: Any) -> Optional[str]:
        # flightsql-dbapi puts SQLAlchemy type classes in cursor.description (and
        # dyntag_superset.types an ARRAY instance for lists).
        if isinstance(type_code, type) and issubclass(type_code, types.TypeEngine):
            return type_code.__visit_name__.upper()
        if isinstance(type_code, types.TypeEngine):
            return str(type_code)
        return super().get_datatype(type_code)

    @classmethod
    def _extract_error_message(cls, ex: Exception) -> str:
        text = str(ex)
        found = _FLIGHT_MESSAGE.search(text)
        return found.group("message").strip() if found else text

    @classmethod
    def patch(cls) -> None:
        """Superset calls this before SQL Lab parses a statement. Three of its rules, for
        dyntag's statements only:

        - its parser (sqlglot) does not know dyntag's own statements (`PUBLISH TAG GROUP`,
          `LABEL EVALUATION`, …): they are kept whole, as commands;
        - its DML check (sqlglot's) takes dyntag's own statements for opaque commands and
          would let `DROP TAG GROUP` or `CREATE USER` through a database without "Allow DML":
          they count as mutating;
        - its row limit replaces a statement's own `LIMIT` even when that asks for fewer rows:
          the smaller one is kept."""
        from superset.sql import parse

        from sqlglot import exp

        statement = parse.SQLStatement
        if getattr(statement.is_mutating, "_dyntag", False):
            return
        is_mutating_before = statement.is_mutating
        set_limit_before = statement.set_limit_value
        parse_before = statement._parse.__func__

        def parse_script(klass: Any, script: str, engine: str) -> list:
            try:
                return parse_before(klass, script, engine)
            except parse.SupersetParseError:
                text = script.strip().rstrip(";").strip()
                if engine != cls.engine or not is_dyntag_statement(text):
                    raise
                word, _, rest = text.partition(" ")
                return [exp.Command(this=word.upper(), expression=exp.Literal.string(rest.strip()))]

        def is_mutating(self: Any) -> bool:
            if is_mutating_before(self):
                return True
            return self.engine == cls.engine and is_mutating_statement(self.format(comments=False))

        def set_limit_value(self: Any, limit: int, *args: Any, **kwargs: Any) -> None:
            if self.engine == cls.engine:
                own = self.get_limit_value()
                if own is not None and own <= limit:
                    return
            set_limit_before(self, limit, *args, **kwargs)

        is_mutating._dyntag = True  # type: ignore[attr-defined]
        statement.is_mutating = is_mutating
        statement.set_limit_value = set_limit_value
        statement._parse = classmethod(parse_script)
