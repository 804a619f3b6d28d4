// The datasets the caller sees, with their role and sizes.

import { api, rows } from "../api";
import { fill, fmt, h } from "../dom";

export async function datasetsPage(root: HTMLElement): Promise<void> {
  const list = rows<Record<string, unknown>>(await api("GET", "/api/datasets"));
  fill(
    root,
    h("h1", {}, "Datasets"),
    h(
      "table.list",
      {},
      h("thead", {}, h("tr", {}, ...["dataset", "your role", "images and keyframes", "videos", "shots", "transcript segments", "visual model"].map((c) => h("th", {}, c)))),
      h(
        "tbody",
        {},
        ...list.map((d) =>
          h(
            "tr",
            {},
            h("td", {}, h("a", { href: `#/datasets/${encodeURIComponent(String(d.dataset))}` }, String(d.dataset))),
            ...["your_role", "images_and_keyframes", "videos", "shots", "transcript_segments", "visual_model"].map((k) => h("td", {}, fmt(d[k]))),
          ),
        ),
      ),
    ),
  );
}
