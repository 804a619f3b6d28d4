// The console's entry: a hash router over the pages, the top bar, sign-in.

import { ApiError, setToken, token, whoAmI } from "./api";
import { fill, h, toast } from "./dom";
import { signIn } from "./signin";
import { queryPage } from "./query/page";
import { datasetsPage } from "./tags/datasets";
import { manageGroupsPage } from "./tags/manage";
import { addGroupPage } from "./tags/addgroup";
import { groupPage } from "./tags/group";
import { tagPage } from "./tags/tag";
import { evaluatorPage } from "./tags/evaluator";
import { videoPage } from "./tags/video";

/** A page: builds itself into `root`; may answer a function that stops its timers. */
export type Page = (root: HTMLElement, params: string[], query: URLSearchParams) => Promise<(() => void) | void>;

const ROUTES: [RegExp, Page][] = [
  [/^\/query$/, queryPage],
  [/^\/datasets$/, datasetsPage],
  [/^\/datasets\/([^/]+)$/, manageGroupsPage],
  [/^\/datasets\/([^/]+)\/new-group$/, addGroupPage],
  [/^\/datasets\/([^/]+)\/videos\/([^/]+)$/, videoPage],
  [/^\/groups\/([^/]+)$/, groupPage],
  [/^\/groups\/([^/]+)\/tags\/([^/]+)$/, tagPage],
  [/^\/groups\/([^/]+)\/tags\/([^/]+)\/evaluate$/, evaluatorPage],
];

let stop: (() => void) | void;
/** The navigation being built: a page that finishes after the next began is stopped. */
let current = 0;

async function route(): Promise<void> {
  const app = document.getElementById("app")!;
  const mine = ++current;
  if (stop) stop();
  stop = undefined;
  const [path, qs] = (location.hash.slice(1) || "/query").split("?");
  if (!token()) {
    fill(app, signIn(() => route()));
    return;
  }
  let user;
  try {
    user = await whoAmI();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      setToken(null);
      return route();
    }
    throw e;
  }
  const main = h("main#page");
  const nav = (href: string, label: string) =>
    h("a", { href, class: path.startsWith(href.slice(1)) ? "active" : "" }, label);
  fill(
    app,
    h(
      "header.top",
      {},
      h("span.brand", {}, "dyntag"),
      h("nav", {}, nav("#/query", "Query"), nav("#/datasets", "Dynamic Tags")),
      h("span.spacer"),
      h("span.user", { title: "signed in" }, user.user, user.org_admin ? " (org admin)" : ""),
      h("button.link", { onclick: () => (setToken(null), route()) }, "Sign out"),
    ),
    main,
  );
  for (const [re, page] of ROUTES) {
    const m = path.match(re);
    if (m) {
      try {
        const s = await page(main, m.slice(1).map(decodeURIComponent), new URLSearchParams(qs ?? ""));
        if (mine === current) stop = s;
        else if (s) s();
      } catch (e) {
        if (mine === current) fill(main, h("p.error", {}, (e as Error).message));
      }
      return;
    }
  }
  fill(main, h("p.error", {}, `no page at ${path}`));
}

window.addEventListener("hashchange", () => void route());
window.addEventListener("unhandledrejection", (e) => toast(String(e.reason?.message ?? e.reason), "error"));
void route();
