"""What JDBC/ODBC tools read over Flight SQL, checked against the Flight SQL specification
(FlightSql.proto): every SqlInfo key the server answers carries the value type the spec gives
it (and the identifier-case values say what DataFusion does), XDBC type info, empty key
metadata instead of "unimplemented", and strings as Utf8 — never views, large strings or
dictionaries — in schemas and data. Arguments: FLIGHT_URL HTTP_URL TOKEN.
"""

import pyarrow as pa
import pyarrow.flight as fl
from flightsql import flightsql_pb2 as sql
from google.protobuf import any_pb2

import adbc_driver_flightsql.dbapi as flight_sql

from common import args, check

flight, http_url, token = args()

# The union member of each SqlInfo key's value, from the spec's comments.
STRING, BOOL, INT64, INT32, STRING_LIST, MAP = (
    "string_value", "bool_value", "bigint_value", "int32_bitmask", "string_list", "int32_to_int32_list_map")
SPEC = {
    0: STRING, 1: STRING, 2: STRING, 3: BOOL, 4: BOOL, 5: BOOL, 6: STRING, 7: STRING, 8: INT32, 9: BOOL,
    10: BOOL, 11: BOOL, 100: INT32, 101: INT32,
    500: BOOL, 501: BOOL, 502: BOOL, 503: INT32, 504: STRING, 505: INT32, 506: BOOL, 507: INT32,
    508: STRING_LIST, 509: STRING_LIST, 510: STRING_LIST, 511: STRING_LIST, 512: STRING_LIST,
    513: STRING, 514: STRING, 515: BOOL, 516: BOOL, 517: MAP, 518: BOOL, 519: BOOL, 520: BOOL, 521: BOOL,
    522: INT32, 523: BOOL, 524: BOOL, 525: INT32, 526: INT32, 527: BOOL, 528: INT32, 529: STRING,
    530: STRING, 531: STRING, 532: BOOL, 533: INT32, 534: INT32, 535: INT32, 536: BOOL, 537: BOOL,
    538: INT32, 539: BOOL, 540: INT32,
    **{k: INT64 for k in range(541, 556)}, 556: BOOL, **{k: INT64 for k in range(557, 562)},
    562: INT32, 563: BOOL, 564: INT32, 565: BOOL, 566: BOOL, **{k: INT32 for k in range(567, 572)},
    572: BOOL, 573: BOOL, 574: BOOL, 575: BOOL, 576: BOOL,
}
# SqlSupportedCaseSensitivity: unquoted identifiers are folded to lower case; quoted ones keep
# their case (the spec's CASE_INSENSITIVE stands for mixed case, as its JDBC adapter maps it).
LOWERCASE, MIXED = 3, 1
EXPECTED = {0: "dyntag", 503: LOWERCASE, 504: '"', 505: MIXED, 8: 0, 563: False, 500: False, 501: False,
            502: False, 529: "dataset"}


def packed(msg):
    a = any_pb2.Any()
    a.Pack(msg)
    return a.SerializeToString()


c = fl.FlightClient(flight)
opts = fl.FlightCallOptions(headers=[c.authenticate_basic_token("admin", token)])


def fetch(msg):
    info = c.get_flight_info(fl.FlightDescriptor.for_command(packed(msg)), opts)
    return c.do_get(info.endpoints[0].ticket, opts).read_all(), info


infos, _ = fetch(sql.CommandGetSqlInfo())
check(infos.num_rows >= 50, f"SqlInfo answers {infos.num_rows} keys")
union = infos.schema.field("value").type
members = {union.type_codes[i]: union[i].name for i in range(union.num_fields)}
values = infos.column("value").combine_chunks()
for row, key in enumerate(infos.column("info_name").to_pylist()):
    check(key in SPEC, f"SqlInfo {key} is a key of the spec")
    member = members[values.type_codes[row].as_py()]
    check(member == SPEC[key], f"SqlInfo {key} is a {SPEC[key]} (got {member})")
    if key in EXPECTED:
        got = values[row].as_py()
        check(got == EXPECTED[key], f"SqlInfo {key} = {EXPECTED[key]!r} (got {got!r})")
answered = dict(zip(infos.column("info_name").to_pylist(), range(infos.num_rows)))
keywords = values[answered[508]].as_py()
check({"SELECT", "TAG", "PUBLISH"} <= set(keywords), "keywords include SQL's and dyntag's")
numeric, strings, system = (values[answered[k]].as_py() for k in (509, 510, 511))
check("abs" in numeric and "upper" in strings and "dt_score" in system, "functions by kind")

types, _ = fetch(sql.CommandGetXdbcTypeInfo())
names = types.column("type_name").to_pylist()
check({"VARCHAR", "BIGINT", "DOUBLE", "BOOLEAN", "TIMESTAMP"} <= set(names), f"XDBC types {names}")
varchar, _ = fetch(sql.CommandGetXdbcTypeInfo(data_type=12))
check(varchar.column("type_name").to_pylist() == ["VARCHAR"], "XDBC type info filtered by type")

for what, msg in [
    ("primary keys", sql.CommandGetPrimaryKeys(db_schema="demo", table="coactive_table")),
    ("imported keys", sql.CommandGetImportedKeys(db_schema="demo", table="coactive_table")),
    ("exported keys", sql.CommandGetExportedKeys(db_schema="demo", table="coactive_table")),
    ("cross reference", sql.CommandGetCrossReference(pk_table="coactive_table", fk_table="dt_subjects_visual")),
]:
    keys, info = fetch(msg)
    check(keys.num_rows == 0 and info.schema.names[:2] and keys.schema == info.schema,
          f"{what}: answered, empty, with the spec's columns {info.schema.names[:4]}")

# Strings are Utf8 whatever DataFusion made of them.
conn = flight_sql.connect(flight, db_kwargs={"username": "admin", "password": token}, autocommit=True)
cur = conn.cursor()
cur.execute("SELECT arrow_cast('a', 'Utf8View') AS view, arrow_cast('b', 'LargeUtf8') AS large, "
            "arrow_cast('c', 'Dictionary(Int32, Utf8)') AS dict, arrow_cast(x'00ff', 'BinaryView') AS bytes")
t = cur.fetch_arrow_table()
check([f.type for f in t.schema] == [pa.string(), pa.string(), pa.string(), pa.binary()],
      f"views, large strings and dictionaries arrive as Utf8/Binary: {t.schema}")
check(t.to_pylist() == [{"view": "a", "large": "b", "dict": "c", "bytes": b"\x00\xff"}], "with their values")
_, info = fetch(sql.CommandStatementQuery(query="SELECT arrow_cast(tag_name, 'Utf8View') AS t FROM dt_subjects_visual LIMIT 1"))
check(info.schema.field("t").type == pa.string(), "and so in the FlightInfo schema")
tables, _ = fetch(sql.CommandGetTables(db_schema_filter_pattern="demo", include_schema=True))
for name, blob in zip(tables.column("table_name").to_pylist(), tables.column("table_schema").to_pylist()):
    schema = pa.ipc.read_schema(pa.py_buffer(blob))
    bad = [f.name for f in schema if f.type in (pa.string_view(), pa.large_string(), pa.binary_view())]
    check(not bad, f"{name}: no string views in its schema")
print("flight sql info: all checks passed")
