"""Client side of `dyntag bench flight`: MB/s of streaming a dt_ table to the ADBC Flight
SQL driver, next to reading the same rows from a local Arrow IPC file with pyarrow (the
local limit), the same rows served from memory by Arrow C++'s own Flight server to
pyarrow.flight (what any Flight server can reach on this machine), and the server's resident memory while it streams a tenth of the rows and all
of them.

    flight_stream.py FLIGHT_URL TOKEN TABLE ROWS      (DYNTAG_SERVER_PID: the server's pid)
"""

import os
import sys
import tempfile
import threading
import time

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import pyarrow.flight as fl
from flightsql import flightsql_pb2 as flight_sql_pb  # Flight SQL messages for pyarrow.flight
from google.protobuf import any_pb2

flight, token, table, rows = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
pid = os.environ.get("DYNTAG_SERVER_PID")


def rss():
    if not pid:
        return 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Peak:
    """The server's peak RSS while a block runs."""

    def __enter__(self):
        self.peak, self.stop = rss(), False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()
        return self

    def run(self):
        while not self.stop:
            self.peak = max(self.peak, rss())
            time.sleep(0.01)

    def __exit__(self, *exc):
        self.stop = True
        self.t.join()


conn = flight_sql.connect(flight, db_kwargs={"username": "admin", "password": token}, autocommit=True)


def stream(sql, sink=None):
    """(rows, bytes, seconds) of fetching sql batch by batch (nothing kept)."""
    cur = conn.cursor()
    t = time.perf_counter()
    cur.execute(sql)
    reader = cur.fetch_record_batch()
    n = b = 0
    for batch in reader:
        n += batch.num_rows
        b += batch.nbytes
        if sink is not None:
            sink.write_batch(batch)
    s = time.perf_counter() - t
    cur.close()
    return n, b, s


sql = f"SELECT * FROM {table}"
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "result.arrows")
    # First pass: warm the server and write the local copy (not timed for the ratio).
    schema = None
    cur = conn.cursor()
    cur.execute(sql)
    reader = cur.fetch_record_batch()
    with pa.OSFile(path, "wb") as f, pa.ipc.new_stream(f, reader.schema) as w:
        for batch in reader:
            w.write_batch(batch)
    cur.close()

    base = rss()
    with Peak() as tenth:
        n10, b10, s10 = stream(f"{sql} LIMIT {rows // 10}")
    best = None
    with Peak() as full:
        for _ in range(2):
            n, b, s = stream(sql)
            best = s if best is None else min(best, s)
    assert n == rows, f"expected {rows} rows, got {n}"

    # The same through pyarrow.flight (Arrow's C++ client) directly.
    client = fl.FlightClient(flight)
    opts = fl.FlightCallOptions(headers=[client.authenticate_basic_token("admin", token)])
    cmd = any_pb2.Any()
    cmd.Pack(flight_sql_pb.CommandStatementQuery(query=sql))
    direct = None
    for _ in range(2):
        t = time.perf_counter()
        info = client.get_flight_info(fl.FlightDescriptor.for_command(cmd.SerializeToString()), opts)
        dn = db = 0
        for chunk in client.do_get(info.endpoints[0].ticket, opts):
            dn += chunk.data.num_rows
            db += chunk.data.nbytes
        dt = time.perf_counter() - t
        direct = dt if direct is None else min(direct, dt)
    assert dn == n

    local = None
    for _ in range(3):
        t = time.perf_counter()
        with pa.OSFile(path, "rb") as src:  # read into memory, as a client would
            lr = pa.ipc.open_stream(src)
            ln = lb = 0
            for batch in lr:
                ln += batch.num_rows
                lb += batch.nbytes
        dt = time.perf_counter() - t
        local = dt if local is None else min(local, dt)
    assert ln == n

    # The ceiling of any Flight server here: Arrow C++'s reference server streaming the same
    # batches from memory (no query, no storage) to the same client, in this process.
    with pa.OSFile(path, "rb") as src:
        held = pa.ipc.open_stream(src).read_all()

    class InMemory(fl.FlightServerBase):
        def do_get(self, context, ticket):
            return fl.RecordBatchStream(held)

    ref = InMemory("grpc://127.0.0.1:0")
    threading.Thread(target=ref.serve, daemon=True).start()
    ref_client = fl.FlightClient(f"grpc://127.0.0.1:{ref.port}")
    ceiling = None
    for _ in range(2):
        t = time.perf_counter()
        cn = cb = 0
        for chunk in ref_client.do_get(fl.Ticket(b"all")):
            cn += chunk.data.num_rows
            cb += chunk.data.nbytes
        dt = time.perf_counter() - t
        ceiling = dt if ceiling is None else min(ceiling, dt)
    ref.shutdown()
    assert cn == n
    del held

mb = b / 1e6
print(f"adbc_flight_stream   rows={n} mb={mb:.1f} seconds={best:.3f} mb_per_s={mb / best:.1f}")
print(f"pyarrow_flight_stream rows={dn} mb={db / 1e6:.1f} seconds={direct:.3f} mb_per_s={db / 1e6 / direct:.1f}")
print(f"local_ipc_read       rows={ln} mb={lb / 1e6:.1f} seconds={local:.3f} mb_per_s={lb / 1e6 / local:.1f}")
print(f"arrow_cpp_flight_from_memory rows={cn} mb={cb / 1e6:.1f} seconds={ceiling:.3f} mb_per_s={cb / 1e6 / ceiling:.1f}")
print(f"server_rss           before={base} peak_streaming_{n10}_rows={tenth.peak} peak_streaming_{n}_rows={full.peak}")
print()
print(f"ratio adbc_vs_local_ipc = {(mb / best) / (lb / 1e6 / local):.2f}  (target >= 0.5)")
print(f"ratio pyarrow_flight_vs_local_ipc = {(db / 1e6 / direct) / (lb / 1e6 / local):.2f}")
print(f"ratio arrow_cpp_flight_from_memory_vs_local_ipc = {(cb / 1e6 / ceiling) / (lb / 1e6 / local):.2f}  (the ceiling of a Flight server here)")
print(f"ratio adbc_vs_arrow_cpp_flight_from_memory = {(mb / best) / (cb / 1e6 / ceiling):.2f}")
print(f"ratio server_peak_full_vs_tenth = {full.peak / max(tenth.peak, 1):.2f}  (memory independent of result size: ~1)")
