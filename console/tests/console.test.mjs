// The console in a real browser (Debian Chromium driven by playwright-core), against a
// running `dyntag serve` over the demo dataset: DYNTAG_HTTP_URL, DYNTAG_TOKEN (an admin),
// DYNTAG_REPO (for the sample labels file). One journey, step by step; each page is
// captured as a screenshot in DYNTAG_SCREENSHOTS.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { URL_, TOKEN, call, clearEditor, editorRun, launch, newPage, shot, signIn, sql } from "./browser.mjs";
import { fileURLToPath } from "node:url";

const REPO = process.env.DYNTAG_REPO ?? join(fileURLToPath(new URL("../..", import.meta.url)));
const GROUP = "console_test";

async function cards(page, label) {
  return page.$$eval(`.cards[aria-label="${label}"] figure.card`, (els) => els.map((e) => `${e.dataset.id}:${e.dataset.score}`));
}

test("the console, end to end", { timeout: 240_000 }, async (t) => {
  const problems = [];
  const browser = await launch();
  const page = await newPage(browser, problems);
  try {
    await t.test("sign in with a token", async () => {
      await page.goto(`${URL_}/`);
      await page.waitForSelector("form.signin");
      await shot(page, "01-sign-in");
      await page.fill("input[name=token]", "not-the-token-at-all");
      await page.click("form.signin button[type=submit]");
      await page.waitForSelector("form.signin p.error:not(:empty)");
      await signIn(page, TOKEN);
      assert.match(await page.textContent("header.top .user"), /admin/);
    });

    await t.test("run a query; rows and a thumbnail in the grid", async () => {
      await page.waitForSelector(".cm-content");
      await editorRun(page, "SELECT coactive_image_id, tag_name, score FROM dt_subjects_visual WHERE threshold_decision ORDER BY score DESC LIMIT 50");
      await page.waitForSelector(".grid .row");
      assert.match(await page.textContent(".status"), /^50 rows in \d+ ms$/);
      const rowCount = await page.$$eval(".grid .row", (r) => r.length);
      assert.ok(rowCount > 5 && rowCount <= 50, `the grid renders the rows in view (${rowCount})`);
      assert.match(await page.textContent(".grid .row .cell:nth-child(2)"), /^[a-z]+$/);
      await page.waitForFunction(() => {
        const img = document.querySelector(".grid img.thumb");
        return img && img.src.startsWith("blob:") && img.complete && img.naturalWidth > 0;
      });
      await shot(page, "02-query-console");
    });

    await t.test("sorting, an error with its position, the history", async () => {
      await page.click(".grid-head .cell:nth-child(3)");
      const first = Number(await page.textContent(".grid .row[data-row='0'] .cell:nth-child(3)"));
      const second = Number(await page.textContent(".grid .row[data-row='1'] .cell:nth-child(3)"));
      assert.ok(first <= second, `ascending after a click on the head (${first}, ${second})`);
      await editorRun(page, "SELECT nosuchcolumn FROM dt_subjects_visual");
      await page.waitForSelector("pre.error");
      assert.match(await page.textContent("pre.error"), /nosuchcolumn/);
      await editorRun(page, "SELEC 1");
      await page.waitForSelector(".cm-lintRange-error");
      await page.waitForSelector("ol.history li");
      assert.match(await page.textContent("ol.history"), /nosuchcolumn/);
      await shot(page, "03-query-error");
    });

    await t.test("completion offers a dt_ table", async () => {
      await clearEditor(page);
      await page.keyboard.type("SELECT * FROM dt_subj");
      await page.keyboard.press("Control+Space");
      await page.waitForSelector(".cm-tooltip-autocomplete");
      assert.match(await page.textContent(".cm-tooltip-autocomplete"), /dt_subjects_visual/);
      await shot(page, "04-completion");
      await page.keyboard.press("Escape");
    });

    await t.test("several statements in one go, one result tab each", async () => {
      await editorRun(page, "SHOW TAG GROUPS;\nSELECT 'a;b' AS text; -- a semicolon in a string\nSELECT 42 AS answer;", "Shift+Control+Enter");
      await page.waitForSelector(".grid-head .cell:text('answer')");
      assert.equal(await page.$$eval(".tabs .tab", (t) => t.length), 3);
      assert.match(await page.textContent(".tabs .tab:nth-child(3)"), /^3: SELECT 42/);
      assert.match(await page.textContent(".grid .row .cell"), /^42$/);
      await page.click(".tabs .tab:nth-child(2)");
      await page.waitForSelector(".grid-head .cell:text('text')");
      assert.match(await page.textContent(".grid .row .cell"), /^a;b$/);
    });

    await t.test("cancel a running query: the server stops it", async () => {
      const running = async () => (await call("GET", "/api/running", TOKEN)).body.running.length;
      await editorRun(page, "SELECT count(*) FROM range(20000000000) WHERE value % 7 = 3");
      for (let i = 0; i < 100 && (await running()) === 0; i++) await page.waitForTimeout(50);
      assert.equal(await running(), 1, "the query runs on the server");
      await page.click("button:text('Cancel')");
      await page.waitForSelector("pre.error:text('cancelled')");
      assert.equal(await page.textContent(".status"), "cancelled");
      for (let i = 0; i < 100 && (await running()) > 0; i++) await page.waitForTimeout(50);
      assert.equal(await running(), 0, "and stops it");
    });

    await t.test("a chart of a result, and the downloads", async () => {
      await editorRun(page, "SELECT tag_name, count(*) AS tagged FROM dt_subjects_visual WHERE threshold_decision GROUP BY 1 ORDER BY 2 DESC");
      await page.waitForSelector(".grid .row");
      await page.click("button:text('Chart')");
      await page.waitForSelector(".chart-out svg");
      await shot(page, "05-chart");
      for (const [label, magic] of [["CSV", "tag_name,tagged"], ["Parquet", "PAR1"], ["Arrow", null]]) {
        const [download] = await Promise.all([page.waitForEvent("download"), page.click(`button:text-is('${label}')`)]);
        const path = await download.path();
        const bytes = (await import("node:fs")).readFileSync(path);
        assert.ok(bytes.length > 0, `${label} download`);
        if (magic) assert.equal(bytes.subarray(0, magic.length).toString(), magic);
      }
    });

    await t.test("datasets and manage groups", async () => {
      await page.goto(`${URL_}/#/datasets`);
      await page.waitForSelector("table.list a");
      await page.click("text=demo");
      await page.waitForSelector("tr[data-group=subjects]");
      assert.match(await page.textContent("tr[data-group=subjects] .scoring"), /scored/);
      await shot(page, "06-manage-groups");
    });

    await t.test("create a group from a bulk list; names checked as you type", async () => {
      await page.click("text=+ Add group");
      await page.fill("input[name=group]", "Console Test");
      await page.fill("textarea[name=tags]", "boats\nhats_v1");
      await page.waitForSelector("ul.problems li");
      assert.match(await page.textContent("ul.problems"), /letters, digits and spaces/);
      assert.ok(await page.isDisabled("form.add-group button[type=submit]"));
      await page.fill("textarea[name=tags]", "boats\nhats\nmusic");
      await page.waitForFunction(() => !document.querySelector("form.add-group button[type=submit]").disabled);
      await shot(page, "07-add-group");
      await page.click("form.add-group button[type=submit]");
      await page.waitForSelector("table.tags tr[data-tag=music]");
      assert.equal(await page.$$eval("table.tags [data-status=needs_review]", (e) => e.length), 3);
    });

    await t.test("publishing is refused while tags need review", async () => {
      await page.click("button:text('Publish (secret)')");
      await page.waitForSelector("p.message .error");
      assert.match(await page.textContent("p.message"), /still need review.*boats, hats, music/);
      await shot(page, "08-group-overview");
    });

    await t.test("open every tag", async () => {
      for (const tag of ["boats", "hats", "music"]) {
        await page.goto(`${URL_}/#/groups/${GROUP}/tags/${tag}`);
        await page.waitForSelector('.cards[aria-label="positives"] figure.card, .cards[aria-label="negatives"] figure.card');
        await shot(page, `09-tag-${tag}`);
        assert.equal(await page.$("select[name=view] option[value=stratified]"), null, "no stratified view before publishing");
      }
      for (const tab of ["shots", "transcripts"]) {
        await page.goto(`${URL_}/#/groups/${GROUP}/tags/music?tab=${tab}`);
        await page.waitForSelector(tab === "transcripts" ? "table.transcripts tbody tr" : "text=Shots are scored when the group is published");
        await shot(page, `10-tag-music-${tab}`);
      }
      await page.goto(`${URL_}/#/groups/${GROUP}`);
      await page.waitForSelector("table.tags");
      assert.equal(await page.$$eval("table.tags [data-status=draft]", (e) => e.length), 3);
    });

    await t.test("a negative prompt changes the preview", async () => {
      await page.goto(`${URL_}/#/groups/${GROUP}/tags/boats`);
      await page.waitForSelector('.cards[aria-label="positives"] figure.card');
      const before = [...(await cards(page, "positives")), ...(await cards(page, "negatives"))].sort();
      await page.fill("input[name=prompt]", "a car on a road");
      await page.selectOption("select[name=polarity]", "negative");
      await page.selectOption("select[name=modality]", "visual");
      await page.click("form >> text=Add prompt");
      await page.waitForSelector("ul.prompts li[data-polarity=negative]");
      await page.waitForSelector('.cards[aria-label="positives"] figure.card');
      const after = [...(await cards(page, "positives")), ...(await cards(page, "negatives"))].sort();
      assert.notDeepEqual(after, before, "the scores of the preview changed");
      await shot(page, "11-negative-prompt");
    });

    await t.test("moving the threshold re-splits the preview", async () => {
      const count = async () => (await cards(page, "positives")).length;
      await page.fill("input[name=threshold]", "0.05");
      const low = await count();
      await page.fill("input[name=threshold]", "0.95");
      const high = await count();
      assert.ok(low > high, `more positives at 0.05 (${low}) than at 0.95 (${high})`);
      assert.match(await page.textContent(".split h3"), /score ≥ 0\.95/);
      await shot(page, "12-threshold");
      await page.click("button:text('Save threshold')");
      await page.waitForSelector(".toast:text('saved')");
    });

    await t.test("label two items from a search", async () => {
      await page.fill("input[name=search]", "a sailing boat on the water");
      await page.click("section.finders button[type=submit]");
      await page.waitForSelector('.cards[aria-label="search results"] figure.card');
      const hits = await page.$$('.cards[aria-label="search results"] figure.card');
      for (const hit of hits.slice(0, 2)) {
        await hit.hover();
        await (await hit.$("button.pos")).click();
        await page.waitForFunction((el) => el.classList.contains("is-pos"), hit);
      }
      await shot(page, "13-search-labels");
      const labels = (await call("GET", `/api/groups/${GROUP}/tags/boats/labels`, TOKEN)).body.rows;
      assert.equal(labels.filter((l) => l.label === "positive").length, 2);
    });

    await t.test("find items similar to a search result", async () => {
      const first = await page.$('.cards[aria-label="search results"] figure.card');
      const id = await first.getAttribute("data-id");
      await first.hover();
      await (await first.$("button.similar")).click();
      await page.waitForSelector(`section.finders p.muted:text("similar to ${id}")`);
      const ids = await page.$$eval('.cards[aria-label="search results"] figure.card', (cards) => cards.map((c) => c.dataset.id));
      assert.equal(ids.length, 20);
      assert.ok(!ids.includes(id), "the item itself is left out");
      const scores = await page.$$eval('.cards[aria-label="search results"] figure.card', (cards) => cards.map((c) => Number(c.dataset.score)));
      assert.deepEqual(scores, [...scores].sort((a, b) => b - a), "nearest first");
    });

    await t.test("publish, and scoring finishes", async () => {
      await page.goto(`${URL_}/#/groups/${GROUP}`);
      await page.click("button:text('Publish (secret)')");
      await page.waitForSelector(".toast:has-text('version 1')");
      await page.goto(`${URL_}/#/datasets/demo`);
      await page.waitForSelector(`tr[data-group=${GROUP}] .scoring:text('scored')`, { timeout: 120_000 });
      await shot(page, "14-published");
    });

    let before;
    await t.test("evaluate with the sample labels file; save the recommended threshold", async () => {
      before = await sql(TOKEN, `SELECT count(*) FILTER (WHERE threshold_decision) AS n FROM dt_${GROUP}_visual WHERE tag_name = 'boats'`);
      await page.goto(`${URL_}/#/groups/${GROUP}/tags/boats/evaluate`);
      await page.click("button:text('Draw sample')");
      await page.waitForSelector(".cards.eval figure.card");
      await page.setInputFiles("input[name=labels-file]", join(REPO, "sample-data/truth/labels.csv"));
      await page.click("button:text('Upload labels')");
      await page.waitForSelector(".metrics svg");
      await page.waitForSelector(".readout .metric[data-metric=f1]");
      const rec = await page.textContent(".metrics .toolbar span");
      assert.match(rec, /recommended \(best F1\): 0\.\d\d/);
      await page.fill("input[name=eval-threshold]", "0.2");
      assert.match(await page.textContent(".readout"), /^threshold 0\.20/);
      await shot(page, "15-evaluator");
      await page.click("button:text('Save recommended threshold')");
      await page.waitForSelector("p.message:has-text('saved threshold')");
    });

    await t.test("threshold_decision changed over SQL", async () => {
      const [tag] = await sql(TOKEN, `SELECT threshold FROM system.tags WHERE group_slug = '${GROUP}' AND tag_name = 'boats'`);
      assert.notEqual(tag.threshold, 0.95, "the saved threshold replaced the slider's");
      const [after] = await sql(TOKEN, `SELECT count(*) FILTER (WHERE threshold_decision) AS n, count(*) FILTER (WHERE score >= ${tag.threshold}) AS expected FROM dt_${GROUP}_visual WHERE tag_name = 'boats'`);
      assert.equal(after.n, after.expected, "threshold_decision follows the saved threshold");
      assert.notEqual(after.n, before[0].n, `threshold_decision changed (${before[0].n} -> ${after.n})`);
    });

    await t.test("the video view", async () => {
      await page.goto(`${URL_}/#/datasets/demo/videos/field-notes-e01-wings-and-fins`);
      await page.waitForSelector(".timeline img.thumb");
      await page.waitForSelector(".strip[data-tag=birds]");
      assert.ok((await page.$$("table.transcript tr")).length > 0);
      await shot(page, "16-video");
    });

    await t.test("a viewer sees no edit control, and the API refuses an edit", async () => {
      const user = await call("POST", "/api/users", TOKEN, { name: "console_viewer" });
      assert.equal(user.status, 201, JSON.stringify(user.body));
      const viewerToken = user.body.rows[0].token;
      assert.equal((await call("PUT", "/api/datasets/demo/roles/console_viewer", TOKEN, { role: "viewer" })).status, 200);
      const viewer = await newPage(browser, problems);
      await signIn(viewer, viewerToken, "console_viewer");
      await viewer.goto(`${URL_}/#/datasets/demo`);
      await viewer.waitForSelector("tr[data-group=subjects]");
      assert.equal(await viewer.$("text=+ Add group"), null);
      await viewer.goto(`${URL_}/#/groups/${GROUP}`);
      await viewer.waitForSelector("table.tags");
      assert.equal(await viewer.$("button:text('Publish (secret)')"), null);
      await viewer.goto(`${URL_}/#/groups/${GROUP}/tags/boats`);
      await viewer.waitForSelector('.cards[aria-label="positives"] figure.card, .cards[aria-label="negatives"] figure.card');
      for (const edit of ["button:text('Save threshold')", "figure.card button.pos", "input[name=prompt]", "button:text('Suggest prompts')"]) {
        assert.equal(await viewer.$(edit), null, `no ${edit} for a viewer`);
      }
      assert.ok(await viewer.$("select[name=view] option[value=stratified]"), "the stratified view once published");
      await shot(viewer, "17-viewer-tag");
      const refused = await viewer.evaluate(async () => {
        const r = await fetch("/api/groups/console_test/tags/boats", {
          method: "PATCH",
          headers: { Authorization: `Bearer ${sessionStorage.getItem("dyntag.token")}`, "Content-Type": "application/json" },
          body: JSON.stringify({ threshold: 0.1 }),
        });
        return { status: r.status, body: await r.json() };
      });
      assert.equal(refused.status, 403);
      assert.equal(refused.body.code, "permission_denied");
    });

    assert.deepEqual(problems, [], "no page error and no request to another origin");
  } finally {
    await browser.close();
  }
});
