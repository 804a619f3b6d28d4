// The tag page, tabs Video Frames, Video Shots and Transcripts: the compare view
// (positives and negatives side by side), positives or negatives only, the stratified view;
// a threshold slider that re-splits what is on screen at once; labelling from the items,
// from a semantic search and from the uncertain assets; the prompt editor.

import { api, enc, rows, sqlRows } from "../api";
import { fill, fmt, h, toast } from "../dom";
import { card, type Labeler } from "./cards";
import { itemId, openTag, type Item, type Tag } from "./model";
import { promptEditor } from "./prompts";

declare global {
  interface Window {
    /** Milliseconds the last threshold change took to re-split the preview (benchmark). */
    dyntagLastSplit?: { ms: number; items: number };
  }
}

type View = "compare" | "positives" | "negatives" | "stratified";

/** A quoted SQL identifier. */
export const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

export async function tagPage(root: HTMLElement, [slug, tagName]: string[], query: URLSearchParams): Promise<void> {
  const { group, tag, dataset, editor, base } = await openTag(slug, tagName);
  const tab = query.get("tab") ?? "frames";
  const tabLink = (id: string, label: string) =>
    h("a.tab", { href: `#/groups/${enc(slug)}/tags/${enc(tag.name)}?tab=${id}`, class: `tab ${tab === id ? "active" : ""}` }, label);
  const body = h("div.tag-body");
  fill(
    root,
    h("p.crumbs", {}, h("a", { href: `#/datasets/${enc(dataset)}` }, dataset), " / ", h("a", { href: `#/groups/${enc(slug)}` }, group.name), " / ", tag.name),
    h("h1", {}, tag.name, h("span.badge", { dataset: { status: tag.status } }, tag.status.replace(/_/g, " "))),
    h("nav.tabs", {}, tabLink("frames", "Video Frames"), tabLink("shots", "Video Shots"), tabLink("transcripts", "Transcripts"),
      group.latest_version > 0 ? h("a.tab", { href: `#/groups/${enc(slug)}/tags/${enc(tag.name)}/evaluate` }, "Evaluator") : null),
    body,
  );
  const reload = () => tagPage(root, [slug, tag.name], query);
  const label: Labeler = editor
    ? async (ids, positive) => {
        try {
          await api("POST", `${base}/labels`, { asset_ids: ids, positive });
          toast(`labelled ${ids.join(", ")} ${positive ? "positive" : "negative"}`);
          labelled.set(ids[0], positive);
          for (const el of root.querySelectorAll<HTMLElement>(`figure.card[data-id="${CSS.escape(ids[0])}"]`)) el.classList.add(positive ? "is-pos" : "is-neg");
        } catch (e) {
          toast((e as Error).message, "error");
        }
      }
    : null;
  const labelled = new Map((tag.labels ?? []).map((l) => [l.asset_id, l.positive]));
  if (tab === "transcripts") return transcripts(body, base, tag);
  if (tab === "shots") return shots(body, group.slug, tag, dataset, group.latest_version > 0);
  await frames(body, base, tag, dataset, editor, group.latest_version > 0, label, labelled, reload);
  body.appendChild(promptEditor(slug, tag, editor, reload));
  body.appendChild(finders(dataset, base, label, group.latest_version > 0));
}

