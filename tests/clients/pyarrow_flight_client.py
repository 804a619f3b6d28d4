"""pyarrow.flight directly, speaking Flight SQL with its protobuf messages: handshake with
basic credentials, browse, a join, a tag statement as an update, a prepared statement with
a parameter, a bad token, a malformed statement, a query cancelled midway, TLS when given."""

import sys

import pyarrow as pa
import pyarrow.flight as fl
from flightsql import flightsql_pb2 as sql  # the Flight SQL protocol messages
from google.protobuf import any_pb2

from common import ENDLESS, JOIN, args, check, expect_error, wait_until_idle

flight, http_url, token = args()
tls_root = sys.argv[4] if len(sys.argv) > 4 else None


def packed(msg):
    a = any_pb2.Any()
    a.Pack(msg)
    return a.SerializeToString()


def descriptor(msg):
    return fl.FlightDescriptor.for_command(packed(msg))


def client():
    if tls_root:
        return fl.FlightClient(flight, tls_root_certs=open(tls_root, "rb").read())
    return fl.FlightClient(flight)


c = client()
# The handshake: basic credentials in, a bearer token out (as a header).
header = c.authenticate_basic_token("admin", token)
check(header[0] == b"authorization" and header[1].startswith(b"Bearer "), "handshake returns a bearer token")
opts = fl.FlightCallOptions(headers=[header])


def fetch(msg):
    info = c.get_flight_info(descriptor(msg), opts)
    return c.do_get(info.endpoints[0].ticket, opts).read_all(), info


# Browse.
catalogs, _ = fetch(sql.CommandGetCatalogs())
check(catalogs.column("catalog_name").to_pylist() == ["dyntag"], "catalogs")
schemas, _ = fetch(sql.CommandGetDbSchemas())
check("demo" in schemas.column("db_schema_name").to_pylist(), "schemas include demo")
tables, _ = fetch(sql.CommandGetTables(db_schema_filter_pattern="demo", table_name_filter_pattern="dt\\_%",
                                       include_schema=True))
names = tables.column("table_name").to_pylist()
check("dt_subjects_visual" in names and all(n.startswith("dt_") for n in names), f"dt_ tables {names}")
i = names.index("dt_subjects_visual")
schema = pa.ipc.read_schema(pa.py_buffer(tables.column("table_schema")[i].as_py()))
check("score" in schema.names, f"table schema over Flight: {schema.names}")
info_ids = [0, 1, 2, 3]  # server name, version, arrow version, read only
infos, _ = fetch(sql.CommandGetSqlInfo(info=info_ids))
check(infos.num_rows == 4, "SqlInfo")

# A join.
result, info = fetch(sql.CommandStatementQuery(query=JOIN))
check(result.num_rows > 0 and info.schema.names == result.schema.names, f"join: {result.num_rows} rows")

# A tag statement through CommandStatementUpdate.
writer, reader = c.do_put(descriptor(sql.CommandStatementUpdate(
    query="ALTER TAG 'fruit' IN GROUP subjects SET THRESHOLD 0.5")), pa.schema([]), opts)
writer.done_writing()
update = sql.DoPutUpdateResult()
update.ParseFromString(reader.read().to_pybytes())
writer.close()
check(update.record_count >= 0, f"tag statement as an update ({update.record_count} rows)")

# A prepared statement with a parameter.
action = fl.Action("CreatePreparedStatement", packed(
    sql.ActionCreatePreparedStatementRequest(query="SELECT count(*) AS n FROM dt_subjects_visual WHERE tag_name = $1")))
res = next(c.do_action(action, opts))
any_res = any_pb2.Any()
any_res.ParseFromString(res.body.to_pybytes())
prepared = sql.ActionCreatePreparedStatementResult()
any_res.Unpack(prepared)
params = pa.ipc.read_schema(pa.py_buffer(prepared.parameter_schema))
check(params.names == ["$1"], f"parameter schema {params}")
cmd = sql.CommandPreparedStatementQuery(prepared_statement_handle=prepared.prepared_statement_handle)
binding = pa.record_batch([pa.array(["flowers"])], names=["$1"])
writer, reader = c.do_put(descriptor(cmd), binding.schema, opts)
writer.write_batch(binding)
writer.done_writing()
reader.read()
writer.close()
counted, _ = fetch(cmd)
direct, _ = fetch(sql.CommandStatementQuery(query="SELECT count(*) AS n FROM dt_subjects_visual WHERE tag_name = 'flowers'"))
check(counted.column("n")[0].as_py() == direct.column("n")[0].as_py() > 0, "prepared statement with a bound parameter")
list(c.do_action(fl.Action("ClosePreparedStatement", packed(
    sql.ActionClosePreparedStatementRequest(prepared_statement_handle=prepared.prepared_statement_handle))), opts))
expect_error(lambda: fetch(cmd), "unknown or closed prepared statement", what="a closed prepared statement")

# Errors: malformed statement, no token, a bad token.
expect_error(lambda: fetch(sql.CommandStatementQuery(query="SELEC 1")), "invalid argument", "SELEC",
             what="malformed statement")
expect_error(lambda: c.get_flight_info(descriptor(sql.CommandStatementQuery(query="SELECT 1"))),
             "Unauthenticated", what="no token")
bad = fl.FlightCallOptions(headers=[(b"authorization", b"Bearer nope")])
expect_error(lambda: c.get_flight_info(descriptor(sql.CommandStatementQuery(query="SELECT 1")), bad),
             "Unauthenticated", what="bad token")
expect_error(lambda: client().authenticate_basic_token("admin", "wrong"), "Unauthenticated",
             what="bad password in the handshake")

# A query cancelled midway.
info = c.get_flight_info(descriptor(sql.CommandStatementQuery(query=ENDLESS)), opts)
stream = c.do_get(info.endpoints[0].ticket, opts)
rows = sum(stream.read_chunk().data.num_rows for _ in range(3))
check(rows > 0, f"streaming started ({rows} rows)")
stream.cancel()
idle = wait_until_idle(http_url, token)
check(not idle["running"], f"the cancelled query stopped on the server ({idle})")
print("pyarrow.flight: all checks passed")
