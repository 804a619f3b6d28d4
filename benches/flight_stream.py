"""Client side of `dyntag bench flight`: MB/s of streaming a dt_ table from dyntag to the
ADBC Flight SQL driver and to pyarrow.flight, each against the same client reading the same
rows from Arrow C++'s own Flight server holding them in memory (a process of its own,
started here: the anchor), next to reading them from a local Arrow IPC file with pyarrow
(the local limit); and the server's resident memory while it streams a tenth of the rows
and all of them. Runs alternate between the two servers; each figure is the median of its
runs, printed with the slowest and fastest (the machine is shared: runs spread by a fifth).

    flight_stream.py FLIGHT_URL TOKEN TABLE ROWS      (DYNTAG_SERVER_PID: the server's pid)
    flight_stream.py --serve-reference IPC_FILE       (the anchor server; prints its port)
"""

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import pyarrow.flight as fl
from flightsql import flightsql_pb2 as flight_sql_pb  # Flight SQL messages for pyarrow.flight
from google.protobuf import any_pb2

ROUNDS = 7


def serve_reference(path):
    """Arrow C++'s Flight server with the rows in memory, answering statements (all with
    the same rows) so that the ADBC driver can read from it too."""
    with pa.OSFile(path, "rb") as src:
        held = pa.ipc.open_stream(src).read_all()

    class InMemory(fl.FlightServerBase):
        def get_flight_info(self, context, descriptor):
            if b"CommandStatementQuery" not in descriptor.command:
                raise NotImplementedError("the reference server answers statements only")
            endpoint = fl.FlightEndpoint(b"all", [])
            return fl.FlightInfo(held.schema, descriptor, [endpoint], held.num_rows, -1)

        def do_get(self, context, ticket):
            return fl.RecordBatchStream(held)

    server = InMemory("grpc://127.0.0.1:0")
    print(server.port, flush=True)
    server.serve()


if sys.argv[1] == "--serve-reference":
    serve_reference(sys.argv[2])
    sys.exit(0)

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


def stream(conn, sql):
    """(rows, bytes, seconds) of fetching sql with ADBC batch by batch (nothing kept)."""
    cur = conn.cursor()
    t = time.perf_counter()
    cur.execute(sql)
    reader = cur.fetch_record_batch()
    n = b = 0
    for batch in reader:
        n += batch.num_rows
        b += batch.nbytes
    s = time.perf_counter() - t
    cur.close()
    return n, b, s


def direct(client, opts, sql):
    """(rows, bytes, seconds) of the same through pyarrow.flight (Arrow's C++ client)."""
    cmd = any_pb2.Any()
    cmd.Pack(flight_sql_pb.CommandStatementQuery(query=sql))
    t = time.perf_counter()
    info = client.get_flight_info(fl.FlightDescriptor.for_command(cmd.SerializeToString()), opts)
    n = b = 0
    for chunk in client.do_get(info.endpoints[0].ticket, opts):
        n += chunk.data.num_rows
        b += chunk.data.nbytes
    return n, b, time.perf_counter() - t


class Runs:
    """Several runs of the same rows: the median, slowest and fastest."""

    def __init__(self):
        self.times, self.rows, self.bytes = [], 0, 0

    def add(self, run):
        n, b, s = run
        self.rows, self.bytes = n, b
        self.times.append(s)

    @property
    def seconds(self):
        return statistics.median(self.times)

    def mb_per_s(self, seconds=None):
        return self.bytes / 1e6 / (self.seconds if seconds is None else seconds)

    def spread(self):
        return f"slowest={self.mb_per_s(max(self.times)):.1f} fastest={self.mb_per_s(min(self.times)):.1f}"


sql = f"SELECT * FROM {table}"
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "result.arrows")
    # First pass: warm the server and write the local copy (not timed).
    cur = conn.cursor()
    cur.execute(sql)
    reader = cur.fetch_record_batch()
    with pa.OSFile(path, "wb") as f, pa.ipc.new_stream(f, reader.schema) as w:
        for batch in reader:
            w.write_batch(batch)
    cur.close()

    base = rss()
    with Peak() as tenth:
        n10, _, _ = stream(conn, f"{sql} LIMIT {rows // 10}")
    assert n10 == rows // 10, f"expected {rows // 10} rows, got {n10}"

    reference = subprocess.Popen(
        [sys.executable, __file__, "--serve-reference", path], stdout=subprocess.PIPE, text=True
    )
    try:
        ref_url = f"grpc://127.0.0.1:{reference.stdout.readline().strip()}"
        ref_conn = flight_sql.connect(ref_url, autocommit=True)
        client = fl.FlightClient(flight)
        opts = fl.FlightCallOptions(headers=[client.authenticate_basic_token("admin", token)])
        ref_client = fl.FlightClient(ref_url)
        ref_opts = fl.FlightCallOptions()
        adbc, adbc_ref, py, py_ref = Runs(), Runs(), Runs(), Runs()
        with Peak() as full:
            for _ in range(ROUNDS):
                adbc.add(stream(conn, sql))
                adbc_ref.add(stream(ref_conn, sql))
                py.add(direct(client, opts, sql))
                py_ref.add(direct(ref_client, ref_opts, sql))
        ref_conn.close()
    finally:
        reference.kill()
        reference.wait()
    for b in (adbc, adbc_ref, py, py_ref):
        assert b.rows == rows, f"expected {rows} rows, got {b.rows}"

    local = Runs()
    for _ in range(ROUNDS):
        t = time.perf_counter()
        with pa.OSFile(path, "rb") as src:  # read into memory, as a client would
            ln = lb = 0
            for batch in pa.ipc.open_stream(src):
                ln += batch.num_rows
                lb += batch.nbytes
        local.add((ln, lb, time.perf_counter() - t))
    assert local.rows == rows


def line(name, b):
    print(f"{name:<36} rows={b.rows} mb={b.bytes / 1e6:.1f} seconds={b.seconds:.3f} mb_per_s={b.mb_per_s():.1f} {b.spread()}")


line("adbc_from_dyntag", adbc)
line("adbc_from_arrow_cpp_memory", adbc_ref)
line("pyarrow_flight_from_dyntag", py)
line("pyarrow_flight_from_arrow_cpp_memory", py_ref)
line("local_ipc_read", local)
print(f"server_rss           before={base} peak_streaming_{n10}_rows={tenth.peak} peak_streaming_{rows}_rows={full.peak}")
print()
print(f"ratio adbc_dyntag_vs_arrow_cpp_memory = {adbc.mb_per_s() / adbc_ref.mb_per_s():.2f}  (target >= 1.0, same client)")
print(f"ratio pyarrow_flight_dyntag_vs_arrow_cpp_memory = {py.mb_per_s() / py_ref.mb_per_s():.2f}  (target >= 1.0, same client)")
print(f"ratio adbc_vs_local_ipc = {adbc.mb_per_s() / local.mb_per_s():.2f}  (target >= 0.5)")
print(f"ratio arrow_cpp_memory_pyarrow_vs_local_ipc = {py_ref.mb_per_s() / local.mb_per_s():.2f}  (the ceiling of a Flight server here)")
print(f"ratio server_peak_full_vs_tenth = {full.peak / max(tenth.peak, 1):.2f}  (memory independent of result size: ~1)")