async function frames(
  body: HTMLElement,
  base: string,
  tag: Tag,
  dataset: string,
  editor: boolean,
  published: boolean,
  label: Labeler,
  labelled: Map<string, boolean>,
  reload: () => Promise<void>,
): Promise<void> {
  let view: View = "compare";
  let threshold = tag.threshold;
  let pool: Item[] = [];
  const slider = h("input", { type: "range", name: "threshold", min: 0, max: 1, step: 0.01, value: threshold, "aria-label": "threshold" });
  const value = h("output", {}, threshold.toFixed(2));
  const pos = h("div.cards", { "aria-label": "positives" });
  const neg = h("div.cards", { "aria-label": "negatives" });
  const posHead = h("h3");
  const negHead = h("h3");
  const viewSelect = h(
    "select",
    { name: "view" },
    // The stratified view (10 per score bucket) once published, as in the product.
    ...(["compare", "positives", "negatives", "stratified"] as View[])
      .filter((v) => published || v !== "stratified")
      .map((v) => h("option", { value: v }, v)),
  );
  const load = async () => {
    const q = (mode: string, limit: number) => `${base}/preview?modality=visual&mode=${mode}&limit=${limit}&threshold=${threshold}`;
    if (view === "compare") {
      // The items of the compare view and of the stratified one: a spread over the whole
      // score range, so that moving the threshold re-splits without asking the server.
      const [a, b] = await Promise.all([api("GET", q("compare", 200)), api("GET", q("stratified", 100))]);
      const seen = new Set<string>();
      pool = [...rows<Item>(a), ...rows<Item>(b)].filter((i) => !seen.has(itemId(i)) && (seen.add(itemId(i)), true));
    } else {
      pool = rows<Item>(await api("GET", q(view, 200)));
    }
    split();
  };
  // One card per item, made once per load: a threshold change only moves cards between
  // the two sides.
  const made = new Map<string, HTMLElement>();
  const split = () => {
    const t0 = performance.now();
    const sorted = [...pool].sort((a, b) => b.score - a.score);
    const p = sorted.filter((i) => i.score >= threshold);
    const n = sorted.filter((i) => i.score < threshold);
    const cards = (items: Item[]) =>
      items.map((i) => {
        const key = `${itemId(i)}:${i.score}`;
        let el = made.get(key);
        if (!el) made.set(key, (el = card(dataset, i, label, labelled.get(itemId(i)))));
        return el;
      });
    fill(posHead, `Positives (score ≥ ${threshold.toFixed(2)}): ${p.length}`);
    fill(negHead, `Negatives: ${n.length}`);
    fill(pos, ...cards(p));
    fill(neg, ...cards(n));
    window.dyntagLastSplit = { ms: performance.now() - t0, items: pool.length };
  };
  slider.addEventListener("input", () => {
    threshold = Number(slider.value);
    value.textContent = threshold.toFixed(2);
    split();
  });
  viewSelect.addEventListener("change", () => {
    view = viewSelect.value as View;
    void load();
  });
  body.appendChild(
    h(
      "section.frames",
      {},
      h(
        "div.toolbar",
        {},
        h("label", {}, "View ", viewSelect),
        h("label.slider", {}, "Threshold ", slider, value),
        editor
          ? h("button", {
              onclick: async () => {
                await api("PATCH", base, { threshold });
                toast(`threshold of '${tag.name}' saved: ${threshold.toFixed(2)}`);
                await reload();
              },
            }, "Save threshold")
          : null,
        published ? null : h("span.muted", {}, "scores computed live from the prompts and labels"),
      ),
      h("div.split", {}, h("div.side", {}, posHead, pos), h("div.side", {}, negHead, neg)),
    ),
  );
  await load();
}

function finders(dataset: string, base: string, label: Labeler, published: boolean): HTMLElement {
  const q = h("input", { name: "search", placeholder: "search the dataset, e.g. a red bird" });
  const results = h("div.cards", { "aria-label": "search results" });
  const uncertain = h("div.cards", { "aria-label": "uncertain assets" });
  const heading = h("p.muted", {});
  const show = (found: Item[], what: string) => {
    heading.textContent = what;
    fill(results, ...found.map((i) => card(dataset, i, label, undefined, similar)));
  };
  // "Find similar": the items nearest a card's, itself left out, in place of the results.
  const similar = async (id: string) => {
    try {
      show(rows<Item>(await api("GET", `/api/datasets/${enc(dataset)}/similar?item=${enc(id)}&k=20&modality=visual`)), `similar to ${id}`);
    } catch (err) {
      fill(results, h("p.error", {}, (err as Error).message));
    }
  };
  return h(
    "section.panel.finders",
    {},
    h("h3", {}, "Find items to label"),
    h(
      "form",
      {
        onsubmit: async (e: Event) => {
          e.preventDefault();
          try {
            show(rows<Item>(await api("GET", `/api/datasets/${enc(dataset)}/search?q=${enc(q.value)}&k=20&modality=visual`)), `nearest '${q.value}'`);
          } catch (err) {
            fill(results, h("p.error", {}, (err as Error).message));
          }
        },
      },
      q,
      h("button", { type: "submit" }, "Search"),
    ),
    heading,
    results,
    published
      ? h("div", {}, h("button", {
          onclick: async () => {
            try {
              const items = rows<Item>(await api("GET", `${base}/uncertain?k=20`));
              fill(uncertain, ...items.map((i) => card(dataset, i, label, undefined, similar)));
            } catch (err) {
              fill(uncertain, h("p.error", {}, (err as Error).message));
            }
          },
        }, "Uncertain assets"), uncertain)
      : null,
  );
}

