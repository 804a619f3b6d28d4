// The console's benchmark in a real browser (Debian Chromium through playwright-core),
// against a running `dyntag serve` over the demo dataset (scripts/bench-console starts one):
// time to a usable console after load, Ctrl-Enter to the first rows of a dt_ query and to
// 100,000 rows in the grid, scrolling those rows, a threshold change re-splitting the tag
// preview, and the bundle size. Playwright timings read in the page, several runs each;
// figures printed against their targets, nothing asserted.
import { gzipSync } from "node:zlib";
import { URL_, TOKEN, editorRun, launch } from "./tests/browser.mjs";

const RUNS = Number(process.env.DYNTAG_BENCH_RUNS ?? 5);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const show = (xs) => xs.map((x) => x.toFixed(0)).join(", ");
function report(what, xs, target) {
  const m = median(xs);
  console.log(`${what}: median ${m.toFixed(1)} ms (runs: ${show(xs)}) target < ${target} ms ${m < target ? "MET" : "MISSED"}`);
}

const browser = await launch();
async function freshPage() {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  await context.addInitScript((t) => sessionStorage.setItem("dyntag.token", t), TOKEN);
  return context.newPage();
}

async function run(page, sql) {
  await page.evaluate(() => (window.dyntagLastRun = undefined));
  await editorRun(page, sql);
  await page.waitForFunction(() => window.dyntagLastRun, null, { timeout: 120_000 });
  return page.evaluate(() => window.dyntagLastRun);
}

try {
  // 1. Load to a usable console: editor up, catalog loaded for completion, history shown.
  const ready = [];
  for (let i = 0; i < RUNS; i++) {
    const page = await freshPage();
    await page.goto(`${URL_}/#/query`);
    await page.waitForFunction(() => performance.getEntriesByName("dyntag-console-ready").length > 0);
    ready.push(await page.evaluate(() => performance.getEntriesByName("dyntag-console-ready")[0].startTime));
    await page.context().close();
  }
  report("usable console after load", ready, 1000);

  const page = await freshPage();
  await page.goto(`${URL_}/#/query`);
  await page.waitForFunction(() => performance.getEntriesByName("dyntag-console-ready").length > 0);

  // 2. Ctrl-Enter to the first rows of a dt_ query on the sample dataset.
  const first = [];
  for (let i = 0; i < RUNS; i++) {
    const r = await run(page, "SELECT * FROM dt_subjects_visual WHERE threshold_decision ORDER BY score DESC");
    first.push(r.firstRowsMs);
  }
  report("Ctrl-Enter to first rows (dt_subjects_visual)", first, 300);

  // 3. 100,000 rows streamed into the grid, then scrolled from top to bottom.
  const all = [];
  const firstBig = [];
  let rows = 0;
  for (let i = 0; i < RUNS; i++) {
    const r = await run(page, "SELECT v.coactive_image_id, v.tag_name, v.score, r.value AS copy FROM dt_subjects_visual v CROSS JOIN range(20) r LIMIT 100000");
    all.push(r.allRowsMs);
    firstBig.push(r.firstRowsMs);
    rows = r.rows;
  }
  console.log(`rows in the grid: ${rows}`);
  report("Ctrl-Enter to first rows (100,000-row query)", firstBig, 300);
  console.log(`Ctrl-Enter to all ${rows} rows in the grid: median ${median(all).toFixed(0)} ms (runs: ${show(all)})`);
  const frames = await page.evaluate(async () => {
    const grid = document.querySelector(".grid");
    const steps = 100;
    const times = [];
    for (let s = 1; s <= steps; s++) {
      const t0 = performance.now();
      grid.scrollTop = (grid.scrollHeight * s) / steps;
      await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
      times.push(performance.now() - t0);
    }
    const last = Number(grid.querySelector(".row:last-child")?.dataset.row ?? -1);
    return { times, last, domRows: grid.querySelectorAll(".row").length };
  });
  const sortedSteps = [...frames.times].sort((a, b) => a - b);
  const m = median(frames.times);
  console.log(`grid scroll step (100 jumps over 100,000 rows, to the second frame): median ${m.toFixed(1)} ms, p95 ${sortedSteps[94].toFixed(1)} ms, max ${sortedSteps[99].toFixed(1)} ms`);
  console.log(`  last row reached: ${frames.last + 1}; rows in the DOM: ${frames.domRows}`);

  // 4. A threshold change re-splitting the tag preview (to the next frame).
  await page.goto(`${URL_}/#/groups/subjects/tags/birds`);
  await page.waitForSelector('.cards[aria-label="positives"] figure.card');
  const split = await page.evaluate(async () => {
    const slider = document.querySelector("input[name=threshold]");
    const out = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      slider.value = String(0.05 + (i % 10) * 0.1);
      slider.dispatchEvent(new Event("input"));
      await new Promise((r) => requestAnimationFrame(() => r()));
      out.push(performance.now() - t0);
    }
    return { out, items: window.dyntagLastSplit.items };
  });
  report(`threshold re-split of a ${split.items}-item preview`, split.out, 100);

  // 5. The bundle.
  let raw = 0;
  let gz = 0;
  for (const f of ["/", "/assets/app.js", "/assets/app.css"]) {
    const bytes = Buffer.from(await (await fetch(`${URL_}${f}`)).arrayBuffer());
    raw += bytes.length;
    gz += gzipSync(bytes).length;
  }
  console.log(`bundle: ${(raw / 1024).toFixed(0)} KiB, ${(gz / 1024).toFixed(0)} KiB gzip; target < 1536 KiB gzip ${gz < 1536 * 1024 ? "MET" : "MISSED"}`);
} finally {
  await browser.close();
}
