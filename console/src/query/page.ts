// The query console: the editor, the statement under the cursor (or the selection, or the
// whole script) run with Ctrl/Cmd-Enter, results streamed as Arrow into the grid, a chart,
// downloads, the schema browser and the server-side query history.

import { ApiError, api, rows, sqlRows, sqlStream, whoAmI } from "../api";
import { fill, h, toast } from "../dom";
import { createEditor, DYNTAG_FUNCTIONS, type Catalog, type EditorHandle } from "./editor";
import { chartPanel } from "./chart";
import { Grid } from "./grid";
import { readArrow, type ResultTable } from "./result";
import { errorOffset, splitStatements, statementAt, type Span } from "./statements";

const DRAFT_KEY = "dyntag.console.draft";
const DATASET_KEY = "dyntag.console.dataset";
const PARQUET = "application/vnd.apache.parquet";
/** Statements that only read: their Parquet download may run them again. */
const READS = /^\s*(select|with|values|show|describe|explain)\b/i;
const ARROW = "application/vnd.apache.arrow.stream";

const FIRST_QUERY = `-- Ctrl-Enter runs the statement under the cursor; Shift-Ctrl-Enter runs them all.
SHOW TAG GROUPS;

SELECT tag_name, count(*) AS tagged
FROM dt_subjects_visual WHERE threshold_decision
GROUP BY tag_name ORDER BY tagged DESC;
`;

/** Timings of the last run, read by the browser benchmark. */
declare global {
  interface Window {
    dyntagLastRun?: { firstRowsMs: number; allRowsMs: number; rows: number };
  }
}

