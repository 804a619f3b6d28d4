"""The ADBC Flight SQL driver against two servers over the same data (one executing on a
cluster, one in a single process): each query given returns the same rows from both, and
some rows.

Arguments: FLIGHT_URL HTTP_URL TOKEN OTHER_FLIGHT_URL SQL...
"""

import sys

from common import adbc_connect, args, check, sorted_rows

flight, _http, token = args()
other, queries = sys.argv[4], sys.argv[5:]

here, there = adbc_connect(other, token), adbc_connect(flight, token)
for sql in queries:
    a, b = sorted_rows(here, sql), sorted_rows(there, sql)
    check(len(a) > 0 and a == b, f"{len(b)} rows, as in one process: {' '.join(sql.split())[:70]}…")
print("same rows: all checks passed")
