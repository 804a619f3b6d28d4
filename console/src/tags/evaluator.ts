// The Tag Evaluator: draw the stratified sample, label it (yes/no per item, remove wrong
// items, the configured LLM, a labels file uploaded from the browser), the metrics chart
// with confidence bands and the recommended threshold, a metric selector and a threshold
// slider read live, save the threshold; a precision or recall target with a confidence.

import * as Plot from "@observablehq/plot";
import { ApiError, api, enc, errorOf, headers, rows } from "../api";
import { fill, fmt, h, toast } from "../dom";
import { card } from "./cards";
import { itemId, openTag, type Item } from "./model";

type MetricRow = Record<string, number | boolean>;

export async function evaluatorPage(root: HTMLElement, [slug, tagName]: string[]): Promise<void> {
  const { group, tag, dataset, editor, base } = await openTag(slug, tagName);
  const sampleBox = h("div.cards.eval", { "aria-label": "evaluation sample" });
  const sampleHead = h("h3", {}, "Sample");
  const metricsBox = h("section.metrics");
  const message = h("p.message", { "aria-live": "polite" });
  const say = (text: string, error = false) => fill(message, h(error ? "span.error" : "span", { role: error ? "alert" : "status" }, text));
  const attempt = async (f: () => Promise<void>) => {
    try {
      await f();
    } catch (e) {
      say((e as Error).message, true);
    }
  };

  async function showSample(): Promise<void> {
    let items: Item[] = [];
    try {
      items = rows<Item>(await api("GET", `${base}/evaluation`)).filter((i) => !i.removed);
    } catch (e) {
      const none = e instanceof ApiError && (e.status === 404 || e.status === 409);
      fill(sampleBox, h(none ? "p.muted" : "p.error", {}, none ? "No sample drawn yet." : (e as Error).message));
      return;
    }
    const labelledCount = items.filter((i) => i.label !== null && i.label !== undefined).length;
    const judge = (positive: boolean) => async (ids: string[]) =>
      attempt(async () => {
        await api("POST", `${base}/evaluation/labels`, { labels: ids.map((asset_id) => ({ asset_id, label: positive })) });
        await refresh();
      });
    sampleHead.textContent = `Sample: ${items.length} items drawn over the score range, ${labelledCount} labelled`;
    fill(
      sampleBox,
      ...items.slice(0, 400).map((i) => {
        const c = card(dataset, i, null);
        const l = i.label;
        if (l !== null && l !== undefined) c.classList.add(l ? "is-pos" : "is-neg");
        if (editor)
          c.appendChild(
            h("div.judge", {},
              h("button.pos", { "aria-label": `${itemId(i)} yes`, onclick: () => judge(true)([itemId(i)]) }, "yes"),
              h("button.neg", { "aria-label": `${itemId(i)} no`, onclick: () => judge(false)([itemId(i)]) }, "no"),
              h("button.link", {
                title: "remove a wrong item from the sample",
                onclick: () => attempt(async () => {
                  await api("DELETE", `${base}/evaluation/items`, { asset_ids: [itemId(i)] });
                  await refresh();
                }),
              }, "remove")),
          );
        return c;
      }),
    );
  }

  async function showMetrics(): Promise<void> {
    let m: MetricRow[];
    try {
      m = rows<MetricRow>(await api("GET", `${base}/metrics`));
    } catch (e) {
      fill(metricsBox, h("p.muted", {}, (e as Error).message));
      return;
    }
    const names = Object.keys(m[0] ?? {}).filter((k) => k !== "threshold" && k !== "recommended" && !/_(low|high)$/.test(k));
    const rec = m.find((r) => r.recommended);
    const metric = h("select", { name: "metric" }, ...names.map((n) => h("option", { value: n, selected: n === "f1" }, n)));
    const slider = h("input", { type: "range", name: "eval-threshold", min: 0, max: 1, step: 0.01, value: rec ? Number(rec.threshold) : 0.5, "aria-label": "evaluation threshold" });
    const readout = h("div.readout", { "aria-live": "polite" });
    const chart = h("div.chart-out");
    const at = () => m.reduce((best, r) => (Math.abs(Number(r.threshold) - Number(slider.value)) < Math.abs(Number(best.threshold) - Number(slider.value)) ? r : best), m[0]);
    const read = () => {
      const r = at();
      fill(readout, `threshold ${Number(r.threshold).toFixed(2)}: `, ...names.map((n) => h("span.metric", { dataset: { metric: n } }, `${n} ${fmt(r[n], 3)} [${fmt(r[`${n}_low`], 2)}–${fmt(r[`${n}_high`], 2)}] `)));
    };
    const draw = () => {
      const shown = metric.value;
      const data = m.map((r) => ({ t: Number(r.threshold), v: Number(r[shown]), lo: Number(r[`${shown}_low`]), hi: Number(r[`${shown}_high`]) }));
      const lines = names.map((n) => Plot.lineY(m, { x: "threshold", y: n, stroke: () => n, strokeOpacity: n === shown ? 1 : 0.35 }));
      fill(
        chart,
        Plot.plot({
          width: 720,
          height: 320,
          y: { domain: [0, 1], label: "metric" },
          x: { label: "threshold" },
          color: { legend: true },
          marks: [
            Plot.areaY(data, { x: "t", y1: "lo", y2: "hi", fill: "#3b6fb6", fillOpacity: 0.15 }),
            ...lines,
            rec ? Plot.ruleX([Number(rec.threshold)], { stroke: "#c33", strokeDasharray: "4 3" }) : null,
            rec ? Plot.text([Number(rec.threshold)], { x: (d: number) => d, y: 0.03, text: () => "recommended", fill: "#c33", dx: -4, textAnchor: "end" }) : null,
          ],
        }),
      );
    };
    metric.addEventListener("change", () => (draw(), read()));
    slider.addEventListener("input", read);
    fill(
      metricsBox,
      h("h3", {}, "Metrics"),
      h("div.toolbar", {}, h("label", {}, "Metric ", metric), h("label.slider", {}, "Threshold ", slider),
        rec ? h("span", {}, `recommended (best F1): ${Number(rec.threshold).toFixed(2)}`) : null),
      readout,
      chart,
      editor
        ? h("div.toolbar", {},
            h("button.primary", {
              onclick: () => attempt(async () => {
                const r = await api("POST", `${base}/threshold`, { metric: metric.value });
                say(r.message);
              }),
            }, "Save recommended threshold"),
            h("button", {
              onclick: () => attempt(async () => {
                await api("PATCH", base, { threshold: Number(slider.value) });
                say(`threshold ${Number(slider.value).toFixed(2)} saved`);
              }),
            }, "Save slider threshold"))
        : null,
    );
    draw();
    read();
  }

  async function refresh(): Promise<void> {
    await showSample();
    await showMetrics();
  }

  const file = h("input", { type: "file", name: "labels-file", accept: ".csv,.parquet" });
  const targetMetric = h("select", { name: "target-metric" }, h("option", { value: "precision" }, "precision"), h("option", { value: "recall" }, "recall"));
  const atLeast = h("input", { name: "at-least", type: "number", min: 0, max: 1, step: 0.01, value: 0.9 });
  const confidence = h("input", { name: "confidence", type: "number", min: 0.5, max: 0.999, step: 0.01, value: 0.95 });
  fill(
    root,
    h("p.crumbs", {}, h("a", { href: `#/groups/${enc(slug)}` }, group.name), " / ", h("a", { href: `#/groups/${enc(slug)}/tags/${enc(tag.name)}` }, tag.name), " / evaluator"),
    h("h1", {}, `Evaluate '${tag.name}'`),
    editor
      ? h(
          "div.toolbar",
          {},
          h("button.primary", {
            onclick: () => attempt(async () => {
              const r = await api("POST", `${base}/evaluation`, { sample: 400 });
              say(`sample drawn: ${rows(r).length} items`);
              await refresh();
            }),
          }, "Draw sample"),
          h("button", {
            onclick: () => attempt(async () => {
              say((await api("POST", `${base}/evaluation/labels`, { llm: true })).message);
              await refresh();
            }),
          }, "Label with LLM"),
          h("label", {}, "Labels file ", file),
          h("button", {
            onclick: () => attempt(async () => {
              const f = file.files?.[0];
              if (!f) throw new Error("choose a labels file (CSV or Parquet) first");
              const parquet = f.name.endsWith(".parquet");
              const res = await fetch(`${base}/evaluation/labels?name=${enc(f.name)}`, {
                method: "POST",
                headers: headers({ "Content-Type": parquet ? "application/vnd.apache.parquet" : "text/csv" }),
                body: f,
              });
              if (!res.ok) throw await errorOf(res);
              say((await res.json()).message);
              await refresh();
            }),
          }, "Upload labels"),
        )
      : null,
    message,
    metricsBox,
    editor
      ? h("section.panel", {}, h("h3", {}, "Target with a guarantee"),
          h("form", {
            onsubmit: (e: Event) => (e.preventDefault(), void attempt(async () => {
              const r = await api("POST", `${base}/target`, { metric: targetMetric.value, at_least: Number(atLeast.value), confidence: Number(confidence.value) });
              say(r.message);
            })),
          }, targetMetric, " ≥ ", atLeast, " with confidence ", confidence, h("button", { type: "submit" }, "Set target")))
      : null,
    sampleHead,
    sampleBox,
  );
  await refresh();
}
