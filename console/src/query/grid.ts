// The result grid: only the rows in view are in the DOM (@tanstack/virtual-core), so a
// result of 100,000 rows scrolls like one of ten. Columns sort on a click of their head;
// image and keyframe ids show their thumbnail, video ids link to the video view.

import { Virtualizer, elementScroll, observeElementOffset, observeElementRect } from "@tanstack/virtual-core";
import { thumbImg } from "../api";
import { fmt, h } from "../dom";
import type { ResultTable } from "./result";

export const isImageColumn = (name: string) => /(^|_)(image_id|item_id|asset_id|keyframe_id)$/.test(name);
export const isVideoColumn = (name: string) => /(^|_)video_id$/.test(name);

export class Grid {
  el: HTMLElement;
  private head: HTMLElement;
  private body: HTMLElement;
  private sizer: HTMLElement;
  private virtualizer: Virtualizer<HTMLElement, HTMLElement>;
  private cleanup: () => void = () => undefined;
  private widths: number[] = [];
  private rowHeight = 28;
  private sorted: { col: number; desc: boolean } | null = null;

  constructor(
    private table: ResultTable,
    private dataset: () => string | undefined,
  ) {
    const cols = table.columns;
    const hasImage = cols.some(isImageColumn);
    this.rowHeight = hasImage ? 52 : 28;
    this.widths = cols.map((c) => (isImageColumn(c) ? 240 : Math.max(90, Math.min(260, c.length * 9 + 40))));
    this.head = h("div.grid-head", { role: "row" });
    this.sizer = h("div.grid-sizer");
    this.body = h("div.grid-rows");
    this.sizer.appendChild(this.body);
    this.el = h("div.grid", { role: "grid", tabindex: 0 }, this.head, this.sizer);
    this.renderHead();
    this.virtualizer = new Virtualizer<HTMLElement, HTMLElement>({
      count: table.rowCount,
      getScrollElement: () => this.el,
      estimateSize: () => this.rowHeight,
      overscan: 8,
      scrollToFn: elementScroll,
      observeElementRect,
      observeElementOffset,
      onChange: () => this.renderRows(),
    });
  }

  /** Starts following the grid's size and scrolling: call once it is in the page. */
  mount(): void {
    this.cleanup = this.virtualizer._didMount();
    this.virtualizer._willUpdate();
    this.renderRows();
  }

  /** More rows arrived. */
  update(): void {
    if (this.sorted && !this.table.order) this.table.sortBy(this.sorted.col, this.sorted.desc);
    this.virtualizer.setOptions({ ...this.virtualizer.options, count: this.table.rowCount });
    this.virtualizer._willUpdate();
    this.renderRows();
  }

  destroy(): void {
    this.cleanup();
  }

  private renderHead(): void {
    const cols = this.table.columns;
    this.head.replaceChildren(
      ...cols.map((name, c) => {
        const arrow = this.sorted?.col === c ? (this.sorted.desc ? " ▼" : " ▲") : "";
        return h(
          "div.cell.head",
          {
            role: "columnheader",
            style: { width: `${this.widths[c]}px` },
            title: `${name}: ${this.table.schema.fields[c].type} (click to sort)`,
            onclick: () => this.sort(c),
          },
          name + arrow,
        );
      }),
    );
    const total = this.widths.reduce((a, b) => a + b, 0);
    this.head.style.width = this.sizer.style.width = `${total}px`;
  }

  sort(c: number): void {
    const desc = this.sorted?.col === c ? !this.sorted.desc : false;
    this.sorted = { col: c, desc };
    this.table.sortBy(c, desc);
    this.renderHead();
    this.renderRows();
  }

  private renderRows(): void {
    const items = this.virtualizer.getVirtualItems();
    this.sizer.style.height = `${this.virtualizer.getTotalSize()}px`;
    const cols = this.table.columns;
    const ds = this.dataset();
    const rows = items.map((it) => {
      const cells = cols.map((name, c) => {
        const v = this.table.get(it.index, c);
        const text = fmt(v, 4);
        let content: Node | string = text;
        if (v !== null && v !== undefined && ds && isImageColumn(name)) {
          content = h("span.with-thumb", {}, thumbImg(ds, text, "thumb small"), h("span", {}, text));
        } else if (v !== null && v !== undefined && ds && isVideoColumn(name)) {
          content = h("a", { href: `#/datasets/${encodeURIComponent(ds)}/videos/${encodeURIComponent(text)}` }, text);
        }
        return h("div.cell", { role: "gridcell", style: { width: `${this.widths[c]}px` }, title: text }, content);
      });
      return h(
        "div.row",
        { role: "row", style: { height: `${this.rowHeight}px`, transform: `translateY(${it.start}px)` }, dataset: { row: String(it.index) } },
        ...cells,
      );
    });
    this.body.replaceChildren(...rows);
  }
}
