// The video view (beyond the product): the video's keyframes along its timeline with a
// score strip per tag of each scored group, and its transcript beside it, each line with
// its tag scores.

import { api, enc, rows, sqlRows, thumbImg } from "../api";
import { fill, fmt, h } from "../dom";
import { ident } from "./tag";

const quote = (s: string) => `'${s.replace(/'/g, "''")}'`;

export async function videoPage(root: HTMLElement, [dataset, video]: string[]): Promise<void> {
  const frames = await sqlRows<{ coactive_image_id: string; keyframe_time_ms: number }>(
    `SELECT coactive_image_id, keyframe_time_ms FROM coactive_table WHERE coactive_video_id = ${quote(video)} ORDER BY keyframe_time_ms`,
    dataset,
  );
  const groups = rows<{ table_prefix: string; scoring_status: string | null; group_name: string }>(
    await api("GET", `/api/datasets/${enc(dataset)}/groups`),
  ).filter((g) => g.scoring_status === "scored");
  const strips: HTMLElement[] = [];
  const lineScores = new Map<string, HTMLElement[]>();
  const lines = await sqlRows<{ segment_id: string; start_time_ms: number; text: string }>(
    `SELECT segment_id, start_time_ms, text FROM coactive_transcripts WHERE coactive_video_id = ${quote(video)} ORDER BY start_time_ms`,
    dataset,
  );
  for (const g of groups) {
    const visual = await sqlRows<{ coactive_image_id: string; tag_name: string; score: number; threshold_decision: boolean }>(
      `SELECT coactive_image_id, tag_name, score, threshold_decision FROM ${ident(`${g.table_prefix}_visual`)} WHERE coactive_video_id = ${quote(video)}`,
      dataset,
    );
    const byTag = new Map<string, Map<string, { score: number; on: boolean }>>();
    for (const r of visual) (byTag.get(r.tag_name) ?? byTag.set(r.tag_name, new Map()).get(r.tag_name)!).set(r.coactive_image_id, { score: r.score, on: r.threshold_decision });
    for (const [tag, scores] of byTag) {
      strips.push(
        h("div.strip", { dataset: { tag } }, h("span.name", { title: g.group_name }, tag),
          ...frames.map((f) => {
            const s = scores.get(f.coactive_image_id);
            const v = s?.score ?? 0;
            return h("span.bar", { title: `${tag} ${fmt(v, 3)}`, style: { background: `rgba(59,111,182,${v.toFixed(3)})`, outline: s?.on ? "2px solid #1f8a4c" : "none" } });
          })),
      );
    }
    const spoken = await sqlRows<{ segment_id: string; tag_name: string; score: number; threshold_decision: boolean }>(
      `SELECT segment_id, tag_name, score, threshold_decision FROM ${ident(`${g.table_prefix}_transcript`)} WHERE coactive_video_id = ${quote(video)} ORDER BY score DESC`,
      dataset,
    );
    for (const r of spoken) {
      if (!lineScores.has(r.segment_id)) lineScores.set(r.segment_id, []);
      lineScores.get(r.segment_id)!.push(h("span", { class: r.threshold_decision ? "on" : "" }, `${r.tag_name} ${fmt(r.score, 2)}`));
    }
  }
  fill(
    root,
    h("p.crumbs", {}, h("a", { href: `#/datasets/${enc(dataset)}` }, dataset), " / video ", video),
    h("h1", {}, video),
    h(
      "div.video",
      {},
      h(
        "section",
        {},
        h("div.track", {},
          h("div.timeline", {}, h("span.name", {}, "keyframes"), ...frames.map((f) => h("figure.frame", {}, thumbImg(dataset, f.coactive_image_id), h("figcaption", {}, `${(f.keyframe_time_ms / 1000).toFixed(1)} s`)))),
          h("h3", {}, "Tag scores per keyframe (darker is higher; outlined: tagged)"),
          ...strips),
        strips.length ? null : h("p.muted", {}, "no scored group on this dataset"),
      ),
      h(
        "section",
        {},
        h("h3", {}, "Transcript"),
        h("table.list.transcript", {}, h("tbody", {}, ...lines.map((l) =>
          h("tr", {}, h("td", {}, `${(l.start_time_ms / 1000).toFixed(1)} s`), h("td", {}, l.text, h("div.line-scores", {}, ...(lineScores.get(l.segment_id) ?? []))))))),
      ),
    ),
  );
}
