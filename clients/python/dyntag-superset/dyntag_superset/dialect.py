"""The SQLAlchemy dialect for `datafusion+flightsql://` URIs: flightsql-dbapi's, with dyntag's
types (lists as ARRAY, not BLOB). flightsql-dbapi registers only `datafusion://` by entry point."""

from flightsql.sqlalchemy import DataFusionDialect

from . import types as _types  # noqa: F401 - installs the type mapping


class DyntagDialect(DataFusionDialect):
    """DataFusion over Arrow Flight SQL, as dyntag serves it."""

    supports_statement_cache = True
