#!/usr/bin/env python3
"""Anchors of `dyntag bench compact`, on the Parquet file dyntag imports (embeddings as a
fixed-size list of float32), read a row group at a time so that ten million rows need not
fit in memory at once.

Usage: anchor_compact.py EMBEDDINGS.parquet [--column embedding] [--tags 50]

Prints one line per anchor:
  numpy_gemv   one tag: X @ w, summed over the chunks (the products only, best of 3 each)
  numpy_gemm   T tags: sigmoid(X @ W.T), the same way
  duckdb_cold  the first run, in this fresh process, of the count of rows with
               sigmoid(array_inner_product) > 0.5 straight from the Parquet file
  duckdb_warm  the best of the two runs after it
Needs: numpy, pyarrow, duckdb.
"""
import argparse, time
import numpy as np, pyarrow.parquet as pq, duckdb


def best(f, n=3):
    t = []
    for _ in range(n):
        s = time.perf_counter(); f(); t.append(time.perf_counter() - s)
    return min(t)


ap = argparse.ArgumentParser()
ap.add_argument("parquet"); ap.add_argument("--column", default="embedding")
ap.add_argument("--tags", type=int, default=50)
a = ap.parse_args()

# DuckDB first, while nothing of ours has touched the file in this process.
pf = pq.ParquetFile(a.parquet)
d = pf.schema_arrow.field(a.column).type.list_size
rng = np.random.default_rng(0)
W = rng.standard_normal((a.tags, d), dtype=np.float32); W /= np.linalg.norm(W, axis=1, keepdims=True)
con = duckdb.connect(); con.execute("SET threads TO 2")
w = ",".join(f"{v:.7f}" for v in W[0])
q = (f"SELECT count(*) FROM read_parquet('{a.parquet}') "
     f"WHERE 1/(1+exp(-array_inner_product({a.column}::FLOAT[{d}], [{w}]::FLOAT[{d}]))) > 0.5")
s = time.perf_counter(); con.execute(q).fetchall(); cold = time.perf_counter() - s
warm = best(lambda: con.execute(q).fetchall(), 2)
n = pf.metadata.num_rows
print(f"duckdb_cold rows={n} seconds={cold:.4f} rows_per_s={n/cold:.3e}")
print(f"duckdb_warm rows={n} seconds={warm:.4f} rows_per_s={n/warm:.3e}")
con.close()

gemv = gemm = 0.0
for batch in pf.iter_batches(batch_size=262_144, columns=[a.column]):
    X = batch.column(0).values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False).reshape(-1, d)
    gemv += best(lambda: X @ W[0])
    gemm += best(lambda: 1 / (1 + np.exp(-(X @ W.T))))
print(f"numpy_gemv rows={n} dim={d} seconds={gemv:.4f} rows_per_s={n/gemv:.3e}")
print(f"numpy_gemm rows={n} tags={a.tags} seconds={gemm:.4f} scores_per_s={n*a.tags/gemm:.3e}")
