#!/usr/bin/env python3
"""Anchor of `dyntag bench search`: FAISS HNSW on the vectors dyntag indexed, with the same
graph parameters (M, efConstruction, efSearch), inner product. Storage: half floats
(IndexHNSWSQ with QT_fp16) for float16 and int8 datasets, float32 (IndexHNSWFlat) for float32
ones; dyntag's graph holds half floats for float32 and float16 datasets and the int8 codes
for int8 ones, so only float16 compares like with like.

Usage: anchor_search.py BASE.parquet QUERIES.parquet TRUTH.json --m 16 --ef-add 64
       --ef-search 64 --encoding float16 [--threads 2]

BASE and QUERIES hold a fixed-size list of float32 `embedding` column; TRUTH is the exact
top 10 (row numbers) of each query, from dyntag's exact scan. The graph is built on
`--threads` threads; queries run one at a time on one thread, as dyntag answers one search.
Prints: faiss_build rows=… build_s=… rows_per_s=…, then for each efSearch
        faiss_ef<N> median_ms=… p95_ms=… recall=…
Needs: numpy, pyarrow, faiss-cpu.
"""
import argparse, json, time
import numpy as np, pyarrow.parquet as pq, faiss

ap = argparse.ArgumentParser()
ap.add_argument("base"); ap.add_argument("queries"); ap.add_argument("truth")
ap.add_argument("--m", type=int, default=16)
ap.add_argument("--ef-add", type=int, default=64)
ap.add_argument("--ef-search", default="64", help="comma-separated efSearch values")
ap.add_argument("--encoding", default="float16")
ap.add_argument("--threads", type=int, default=2)
a = ap.parse_args()


def vectors(path):
    pf = pq.ParquetFile(path)
    d = pf.schema_arrow.field("embedding").type.list_size
    for batch in pf.iter_batches(batch_size=262_144, columns=["embedding"]):
        yield batch.column(0).values.to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, d), d


first = next(vectors(a.base))[1]
if a.encoding == "float32":
    index = faiss.IndexHNSWFlat(first, a.m, faiss.METRIC_INNER_PRODUCT)
else:
    index = faiss.IndexHNSWSQ(first, faiss.ScalarQuantizer.QT_fp16, a.m, faiss.METRIC_INNER_PRODUCT)
index.hnsw.efConstruction = a.ef_add
faiss.omp_set_num_threads(a.threads)
n = 0
start = time.perf_counter()
if not index.is_trained:
    # fp16 needs no statistics, but FAISS asks every scalar quantizer to be trained.
    index.train(next(vectors(a.base))[0][:1000])
for X, _ in vectors(a.base):
    index.add(X)
    n += len(X)
build = time.perf_counter() - start

Q = np.concatenate([X for X, _ in vectors(a.queries)])
truth = json.load(open(a.truth))
print(f"faiss_build rows={n} build_s={build:.2f} rows_per_s={n / build:.1f}")
faiss.omp_set_num_threads(1)
for ef in [int(e) for e in a.ef_search.split(",")]:
    index.hnsw.efSearch = ef
    times, hits = [], 0
    for q, t in zip(Q, truth):
        s = time.perf_counter()
        _, ids = index.search(q.reshape(1, -1), 10)
        times.append(time.perf_counter() - s)
        hits += len(set(ids[0].tolist()) & set(t))
    times = np.array(times) * 1000
    print(f"faiss_ef{ef} median_ms={np.median(times):.4f} p95_ms={np.percentile(times, 95):.4f} "
          f"recall={hits / (10 * len(truth)):.4f}")
