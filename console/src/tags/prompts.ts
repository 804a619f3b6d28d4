// The prompt editor of a tag: positive and negative prompts per modality, and suggestions
// to pick from (the configured LLM, else offline templates and transcript sentences).

import { api, enc, rows } from "../api";
import { fill, h, toast } from "../dom";
import type { Tag } from "./model";

export function promptEditor(slug: string, tag: Tag, editor: boolean, changed: () => Promise<void>): HTMLElement {
  const base = `/api/groups/${enc(slug)}/tags/${enc(tag.name)}`;
  const text = h("input", { name: "prompt", placeholder: "a prompt, e.g. a wall clock with hands" });
  const polarity = h("select", { name: "polarity" }, h("option", { value: "positive" }, "positive"), h("option", { value: "negative" }, "negative"));
  const modality = h("select", { name: "modality" }, ...["visual", "transcript", "both"].map((m) => h("option", { value: m }, m)));
  const suggestions = h("ul.suggestions");
  const add = async (t: string, pol: string, mod: string) => {
    try {
      await api("POST", `${base}/prompts`, { text: t, polarity: pol, modality: mod });
      toast(`added ${pol} prompt '${t}'`);
      await changed();
    } catch (e) {
      toast((e as Error).message, "error");
    }
  };
  const list = h(
    "ul.prompts",
    {},
    ...tag.prompts.map((p) =>
      h(
        "li",
        { dataset: { polarity: p.polarity } },
        h("span.badge", {}, p.polarity === "negative" ? "−" : "+"),
        ` ${p.text} `,
        h("span.muted", {}, p.modality),
        editor
          ? h("button.link", {
              title: "remove",
              "aria-label": `remove prompt ${p.text}`,
              onclick: async () => {
                await api("DELETE", `${base}/prompts`, { text: p.text, polarity: p.polarity, modality: p.modality });
                await changed();
              },
            }, "×")
          : null,
      ),
    ),
    tag.prompts.length ? null : h("li.muted", {}, "no prompts: the tag's name is its prompt"),
  );
  return h(
    "section.panel.prompt-editor",
    {},
    h("h3", {}, "Prompts"),
    list,
    editor
      ? h(
          "form",
          { onsubmit: (e: Event) => (e.preventDefault(), text.value.trim() && void add(text.value.trim(), polarity.value, modality.value)) },
          text,
          polarity,
          modality,
          h("button", { type: "submit" }, "Add prompt"),
        )
      : null,
    editor
      ? h(
          "div",
          {},
          h("button", {
            onclick: async () => {
              const mod = modality.value === "transcript" ? "transcript" : "visual";
              const s = rows<{ prompt: string; source: string }>(await api("GET", `${base}/suggestions?modality=${mod}`));
              fill(
                suggestions,
                ...s.map((x) => h("li", {}, `${x.prompt} `, h("span.muted", {}, x.source), " ",
                  h("button.link", { onclick: () => add(x.prompt, polarity.value, mod) }, `add as ${polarity.value}`))),
              );
            },
          }, "Suggest prompts"),
          suggestions,
        )
      : null,
  );
}