async function transcripts(body: HTMLElement, base: string, tag: Tag): Promise<void> {
  const lines = rows<Item>(await api("GET", `${base}/preview?modality=transcript&mode=top&limit=200`));
  let threshold = tag.threshold;
  let sortKey = "score";
  let desc = true;
  const slider = h("input", { type: "range", name: "transcript-threshold", min: 0, max: 1, step: 0.01, value: threshold, "aria-label": "transcript threshold" });
  const value = h("output", {}, threshold.toFixed(2));
  const tbody = h("tbody");
  const cols = ["coactive_video_id", "time_ms", "detail", "score"];
  const heads: Record<string, string> = { coactive_video_id: "video", time_ms: "time", detail: "line", score: "score" };
  const render = () => {
    const sorted = [...lines].sort((a, b) => ((a[sortKey] as number) < (b[sortKey] as number) ? -1 : 1) * (desc ? -1 : 1));
    fill(
      tbody,
      ...sorted.map((l) =>
        h("tr", { class: l.score >= threshold ? "above" : "below" }, ...cols.map((c) =>
          h("td", {}, c === "score" ? fmt(l.score, 3) : c === "time_ms" ? `${((l.time_ms as number) / 1000).toFixed(1)} s` : fmt(l[c])))),
      ),
    );
  };
  slider.addEventListener("input", () => {
    threshold = Number(slider.value);
    value.textContent = threshold.toFixed(2);
    render();
  });
  fill(
    body,
    h("div.toolbar", {}, h("label.slider", {}, "Transcript threshold ", slider, value), h("span.muted", {}, `${lines.length} lines, best first`)),
    h(
      "table.list.transcripts",
      {},
      h("thead", {}, h("tr", {}, ...cols.map((c) => h("th", { onclick: () => ((desc = sortKey === c ? !desc : true), (sortKey = c), render()), title: "click to sort" }, heads[c])))),
      tbody,
    ),
  );
  render();
}

async function shots(body: HTMLElement, slug: string, tag: Tag, dataset: string, published: boolean): Promise<void> {
  if (!published) {
    fill(body, h("p.muted", {}, "Shots are scored when the group is published; the Video Frames tab previews the keyframes now."));
    return;
  }
  const list = await sqlRows<Record<string, unknown>>(
    `SELECT * FROM ${ident(`dt_${slug}_shot`)} WHERE tag_name = '${tag.name.replace(/'/g, "''")}' ORDER BY score DESC LIMIT 200`,
    dataset,
  );
  const cols = list.length ? Object.keys(list[0]).filter((c) => c !== "embedding") : [];
  fill(
    body,
    h("p.muted", {}, `${list.length} shots, best first`),
    h(
      "table.list",
      {},
      h("thead", {}, h("tr", {}, ...cols.map((c) => h("th", {}, c)))),
      h("tbody", {}, ...list.map((s) => h("tr", { class: s.threshold_decision ? "above" : "below" }, ...cols.map((c) =>
        h("td", {}, c === "coactive_video_id" ? h("a", { href: `#/datasets/${enc(dataset)}/videos/${enc(String(s[c]))}` }, fmt(s[c])) : fmt(s[c])))))),
    ),
  );
}
