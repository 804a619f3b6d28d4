// Splitting a script into statements (quotes and comments respected), and finding the one
// under the cursor.

export interface Span {
  from: number;
  to: number;
  text: string;
}

export function splitStatements(src: string): Span[] {
  const out: Span[] = [];
  let start = 0;
  let i = 0;
  const push = (end: number) => {
    const raw = src.slice(start, end);
    // Leading blanks and line comments belong to no statement.
    const lead = raw.match(/^(\s|--[^\n]*(\n|$))*/)![0].length;
    const text = raw.slice(lead).trimEnd();
    if (text) out.push({ from: start + lead, to: start + lead + text.length, text });
  };
  while (i < src.length) {
    const c = src[i];
    if (c === "'" || c === '"') {
      i++;
      while (i < src.length) {
        if (src[i] === c) {
          if (src[i + 1] === c) i += 2;
          else break;
        } else i++;
      }
      i++;
    } else if (c === "-" && src[i + 1] === "-") {
      while (i < src.length && src[i] !== "\n") i++;
    } else if (c === "/" && src[i + 1] === "*") {
      const end = src.indexOf("*/", i + 2);
      i = end < 0 ? src.length : end + 2;
    } else if (c === ";") {
      push(i);
      start = ++i;
    } else i++;
  }
  push(src.length);
  return out;
}

/** The statement holding `pos` (or the nearest one before it). */
export function statementAt(src: string, pos: number): Span | undefined {
  const all = splitStatements(src);
  let best: Span | undefined;
  for (const s of all) {
    if (s.from <= pos) best = s;
    if (pos <= s.to + 1 && pos >= s.from) return s;
  }
  return best ?? all[0];
}

/** The line and column (1-based) an error message names, as an offset into `text`. */
export function errorOffset(message: string, text: string): number | undefined {
  const m = message.match(/Line:\s*(\d+),\s*Column:\s*(\d+)/i);
  if (!m) return undefined;
  const [line, col] = [Number(m[1]), Number(m[2])];
  const lines = text.split("\n");
  if (line < 1 || line > lines.length) return undefined;
  let off = 0;
  for (let i = 0; i < line - 1; i++) off += lines[i].length + 1;
  return off + Math.max(0, Math.min(col - 1, lines[line - 1].length));
}
