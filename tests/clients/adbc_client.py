"""The ADBC Flight SQL driver (the notebook path): browse, join into pyarrow and pandas, a
tag statement, a prepared statement with a parameter, a bad token, a malformed statement, a
query cancelled midway."""

import adbc_driver_flightsql.dbapi as flight_sql
from adbc_driver_flightsql import DatabaseOptions

from common import ENDLESS, JOIN, args, check, expect_error, wait_until_idle

flight, http_url, token = args()

# Basic credentials through the handshake (user admin, the token as password).
conn = flight_sql.connect(flight, db_kwargs={"username": "admin", "password": token}, autocommit=True)
cur = conn.cursor()

# Browse: catalogs → schemas → tables with their columns.
objects = conn.adbc_get_objects(depth="all").read_all().to_pylist()
check([c["catalog_name"] for c in objects] == ["dyntag"], "one catalog, dyntag")
schemas = {s["db_schema_name"]: s for s in objects[0]["catalog_db_schemas"]}
check("demo" in schemas, f"dataset demo is a schema ({sorted(schemas)})")
tables = {t["table_name"]: t for t in schemas["demo"]["db_schema_tables"]}
for name in ["coactive_table", "coactive_videos", "dt_subjects_visual", "dt_subjects_shot",
             "dt_subjects_video", "dt_subjects_transcript"]:
    check(name in tables, f"table {name} is listed")
schema = conn.adbc_get_table_schema("dt_subjects_visual", db_schema_filter="demo")
check({"coactive_image_id", "tag_name", "score", "threshold_decision", "group_version"}
      <= set(schema.names), f"dt_subjects_visual columns {schema.names}")
check("TABLE" in conn.adbc_get_table_types(), "table types")

# A join of dt_ with coactive_table, into pyarrow and pandas.
cur.execute(JOIN)
table = cur.fetch_arrow_table()
check(table.num_rows > 0 and "SeriesName" in table.column_names, f"join: {table.num_rows} rows")
cur.execute(JOIN)
df = cur.fetch_df()
check(len(df) == table.num_rows and df["score"].between(0, 1).all(), "join into pandas")

# A tag statement, as a query and as an update.
cur.execute("SHOW TAG GROUPS")
groups = cur.fetch_arrow_table().to_pylist()
check(any("subjects" in str(g).lower() for g in groups), "SHOW TAG GROUPS answers")
stmt = cur.adbc_statement
stmt.set_sql_query("ALTER TAG 'clocks' IN GROUP subjects SET THRESHOLD 0.55")
stmt.execute_update()
cur = conn.cursor()
cur.execute("SHOW TAGS IN GROUP subjects")
tags = cur.fetch_arrow_table().to_pylist()
clocks = [t for t in tags if t["tag_name"] == "clocks"]
check(len(clocks) == 1 and abs(clocks[0]["threshold"] - 0.55) < 1e-9, "the threshold update is visible")

# A prepared statement with a bound parameter.
cur.execute("SELECT count(*) AS n FROM dt_subjects_visual WHERE tag_name = $1", parameters=("birds",))
n_birds = cur.fetchone()[0]
cur.execute("SELECT count(*) AS n FROM dt_subjects_visual WHERE tag_name = 'birds'")
check(n_birds > 0 and n_birds == cur.fetchone()[0], f"prepared statement with $1 = 'birds': {n_birds}")
cur.execute("SELECT count(*) AS n FROM dt_subjects_visual WHERE tag_name = $1", parameters=("fish",))
check(cur.fetchone()[0] == n_birds, "the same statement re-bound to 'fish'")

# A malformed statement and an unknown table: clear errors, the connection survives.
expect_error(lambda: cur.execute("SELEC tag_name FROM dt_subjects_visual"), "SELEC",
             what="malformed statement")
expect_error(lambda: cur.execute("SELECT * FROM dt_nothing_visual"), "dt_nothing_visual",
             what="unknown table")
cur.execute("SELECT 1 AS one")
check(cur.fetchone()[0] == 1, "the connection still works")

# A query cancelled midway: read a few batches, cancel, the server stops it.
cur.execute(ENDLESS)
reader = cur.fetch_record_batch()
got = sum(reader.read_next_batch().num_rows for _ in range(3))
check(got > 0, f"streaming started ({got} rows)")
cur.adbc_cancel()
try:
    while reader.read_next_batch() is not None:
        pass
except Exception as e:  # noqa: BLE001
    print(f"    reading after cancel: {type(e).__name__}: {str(e).splitlines()[0][:120]}")
cur.close()
idle = wait_until_idle(http_url, token)
check(not idle["running"] and idle["cancelled_total"] >= 1,
      f"the server stopped the cancelled query ({idle})")
conn.close()

# A bad token, as a bearer token and as a password.
def bad_bearer():
    c = flight_sql.connect(flight, db_kwargs={
        DatabaseOptions.AUTHORIZATION_HEADER.value: "Bearer not-the-token"})
    c.cursor().execute("SELECT 1")


def bad_password():
    c = flight_sql.connect(flight, db_kwargs={"username": "admin", "password": "wrong"})
    c.cursor().execute("SELECT 1")


expect_error(bad_bearer, "unauthenticated", what="bad bearer token")
expect_error(bad_password, "unauthenticated", what="bad password")
print("adbc: all checks passed")
