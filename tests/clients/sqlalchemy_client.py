"""The DB-API / SQLAlchemy dialect of flightsql-dbapi, the path Apache Superset uses to add a
Flight SQL database: list schemas and tables, reflect columns, run a join, a tag statement, a
bound parameter, a bad token and a malformed statement. (The dialect has no cancel call.)"""

from urllib.parse import urlparse

import flightsql
import sqlalchemy as sa
from flightsql import FlightSQLClient

from common import JOIN, args, check, expect_error

flight, http_url, token = args()
u = urlparse(flight)

# What a Superset user types as the database URI.
uri = f"datafusion://admin:{token}@{u.hostname}:{u.port}?insecure=true"
engine = sa.create_engine(uri)
insp = sa.inspect(engine)
schemas = insp.get_schema_names()
check("demo" in schemas, f"schemas {schemas}")
tables = insp.get_table_names(schema="demo")
check("dt_subjects_visual" in tables and "coactive_table" in tables, f"{len(tables)} tables in demo")
columns = {c["name"]: c for c in insp.get_columns("dt_subjects_visual", schema="demo")}
check({"tag_name", "score", "threshold_decision"} <= set(columns), f"reflected columns {sorted(columns)}")
check(isinstance(columns["score"]["type"], (sa.Float, sa.types.REAL, sa.types.Numeric)) or
      "FLOAT" in str(columns["score"]["type"]).upper() or "DOUBLE" in str(columns["score"]["type"]).upper(),
      f"score is a number ({columns['score']['type']})")

with engine.connect() as conn:
    rows = conn.execute(sa.text(JOIN)).fetchall()
    check(len(rows) > 0, f"join: {len(rows)} rows")
    # A reflected table queried with a value, as a BI tool builds its queries (the dialect
    # binds values into the SQL text by default).
    visual = sa.Table("dt_subjects_visual", sa.MetaData(), autoload_with=conn, schema="demo")
    n = conn.execute(sa.select(sa.func.count()).select_from(visual).where(visual.c.tag_name == "music")).scalar()
    check(n > 0, f"a reflected table filtered on a value: {n} rows for music")
    groups = conn.execute(sa.text("SHOW TAG GROUPS")).fetchall()
    check(any("subjects" in str(g).lower() for g in groups), "SHOW TAG GROUPS")
    expect_error(lambda: conn.execute(sa.text("SELEC 1")).fetchall(), "SELEC", what="malformed statement")

# With the dialect's prepared statements on, parameters are bound on the server (`?`).
prepared = sa.create_engine(uri + "&feature-sqlalchemy-prepared-statements=on")
with prepared.connect() as conn:
    m = conn.execute(sa.text("SELECT count(*) FROM dt_subjects_visual WHERE tag_name = :t"), {"t": "music"}).scalar()
    check(m == n, f"a bound parameter in a server-side prepared statement: {m} rows")

# The same through the DB-API directly, with a token.
client = FlightSQLClient(host=u.hostname, port=u.port, token=token, insecure=True)
conn = flightsql.connect(client)
cur = conn.cursor()
cur.execute("SELECT count(*) AS n FROM coactive_table")
check(cur.fetchone()[0] > 0, "DB-API with a bearer token")
bad = flightsql.connect(FlightSQLClient(host=u.hostname, port=u.port, token="nope", insecure=True))
expect_error(lambda: bad.cursor().execute("SELECT 1"), "Unauthenticated", what="bad token")
print("sqlalchemy: all checks passed")
