// Add group: a name, the training dataset, one tag per line; the product's name rules
// checked as you type.

import { api, enc } from "../api";
import { fill, h, toast } from "../dom";

/** The product's rules for tag and group names (the server checks them too). */
export function nameProblem(name: string, what: string): string | null {
  if (!name.trim()) return `a ${what} needs a name`;
  if (name.length > 64) return `${what} names are at most 64 characters`;
  if (!/^[\p{L}\p{N} ]+$/u.test(name)) return `${what} names use letters, digits and spaces only ('${name}')`;
  return null;
}

export async function addGroupPage(root: HTMLElement, [dataset]: string[]): Promise<void> {
  const name = h("input", { name: "group", placeholder: "Topics", required: true });
  const tags = h("textarea", { name: "tags", rows: 10, placeholder: "one tag per line\ncooking\nfootball\nweather forecast" });
  const problems = h("ul.problems", { "aria-live": "polite" });
  const submit = h("button.primary", { type: "submit", disabled: true }, "Create group");
  const check = () => {
    const lines = tags.value.split("\n").map((l) => l.trim()).filter(Boolean);
    const issues = [nameProblem(name.value, "group"), ...lines.map((l) => nameProblem(l, "tag"))].filter(Boolean) as string[];
    const dupes = lines.filter((l, i) => lines.findIndex((m) => m.toLowerCase() === l.toLowerCase()) !== i);
    if (dupes.length) issues.push(`repeated tags: ${dupes.join(", ")}`);
    if (!lines.length) issues.push("add at least one tag");
    fill(problems, ...issues.map((p) => h("li", {}, p)));
    submit.disabled = issues.length > 0;
  };
  name.addEventListener("input", check);
  tags.addEventListener("input", check);
  fill(
    root,
    h("p.crumbs", {}, h("a", { href: "#/datasets" }, "Datasets"), " / ", h("a", { href: `#/datasets/${enc(dataset)}` }, dataset), " / add group"),
    h("h1", {}, "Add group"),
    h(
      "form.add-group",
      {
        onsubmit: async (e: Event) => {
          e.preventDefault();
          try {
            const r = await api("POST", `/api/datasets/${enc(dataset)}/groups`, { name: name.value.trim(), tags: tags.value });
            toast(r.message);
            location.hash = `#/groups/${enc(r.group)}`;
          } catch (err) {
            fill(problems, h("li", {}, (err as Error).message));
          }
        },
      },
      h("label", {}, "Name ", name),
      h("label", {}, "Training dataset ", h("input", { value: dataset, disabled: true })),
      h("label", {}, "Tags (one per line)", tags),
      problems,
      submit,
    ),
  );
  check();
}
