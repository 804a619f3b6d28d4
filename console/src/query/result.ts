// A query's answer as it streams in: Arrow record batches read from the HTTP body, with
// row access across batches and a sort order.

import { RecordBatchReader, Table, tableToIPC, type RecordBatch, type Schema } from "apache-arrow";

export class ResultTable {
  batches: RecordBatch[] = [];
  /** Row offset of each batch. */
  private starts: number[] = [];
  rowCount = 0;
  order: Uint32Array | null = null;
  constructor(public schema: Schema) {}

  get columns(): string[] {
    return this.schema.fields.map((f) => f.name);
  }

  add(b: RecordBatch): void {
    this.starts.push(this.rowCount);
    this.batches.push(b);
    this.rowCount += b.numRows;
    if (this.order) this.order = null;
  }

  /** The value of column `c` in row `r` (of the current order). */
  get(r: number, c: number): unknown {
    const row = this.order ? this.order[r] : r;
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= row) lo = mid;
      else hi = mid - 1;
    }
    const b = this.batches[lo];
    return b?.getChildAt(c)?.get(row - this.starts[lo]);
  }

  /** Sorts by column `c` (nulls last). */
  sortBy(c: number, descending: boolean): void {
    const n = this.rowCount;
    this.order = null;
    const values: unknown[] = new Array(n);
    for (let r = 0; r < n; r++) values[r] = this.get(r, c);
    const idx = new Uint32Array(n);
    for (let i = 0; i < n; i++) idx[i] = i;
    const sign = descending ? -1 : 1;
    idx.sort((a, b) => {
      const x = values[a];
      const y = values[b];
      if (x === y) return 0;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (x < y ? -1 : 1) * sign;
    });
    this.order = idx;
  }

  /** The rows as CSV (the order of the grid), values as the grid holds them. */
  toCsv(): string {
    const cell = (v: unknown): string => {
      if (v === null || v === undefined) return "";
      const s = typeof v === "object" && !(v instanceof Date) ? JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x)) : String(v);
      return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
    };
    const out = [this.columns.map(cell).join(",")];
    for (let r = 0; r < this.rowCount; r++) out.push(this.columns.map((_, c) => cell(this.get(r, c))).join(","));
    return out.join("\n") + "\n";
  }

  /** The rows as an Arrow IPC stream (in the order they arrived). */
  toArrow(): Uint8Array {
    const table = this.batches.length ? new Table(this.batches) : new Table(this.schema);
    return tableToIPC(table, "stream");
  }

  /** The first `limit` rows as objects (charts). */
  objects(limit: number): Record<string, unknown>[] {
    const cols = this.columns;
    const out: Record<string, unknown>[] = [];
    for (let r = 0; r < Math.min(limit, this.rowCount); r++) {
      const o: Record<string, unknown> = {};
      cols.forEach((name, c) => {
        const v = this.get(r, c);
        o[name] = typeof v === "bigint" ? Number(v) : v;
      });
      out.push(o);
    }
    return out;
  }
}

/** Reads an Arrow IPC stream response batch by batch; `onBatch` sees each as it lands. */
export async function readArrow(
  res: Response,
  onSchema: (t: ResultTable) => void,
  onBatch: (t: ResultTable) => void,
): Promise<ResultTable> {
  const reader = await RecordBatchReader.from(res.body as ReadableStream<Uint8Array>);
  await reader.open();
  const table = new ResultTable(reader.schema);
  onSchema(table);
  for await (const batch of reader) {
    table.add(batch);
    onBatch(table);
  }
  return table;
}
