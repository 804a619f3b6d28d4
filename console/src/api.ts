// The dyntag HTTP API as the console uses it: the token of the signed-in user on every
// request, JSON answers, errors as ApiError with the server's code and message.

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
  ) {
    super(message);
  }
}

const TOKEN_KEY = "dyntag.token";
const SESSION_KEY = "dyntag.session";

export function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(t: string | null): void {
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
  me = null;
  for (const p of thumbs.values()) p.then(URL.revokeObjectURL, () => undefined);
  thumbs.clear();
}

/** The console's SQL session (USE and SET last across its statements). */
export function sessionId(): string {
  let s = sessionStorage.getItem(SESSION_KEY);
  if (!s) {
    s = `console-${crypto.randomUUID()}`;
    sessionStorage.setItem(SESSION_KEY, s);
  }
  return s;
}

export function headers(extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = { "x-dyntag-session": sessionId(), ...extra };
  const t = token();
  if (t) h.Authorization = `Bearer ${t}`;
  return h;
}

export async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text();
  try {
    const j = JSON.parse(text);
    return new ApiError(res.status, j.code ?? "error", j.error ?? text);
  } catch {
    return new ApiError(res.status, "error", text || res.statusText);
  }
}

/** Calls a JSON route; the parsed answer, or throws ApiError. */
export async function api<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, headers: headers() };
  if (body !== undefined) {
    if (typeof body === "string") {
      init.body = body;
      (init.headers as Record<string, string>)["Content-Type"] = "text/csv";
    } else {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)["Content-Type"] = "application/json";
    }
  }
  const res = await fetch(path, init);
  if (!res.ok) throw await errorOf(res);
  const text = await res.text();
  return text ? JSON.parse(text) : (null as T);
}

export const rows = <T = any>(answer: { rows: T[] }): T[] => answer.rows;

/** Runs one statement and answers it as JSON rows (small results: catalog, charts). */
export async function sqlRows<T = any>(sql: string, dataset?: string): Promise<T[]> {
  const answer = await api<{ rows?: T[]; message?: string; error?: { code: string; message: string } }>(
    "POST",
    "/api/sql",
    { sql, dataset },
  );
  // A failure after the rows started ends the document with the error (status 200).
  if (answer.error) throw new ApiError(500, answer.error.code, answer.error.message);
  return answer.rows ?? [];
}

/** Runs one statement, the answer in `accept` (Arrow IPC stream, CSV, Parquet); with
 * `history`, the server keeps it in the user's query history. */
export async function sqlStream(
  sql: string,
  dataset: string | undefined,
  accept: string,
  signal?: AbortSignal,
  history = false,
): Promise<Response> {
  const res = await fetch("/api/sql", {
    method: "POST",
    headers: headers({ "Content-Type": "application/json", Accept: accept }),
    body: JSON.stringify({ sql, dataset, history }),
    signal,
  });
  if (!res.ok) throw await errorOf(res);
  return res;
}

export interface Me {
  user: string;
  org_admin: boolean;
  roles: Record<string, "admin" | "editor" | "viewer">;
  dataset: string | null;
}

let me: Me | null = null;

export async function whoAmI(): Promise<Me> {
  if (!me) me = await api<Me>("GET", "/api/me");
  return me;
}

export function canEdit(m: Me, dataset: string): boolean {
  const r = m.roles[dataset];
  return m.org_admin || r === "admin" || r === "editor";
}

const thumbs = new Map<string, Promise<string>>();

/** An object URL of the thumbnail of an image or keyframe (fetched with the token once). */
export function thumbnail(dataset: string, imageId: string): Promise<string> {
  const key = `${dataset}/${imageId}`;
  let p = thumbs.get(key);
  if (!p) {
    p = fetch(`/api/datasets/${encodeURIComponent(dataset)}/thumbnails/${encodeURIComponent(imageId)}`, {
      headers: headers(),
    }).then(async (res) => {
      if (!res.ok) throw await errorOf(res);
      return URL.createObjectURL(await res.blob());
    });
    p.catch(() => thumbs.delete(key));
    thumbs.set(key, p);
  }
  return p;
}

/** An <img> that loads the thumbnail; an empty frame when there is none. */
export function thumbImg(dataset: string, imageId: string, cls = "thumb"): HTMLImageElement {
  const img = document.createElement("img");
  img.className = cls;
  img.alt = imageId;
  img.loading = "lazy";
  thumbnail(dataset, imageId).then(
    (u) => (img.src = u),
    () => img.classList.add("missing"),
  );
  return img;
}

export const enc = encodeURIComponent;