export async function queryPage(root: HTMLElement): Promise<() => void> {
  const me = await whoAmI();
  const datasets = rows<{ dataset: string }>(await api("GET", "/api/datasets")).map((d) => d.dataset);
  const draftKey = `${DRAFT_KEY}.${me.user}`;
  const datasetKey = `${DATASET_KEY}.${me.user}`;
  let dataset = localStorage.getItem(datasetKey) ?? me.dataset ?? datasets[0];
  if (dataset && !datasets.includes(dataset)) dataset = datasets[0];

  const datasetSelect = h(
    "select",
    {
      name: "dataset",
      title: "the dataset statements run in",
      onchange: () => {
        dataset = datasetSelect.value;
        localStorage.setItem(datasetKey, dataset);
        void loadCatalog();
      },
    },
    ...datasets.map((d) => h("option", { value: d, selected: d === dataset }, d)),
  );
  const schemaTree = h("div.schema", { "aria-label": "schema browser" });
  const historyList = h("ol.history", { "aria-label": "query history" });
  const status = h("span.status", { "aria-live": "polite" });
  const results = h("div.results");
  const tabs = h("div.tabs");
  const runButton = h("button.primary", { title: "Ctrl/Cmd-Enter", onclick: () => void runCurrent() }, "▶ Run");
  const runAllButton = h("button", { title: "Shift-Ctrl/Cmd-Enter", onclick: () => void runAll() }, "Run all");
  const cancelButton = h("button", { disabled: true, onclick: () => controller?.abort() }, "Cancel");
  const editorHost = h("div.editor");

  fill(
    root,
    h(
      "div.console",
      {},
      h("aside.side", {}, h("label", {}, "Dataset ", datasetSelect), h("h3", {}, "Schema"), schemaTree, h("h3", {}, "History"), historyList),
      h("section.work", {}, h("div.toolbar", {}, runButton, runAllButton, cancelButton, status), editorHost, tabs, results),
    ),
  );

  let controller: AbortController | null = null;
  let grid: Grid | null = null;
  /** The grids of the current run's result tabs (redrawn when their tab is shown again). */
  let grids: Grid[] = [];
  const editor: EditorHandle = createEditor(editorHost, localStorage.getItem(draftKey) ?? FIRST_QUERY, {
    current: () => void runCurrent(),
    all: () => void runAll(),
    changed: (text) => localStorage.setItem(draftKey, text),
  });
  editor.view.focus();

  async function loadCatalog(): Promise<void> {
    const catalog: Catalog = { tables: {}, functions: [...DYNTAG_FUNCTIONS], datasets, groups: [] };
    const tree = new Map<string, string[]>();
    // The three catalog questions at once.
    const [columns, fns, tags] = await Promise.allSettled([
      sqlRows<{ table_schema: string; table_name: string; column_name: string; data_type: string }>(
        "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns ORDER BY table_schema, table_name, ordinal_position",
        dataset,
      ),
      sqlRows<{ routine_name: string }>("SELECT DISTINCT routine_name FROM information_schema.routines ORDER BY 1", dataset),
      sqlRows<{ group_slug: string; tag_name: string }>("SELECT group_slug, tag_name FROM system.tags ORDER BY group_slug, tag_name", dataset),
    ]);
    if (columns.status === "rejected") toast(`schema: ${(columns.reason as Error).message}`, "error");
    else
      for (const r of columns.value) {
        const name = r.table_schema === dataset ? r.table_name : `${r.table_schema}.${r.table_name}`;
        (catalog.tables[name] ??= []).push(r.column_name);
        if (!tree.has(name)) tree.set(name, []);
        tree.get(name)!.push(`${r.column_name}  ${r.data_type}`);
      }
    // (Without information_schema.routines: dyntag's own functions only.)
    if (fns.status === "fulfilled") catalog.functions.push(...fns.value.map((f) => f.routine_name));
    const groups = new Map<string, string[]>();
    for (const t of tags.status === "fulfilled" ? tags.value : []) (groups.get(t.group_slug) ?? groups.set(t.group_slug, []).get(t.group_slug)!).push(t.tag_name);
    catalog.groups = [...groups].map(([group, ts]) => ({ group, tags: ts }));
    editor.setCatalog(catalog);

    const details = (summary: Node | string, items: (Node | string)[], cls = "") =>
      h("details", { class: cls }, h("summary", {}, summary), h("ul", {}, ...items.map((i) => h("li", {}, i))));
    const insert = (text: string) => () => {
      const { from, to } = editor.view.state.selection.main;
      editor.view.dispatch({ changes: { from, to, insert: text }, selection: { anchor: from + text.length } });
      editor.view.focus();
    };
    fill(
      schemaTree,
      details(
        `${dataset} (dataset)`,
        [...tree].map(([t, cols]) =>
          details(h("span", { ondblclick: insert(t), title: "double-click to insert" }, t), cols, t.startsWith("dt_") ? "dt" : ""),
        ),
      ),
      details(
        "tag groups",
        catalog.groups.map((g) => details(h("a", { href: `#/groups/${encodeURIComponent(g.group)}` }, g.group), g.tags)),
      ),
    );
    (schemaTree.querySelector("details") as HTMLDetailsElement).open = true;
  }

  async function loadHistory(): Promise<void> {
    const hist = rows<{ sql: string; at: string; outcome: string; dataset: string | null }>(await api("GET", "/api/history"));
    fill(
      historyList,
      ...hist.slice(0, 50).map((e) =>
        h(
          "li",
          {
            title: `${e.at} · ${e.dataset ?? ""} · ${e.outcome} — click to put it in the editor`,
            class: e.outcome === "done" ? "" : "failed",
            onclick: () => {
              const end = editor.view.state.doc.length;
              editor.view.dispatch({ changes: { from: end, insert: `\n${e.sql.trim().replace(/;?$/, ";")}\n` } });
            },
          },
          e.sql.length > 90 ? `${e.sql.slice(0, 90)}…` : e.sql,
        ),
      ),
    );
  }

  function pick(): Span | undefined {
    const state = editor.view.state;
    const sel = state.selection.main;
    const text = state.doc.toString();
    if (!sel.empty) return { from: sel.from, to: sel.to, text: text.slice(sel.from, sel.to) };
    return statementAt(text, sel.head);
  }

  async function runCurrent(): Promise<void> {
    const s = pick();
    if (s) await runSpans([s]);
  }

  async function runAll(): Promise<void> {
    await runSpans(splitStatements(editor.view.state.doc.toString()));
  }

  async function runSpans(spans: Span[]): Promise<void> {
    if (controller || spans.length === 0) return;
    fill(tabs);
    fill(results);
    for (const g of grids) g.destroy();
    grids = [];
    const done: { span: Span; table: ResultTable | null; view: HTMLElement }[] = [];
    const show = (i: number) => {
      for (const [j, t] of [...tabs.children].entries()) t.classList.toggle("active", i === j);
      fill(results, done[i].view);
      grids[i]?.update();
    };
    for (const span of spans) {
      const i = done.length;
      const view = h("div.result");
      done.push({ span, table: null, view });
      tabs.appendChild(h("button.tab", { onclick: () => show(i) }, `${i + 1}: ${span.text.split(/\s+/).slice(0, 3).join(" ")}`));
      show(i);
      const ok = await runOne(span, view, (t) => (done[i].table = t));
      if (!ok) break;
    }
    void loadHistory();
    if (spans.some((s) => !/^\s*(select|with|show|describe|explain|preview)/i.test(s.text))) void loadCatalog();
  }

  async function runOne(span: Span, view: HTMLElement, keep: (t: ResultTable) => void): Promise<boolean> {
    controller = new AbortController();
    cancelButton.disabled = false;
    runButton.disabled = runAllButton.disabled = true;
    const t0 = performance.now();
    let first = 0;
    let frame = 0;
    const tick = setInterval(() => (status.textContent = `running… ${((performance.now() - t0) / 1000).toFixed(1)} s`), 100);
    grid = null;
    let got: ResultTable | null = null;
    const ranIn = dataset;
    try {
      const res = await sqlStream(span.text, dataset, ARROW, controller.signal, true);
      const table = await readArrow(
        res,
        (t) => {
          keep(t);
          got = t;
          const toolbar = resultToolbar(t, span.text, ranIn, view);
          grid = new Grid(t, () => ranIn);
          grids.push(grid);
          fill(view, toolbar, grid.el);
          grid.mount();
        },
        (t) => {
          if (!first && t.rowCount > 0) {
            first = performance.now() - t0;
            grid?.update();
          }
          // Later batches redraw the grid at most once a frame.
          if (!frame)
            frame = requestAnimationFrame(() => {
              frame = 0;
              grid?.update();
              status.textContent = `${t.rowCount.toLocaleString()} rows…`;
            });
        },
      );
      if (frame) cancelAnimationFrame(frame);
      frame = 0;
      (grid as Grid | null)?.update();
      const ms = performance.now() - t0;
      window.dyntagLastRun = { firstRowsMs: first || ms, allRowsMs: ms, rows: table.rowCount };
      status.textContent = `${table.rowCount.toLocaleString()} row${table.rowCount === 1 ? "" : "s"} in ${ms.toFixed(0)} ms`;
      return true;
    } catch (e) {
      const aborted = (e as Error).name === "AbortError";
      const message = aborted ? "cancelled" : (e as Error).message;
      status.textContent = aborted ? "cancelled" : "failed";
      const code = e instanceof ApiError ? e.code : "";
      const shown = got as ResultTable | null;
      const text = shown && !aborted
        ? `the answer broke off after ${shown.rowCount.toLocaleString()} rows (the server stopped the query: a limit, a timeout or an error; the query history has its outcome): ${message}`
        : code ? `${code}: ${message}` : message;
      const alert = h("pre.error", { role: "alert" }, text);
      if (shown) view.insertBefore(alert, view.firstChild);
      else fill(view, alert);
      const at = errorOffset(message, span.text);
      if (at !== undefined) editor.markError(span.from + at, message);
      return false;
    } finally {
      clearInterval(tick);
      controller = null;
      cancelButton.disabled = true;
      runButton.disabled = runAllButton.disabled = false;
    }
  }

  function resultToolbar(table: ResultTable, sql: string, ranIn: string | undefined, view: HTMLElement): HTMLElement {
    let chart: HTMLElement | null = null;
    const save = (blob: Blob, ext: string) => {
      const a = h("a", { href: URL.createObjectURL(blob), download: `result.${ext}` });
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    };
    // CSV and Arrow are written from the rows on screen; Parquet asks the server, which
    // runs the statement again — offered for statements that only read.
    const download = (label: string, ext: string, make: () => Promise<Blob>, title: string) =>
      h("button", { title, onclick: async () => save(await make(), ext) }, label);
    return h(
      "div.toolbar",
      {},
      h(
        "button",
        {
          onclick: () => {
            if (chart) {
              chart.remove();
              chart = null;
            } else {
              chart = chartPanel(table);
              view.insertBefore(chart, view.children[1] ?? null);
            }
          },
        },
        "Chart",
      ),
      h("span.muted", {}, "Download"),
      download("CSV", "csv", async () => new Blob([table.toCsv()], { type: "text/csv" }), "the rows above, in their order"),
      READS.test(sql)
        ? download("Parquet", "parquet", async () => (await sqlStream(sql, ranIn, PARQUET)).blob(), "runs the statement again on the server")
        : null,
      download("Arrow", "arrow", async () => new Blob([table.toArrow() as BlobPart], { type: ARROW }), "the rows above, as an Arrow IPC stream"),
    );
  }

  await Promise.all([loadCatalog(), loadHistory().catch(() => undefined)]);
  performance.mark("dyntag-console-ready");
  return () => {
    controller?.abort();
    for (const g of grids) g.destroy();
  };
}
