#!/usr/bin/env python3
# Copied unchanged (but for this line) from the project's shared anchor benchmarks (shared/bench/).
"""Anchor figures for scoring embeddings against tags, measured on this machine.

Usage: anchor_scoring.py EMBEDDINGS.parquet [--column embedding] [--tags 50]

Reads a Parquet file whose embedding column is a fixed-size list of float32 (as dyntag
writes it), then times what a user could do instead of dyntag on the same rows:
  numpy_gemv   one tag: X @ w               (memory-bandwidth bound; the practical limit)
  numpy_gemm   T tags: sigmoid(X @ W.T)     (BLAS matrix kernel; the practical limit)
  duckdb_sql   one tag in SQL: count of rows with sigmoid(array_inner_product) > 0.5
Prints one line per anchor: name, seconds (best of 3), rows/s or scores/s.
Needs: numpy, pyarrow, duckdb (pip install numpy pyarrow duckdb).
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
col = pq.read_table(a.parquet, columns=[a.column]).column(a.column).combine_chunks()
d = col.type.list_size
X = col.values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False).reshape(-1, d)
n = X.shape[0]
rng = np.random.default_rng(0)
W = rng.standard_normal((a.tags, d), dtype=np.float32); W /= np.linalg.norm(W, axis=1, keepdims=True)
t = best(lambda: X @ W[0]); print(f"numpy_gemv rows={n} dim={d} seconds={t:.4f} rows_per_s={n/t:.3e}")
t = best(lambda: 1 / (1 + np.exp(-(X @ W.T)))); print(f"numpy_gemm rows={n} tags={a.tags} seconds={t:.4f} scores_per_s={n*a.tags/t:.3e}")
con = duckdb.connect(); con.execute("SET threads TO 2")
con.execute(f"CREATE TABLE t AS SELECT {a.column}::FLOAT[{d}] AS e FROM read_parquet('{a.parquet}')")
w = ",".join(f"{v:.7f}" for v in W[0])
q = f"SELECT count(*) FROM t WHERE 1/(1+exp(-array_inner_product(e, [{w}]::FLOAT[{d}]))) > 0.5"
t = best(lambda: con.execute(q).fetchall()); print(f"duckdb_sql rows={n} seconds={t:.4f} rows_per_s={n/t:.3e}")
