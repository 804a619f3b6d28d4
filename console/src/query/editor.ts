// The SQL editor: CodeMirror 6 with SQL highlighting, and completion of the catalog's
// datasets, tables, columns and functions and of the tag statements' keywords.

import { EditorView, basicSetup } from "codemirror";
import { Compartment, EditorState, Prec } from "@codemirror/state";
import { keymap } from "@codemirror/view";
import { sql, PostgreSQL, type SQLNamespace } from "@codemirror/lang-sql";
import type { CompletionContext, CompletionResult } from "@codemirror/autocomplete";
import { setDiagnostics } from "@codemirror/lint";

/** The catalog as completion knows it. */
export interface Catalog {
  tables: Record<string, string[]>;
  functions: string[];
  datasets: string[];
  groups: { group: string; tags: string[] }[];
}

/** Keywords of dyntag's tag statements (beyond SQL's). */
export const TAG_KEYWORDS = [
  "SHOW TAG GROUPS", "SHOW SHAREABLE TAG GROUPS", "SHOW TAGS IN GROUP", "SHOW VERSIONS OF TAG GROUP",
  "SHOW LABELS IN GROUP", "SHOW SCORING JOBS", "SHOW EVALUATION OF TAG", "SHOW DATASETS", "SHOW USERS",
  "CREATE TAG GROUP", "ON DATASET", "TAGS", "ALTER TAG GROUP", "ALTER TAG", "IN GROUP", "ADD TAG", "DROP TAG",
  "ADD PROMPT", "ADD NEGATIVE PROMPT", "DROP PROMPT", "FOR VISUAL", "FOR TRANSCRIPT", "SET THRESHOLD",
  "ADD POSITIVE LABELS", "ADD NEGATIVE LABELS", "DROP LABELS", "PREVIEW TAG", "PUBLISH TAG GROUP",
  "VISIBILITY SECRET", "VISIBILITY SHAREABLE", "APPLY TAG GROUP", "TO DATASET", "UPDATE TAG GROUP",
  "REMOVE TAG GROUP", "DROP TAG GROUP", "SUGGEST PROMPTS FOR TAG", "EVALUATE TAG", "SAMPLE",
  "LABEL EVALUATION OF TAG", "SAVE THRESHOLD OF TAG", "SET TARGET OF TAG", "PRECISION", "RECALL",
  "CONFIDENCE", "USE",
];

/** dyntag's functions, offered even before the catalog answers. */
export const DYNTAG_FUNCTIONS = [
  "dt_score", "dt_scores", "dt_version", "dt_metrics", "dt_uncertain", "semantic_search",
  "threshold_decision", "embed_text", "cosine_similarity",
];

export interface EditorHandle {
  view: EditorView;
  setCatalog(c: Catalog): void;
  markError(offset: number | undefined, message: string): void;
}

export function createEditor(
  parent: HTMLElement,
  doc: string,
  run: { current: () => void; all: () => void; changed: (text: string) => void },
): EditorHandle {
  const language = new Compartment();
  let catalog: Catalog = { tables: {}, functions: DYNTAG_FUNCTIONS, datasets: [], groups: [] };

  const extra = (ctx: CompletionContext): CompletionResult | null => {
    const word = ctx.matchBefore(/[\w.]+/);
    if (!word && !ctx.explicit) return null;
    const fns = [...new Set([...DYNTAG_FUNCTIONS, ...catalog.functions])];
    return {
      from: word ? word.from : ctx.pos,
      options: [
        ...fns.map((f) => ({ label: f, type: "function", apply: `${f}(`, boost: f.startsWith("dt_") ? 2 : 0 })),
        ...TAG_KEYWORDS.map((k) => ({ label: k, type: "keyword" })),
        ...catalog.datasets.map((d) => ({ label: d, type: "namespace", detail: "dataset" })),
        ...catalog.groups.map((g) => ({ label: g.group, type: "class", detail: "tag group" })),
        ...catalog.groups.flatMap((g) => g.tags.map((t) => ({ label: `'${t}'`, type: "constant", detail: `tag of ${g.group}` }))),
      ],
      validFor: /^[\w.']*$/,
    };
  };

  const langFor = () =>
    sql({
      dialect: PostgreSQL,
      upperCaseKeywords: true,
      schema: catalog.tables as SQLNamespace,
    });

  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        basicSetup,
        language.of(langFor()),
        EditorState.languageData.of(() => [{ autocomplete: extra }]),
        Prec.highest(
          keymap.of([
            { key: "Mod-Enter", run: () => (run.current(), true) },
            { key: "Shift-Mod-Enter", run: () => (run.all(), true) },
          ]),
        ),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) {
            run.changed(u.state.doc.toString());
            u.view.dispatch(setDiagnostics(u.state, []));
          }
        }),
      ],
    }),
  });

  return {
    view,
    setCatalog(c) {
      catalog = c;
      view.dispatch({ effects: language.reconfigure(langFor()) });
    },
    markError(offset, message) {
      if (offset === undefined) return;
      const len = view.state.doc.length;
      const from = Math.min(offset, len);
      const to = Math.min(len, from + Math.max(1, view.state.doc.sliceString(from, from + 40).search(/[\s,;()]|$/)));
      view.dispatch(setDiagnostics(view.state, [{ from, to, severity: "error", message }]));
    },
  };
}
