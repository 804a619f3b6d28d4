// Item cards: a thumbnail with its score, and hover buttons that label it (and, where a
// search shows it, one that finds similar items).

import { thumbImg } from "../api";
import { fmt, h } from "../dom";
import { itemId, type Item } from "./model";

export type Labeler = ((ids: string[], positive: boolean) => Promise<void>) | null;

export function card(dataset: string, item: Item, label: Labeler, labelled?: boolean, similar?: (id: string) => void): HTMLElement {
  const id = itemId(item);
  const findSimilar = similar
    ? h("button.similar", { title: "find similar items", "aria-label": `find items similar to ${id}`, onclick: () => similar(id) }, "≈")
    : null;
  return h(
    "figure.card",
    { dataset: { id, score: String(item.score) }, title: id },
    thumbImg(dataset, id),
    h("figcaption", {}, h("span.score", {}, fmt(item.score, 3)), labelled !== undefined ? h("span.labelled", {}, labelled ? " ✓ labelled +" : " ✓ labelled −") : null),
    label || findSimilar
      ? h(
          "div.hover",
          {},
          label ? h("button.pos", { title: "label positive", "aria-label": `label ${id} positive`, onclick: () => label([id], true) }, "+") : null,
          label ? h("button.neg", { title: "label negative", "aria-label": `label ${id} negative`, onclick: () => label([id], false) }, "−") : null,
          findSimilar,
        )
      : null,
  );
}
