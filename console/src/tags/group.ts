// Group overview: every tag with its status, threshold and prompt count; add a tag;
// publish (secret or shareable), refused with the tags still to review; versions.

import { api, canEdit, enc, rows, whoAmI } from "../api";
import { fill, fmt, h, toast } from "../dom";
import { nameProblem } from "./addgroup";
import type { Group } from "./model";

export async function groupPage(root: HTMLElement, [slug]: string[]): Promise<void> {
  const me = await whoAmI();
  const g = await api<Group>("GET", `/api/groups/${enc(slug)}`);
  const editor = canEdit(me, g.training_dataset);
  const versions = rows<Record<string, unknown>>(await api("GET", `/api/groups/${enc(slug)}/versions`)).reverse();
  const message = h("p.message", { "aria-live": "polite" });
  const publish = (visibility: string) => async () => {
    try {
      const r = await api("POST", `/api/groups/${enc(slug)}/publish`, { visibility });
      toast(r.message);
      await groupPage(root, [slug]);
    } catch (e) {
      fill(message, h("span.error", { role: "alert" }, (e as Error).message));
    }
  };
  const newTag = h("input", { name: "new-tag", placeholder: "new tag" });
  fill(
    root,
    h("p.crumbs", {}, h("a", { href: "#/datasets" }, "Datasets"), " / ", h("a", { href: `#/datasets/${enc(g.training_dataset)}` }, g.training_dataset), " / ", g.name),
    h("h1", {}, g.name, h("span.badge", {}, g.status), h("span.badge", {}, g.visibility)),
    h("p", {}, `Trained on ${g.training_dataset} · tables dt_${g.slug}_visual, _transcript, _shot, _video · revision ${g.revision}`),
    h(
      "table.list.tags",
      {},
      h("thead", {}, h("tr", {}, ...["tag", "status", "threshold", "positive prompts", "negative prompts", "labels", ""].map((c) => h("th", {}, c)))),
      h(
        "tbody",
        {},
        ...g.tags.map((t) =>
          h(
            "tr",
            { dataset: { tag: t.name } },
            h("td", {}, h("a", { href: `#/groups/${enc(slug)}/tags/${enc(t.name)}` }, t.name)),
            h("td", {}, h("span.status", { dataset: { status: t.status } }, t.status.replace(/_/g, " "))),
            h("td", {}, fmt(t.threshold, 2)),
            h("td", {}, t.prompts.filter((p) => p.polarity === "positive").length),
            h("td", {}, t.prompts.filter((p) => p.polarity === "negative").length),
            h("td", {}, (t.labels ?? []).length),
            h("td", {}, g.latest_version > 0 ? h("a", { href: `#/groups/${enc(slug)}/tags/${enc(t.name)}/evaluate` }, "Evaluate") : null),
          ),
        ),
      ),
    ),
    editor
      ? h(
          "div.toolbar",
          {},
          h(
            "form",
            {
              onsubmit: async (e: Event) => {
                e.preventDefault();
                const p = nameProblem(newTag.value.trim(), "tag");
                if (p) return fill(message, h("span.error", {}, p));
                try {
                  await api("POST", `/api/groups/${enc(slug)}/tags`, { name: newTag.value.trim() });
                  await groupPage(root, [slug]);
                } catch (err) {
                  fill(message, h("span.error", {}, (err as Error).message));
                }
              },
            },
            newTag,
            h("button", { type: "submit" }, "Add tag"),
          ),
          h("span.spacer"),
          h("button.primary", { onclick: publish("secret") }, "Publish (secret)"),
          h("button", { onclick: publish("shareable") }, "Publish (shareable)"),
        )
      : h("p.muted", {}, "You can view this group; editing needs the editor role on its training dataset."),
    message,
    h("h3", {}, "Versions"),
    versions.length
      ? h("table.list", {}, h("tbody", {}, ...versions.map((v) => h("tr", {}, ...Object.values(v).slice(0, 6).map((x) => h("td", {}, fmt(x)))))))
      : h("p.muted", {}, "not published yet"),
  );
}
