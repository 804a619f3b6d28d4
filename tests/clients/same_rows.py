"""The ADBC Flight SQL driver against two servers over the same data (one executing on a
cluster, one in a single process): each query given returns the same rows from both, and
some rows.

Arguments: FLIGHT_URL HTTP_URL TOKEN OTHER_FLIGHT_URL SQL...
"""

import sys

import adbc_driver_flightsql.dbapi as flight_sql

from common import args, check

flight, _http, token = args()
other, queries = sys.argv[4], sys.argv[5:]


def connect(url):
    return flight_sql.connect(url, db_kwargs={"username": "admin", "password": token},
                              autocommit=True)


def rows(conn, sql):
    cur = conn.cursor()
    cur.execute(sql)
    table = cur.fetch_arrow_table()
    cur.close()
    return sorted(tuple(r.values()) for r in table.to_pylist())


here, there = connect(other), connect(flight)
for sql in queries:
    a, b = rows(here, sql), rows(there, sql)
    check(len(a) > 0 and a == b, f"{len(b)} rows, as in one process: {' '.join(sql.split())[:70]}…")
print("same rows: all checks passed")
