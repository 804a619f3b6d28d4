// A chart of a result (Observable Plot): bar, line or scatter over two picked columns.

import * as Plot from "@observablehq/plot";
import { h } from "../dom";
import type { ResultTable } from "./result";

const MAX_POINTS = 5000;

export function chartPanel(table: ResultTable): HTMLElement {
  const cols = table.columns;
  const numeric = cols.filter((_, c) => /Int|Float|Decimal/.test(String(table.schema.fields[c].type)));
  const select = (name: string, options: string[], value: string) =>
    h("select", { name }, ...options.map((o) => h("option", { value: o, selected: o === value }, o)));
  const kind = select("mark", ["bar", "line", "scatter"], "bar");
  const x = select("x", cols, cols[0] ?? "");
  const y = select("y", cols, numeric.find((c) => c !== cols[0]) ?? numeric[0] ?? cols[1] ?? cols[0] ?? "");
  const out = h("div.chart-out");
  const draw = () => {
    const data = table.objects(MAX_POINTS);
    const opts = { x: x.value, y: y.value, tip: true };
    const mark =
      kind.value === "bar"
        ? Plot.barY(data, { ...opts, fill: "#3b6fb6" })
        : kind.value === "line"
          ? Plot.lineY(data, { ...opts, stroke: "#3b6fb6" })
          : Plot.dot(data, { ...opts, fill: "#3b6fb6" });
    out.replaceChildren(
      Plot.plot({
        marks: [mark, Plot.ruleY([0])],
        width: Math.max(480, out.clientWidth || 720),
        height: 320,
        marginBottom: 60,
        x: { tickRotate: kind.value === "bar" ? -30 : 0 },
      }),
    );
  };
  for (const s of [kind, x, y]) s.addEventListener("change", draw);
  const panel = h(
    "div.chart",
    {},
    h("div.toolbar", {}, h("label", {}, "Chart ", kind), h("label", {}, "x ", x), h("label", {}, "y ", y),
      table.rowCount > MAX_POINTS ? h("span.muted", {}, `first ${MAX_POINTS} rows`) : null),
    out,
  );
  queueMicrotask(draw);
  return panel;
}
