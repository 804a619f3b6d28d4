// A dataset's "manage groups": the groups trained or applied on it, their applied version,
// update available, scoring status with live progress; apply a shareable group found by
// name, update, remove.

import { api, canEdit, enc, rows, whoAmI } from "../api";
import { fill, fmt, h, toast } from "../dom";

interface GroupRow {
  group_name: string;
  table_prefix: string;
  training_dataset: string;
  is_training_dataset: boolean;
  status: string;
  visibility: string;
  latest_version: number;
  applied_version: number | null;
  update_available: boolean;
  scoring_status: string | null;
  error: string | null;
  tags: string;
}

export const slugOf = (g: { table_prefix: string }) => g.table_prefix.replace(/^dt_/, "");

export async function manageGroupsPage(root: HTMLElement, [dataset]: string[]): Promise<() => void> {
  const me = await whoAmI();
  const editor = canEdit(me, dataset);
  const table = h("tbody");
  const jobs = h("div.jobs", { "aria-live": "polite" });
  const findInput = h("input", { name: "find", placeholder: "find a shareable group by name" });
  const found = h("ul.found");

  async function refresh(): Promise<void> {
    const groups = rows<GroupRow>(await api("GET", `/api/datasets/${enc(dataset)}/groups`));
    fill(
      table,
      ...groups.map((g) => {
        const slug = slugOf(g);
        return h(
          "tr",
          { dataset: { group: slug } },
          h("td", {}, h("a", { href: `#/groups/${enc(slug)}` }, g.group_name)),
          h("td", {}, g.is_training_dataset ? "trained here" : `applied from ${g.training_dataset}`),
          h("td", {}, g.status, " · ", g.visibility),
          h("td", {}, fmt(g.applied_version ?? "—"), " / ", fmt(g.latest_version)),
          h("td.scoring", {}, g.scoring_status ?? "not applied", g.error ? h("span.error", {}, ` ${g.error}`) : null),
          h("td", {}, g.tags),
          h(
            "td",
            {},
            editor && g.update_available
              ? h("button", { onclick: () => act("POST", `/api/datasets/${enc(dataset)}/applications/${enc(slug)}/update`) }, "Update")
              : null,
            editor && !g.is_training_dataset
              ? h("button.danger", { onclick: () => act("DELETE", `/api/datasets/${enc(dataset)}/applications/${enc(slug)}`) }, "Remove")
              : null,
          ),
        );
      }),
    );
    const running = rows<Record<string, any>>(await api("GET", "/api/scoring-jobs")).filter((j) => j.dataset === dataset);
    fill(
      jobs,
      running.length ? h("h3", {}, "Scoring") : null,
      ...running.map((j) => {
        const p = j.progress;
        const frac = p && p.total ? p.done / p.total : 0;
        return h("div.job", {}, `${j.group_slug} v${fmt(j.applied_version)}: ${p?.stage ?? "queued"} `, h("progress", { max: 1, value: frac }), p ? ` ${fmt(p.done)}/${fmt(p.total)}` : "");
      }),
    );
  }

  async function act(method: string, path: string, body?: unknown): Promise<void> {
    try {
      const r = await api(method, path, body);
      toast(r?.message ?? "done");
    } catch (e) {
      toast((e as Error).message, "error");
    }
    await refresh();
  }

  async function find(): Promise<void> {
    const like = `%${findInput.value}%`;
    const groups = rows<{ group_name: string; group_slug: string; training_dataset: string }>(
      await api("GET", `/api/groups?shareable=true&like=${enc(like)}`),
    );
    fill(
      found,
      ...groups.map((g) =>
        h("li", {}, `${g.group_name} (from ${g.training_dataset}) `,
          h("button", { onclick: () => act("POST", `/api/datasets/${enc(dataset)}/applications`, { group: g.group_slug ?? g.group_name }) }, "Apply")),
      ),
      groups.length ? null : h("li.muted", {}, "no shareable group matches"),
    );
  }

  fill(
    root,
    h("p.crumbs", {}, h("a", { href: "#/datasets" }, "Datasets"), " / ", dataset),
    h("h1", {}, `Manage groups on ${dataset}`),
    h("p", {}, `Your role: ${me.org_admin ? "organisation admin" : (me.roles[dataset] ?? "none")}`),
    editor ? h("p", {}, h("a.button.primary", { href: `#/datasets/${enc(dataset)}/new-group` }, "+ Add group")) : null,
    h("table.list", {}, h("thead", {}, h("tr", {}, ...["group", "", "status", "applied / latest", "scoring", "tags", ""].map((c) => h("th", {}, c)))), table),
    jobs,
    editor ? h("section", {}, h("h3", {}, "Apply a shareable group"), h("form", { onsubmit: (e: Event) => (e.preventDefault(), void find()) }, findInput, h("button", { type: "submit" }, "Find")), found) : null,
  );
  await refresh();
  const timer = setInterval(() => void refresh().catch(() => undefined), 1500);
  return () => clearInterval(timer);
}
