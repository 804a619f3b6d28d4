"""Arrow → SQLAlchemy types for dyntag's results. flightsql-dbapi maps what it does not know
(lists, structs, large or view strings) to BLOB, so an embedding column would read as bytes in
Superset; this fills the gaps and leaves the rest to it. Installed by importing this module
(the engine spec and the dialect do)."""

from __future__ import annotations

import pyarrow as pa
from flightsql import dbapi
from sqlalchemy import types

_original = dbapi.resolve_sql_type


def resolve_sql_type(t: pa.DataType):
    """The SQLAlchemy type of an Arrow type, as the server sends it."""
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return types.ARRAY(resolve_sql_type(t.value_type))
    if pa.types.is_struct(t) or pa.types.is_map(t):
        return types.JSON
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return types.TEXT
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return types.BINARY
    if pa.types.is_dictionary(t):
        return resolve_sql_type(t.value_type)
    return _original(t)


def install() -> None:
    """Makes flightsql-dbapi use these types (its reflection and cursor descriptions)."""
    dbapi.resolve_sql_type = resolve_sql_type


install()
