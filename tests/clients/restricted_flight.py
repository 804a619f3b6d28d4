"""A user who holds a role on one dataset only, over Flight SQL (the ADBC driver): the
catalog browse shows only that dataset's schema, and the other dataset's tables are not
found. Arguments: FLIGHT_URL HTTP_URL ADMIN_TOKEN USER USER_TOKEN.
"""

import sys

import adbc_driver_flightsql.dbapi as flight_sql

from common import check, expect_error

flight, user, token = sys.argv[1], sys.argv[4], sys.argv[5]
conn = flight_sql.connect(flight, db_kwargs={"username": user, "password": token}, autocommit=True)
objects = conn.adbc_get_objects(depth="db_schemas").read_all().to_pylist()
schemas = sorted(s["db_schema_name"] for c in objects for s in (c["catalog_db_schemas"] or []))
check("news" not in schemas and "archive" in schemas, f"{user} browses only the dataset they hold a role on: {schemas}")
cur = conn.cursor()
cur.execute("SELECT count(*) AS n FROM archive.coactive_table")
check(cur.fetchall()[0][0] == 27, "their dataset is queried")
expect_error(lambda: cur.execute("SELECT count(*) FROM news.coactive_table"), "not found",
             what="the other dataset does not exist for them")
cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'news'")
check(cur.fetchall()[0][0] == 0, "information_schema lists none of its tables")
print("restricted flight: all checks passed")
