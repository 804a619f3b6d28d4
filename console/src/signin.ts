// Sign-in: a token, or a user name with their token (exchanged for a session token).

import { errorOf, setToken } from "./api";
import { h } from "./dom";

export function signIn(done: () => void): HTMLElement {
  const user = h("input", { name: "user", placeholder: "user name (optional)", autocomplete: "username" });
  const secret = h("input", { name: "token", type: "password", placeholder: "token", autocomplete: "current-password" });
  const error = h("p.error");
  const form = h(
    "form.signin",
    {
      onsubmit: async (e: Event) => {
        e.preventDefault();
        error.textContent = "";
        const body = user.value
          ? JSON.stringify({ user: user.value, password: secret.value })
          : undefined;
        const res = await fetch("/api/login", {
          method: "POST",
          headers: body
            ? { "Content-Type": "application/json" }
            : { Authorization: `Bearer ${secret.value}` },
          body,
        });
        if (!res.ok) {
          error.textContent = (await errorOf(res)).message;
          return;
        }
        setToken((await res.json()).token);
        done();
      },
    },
    h("h1", {}, "dyntag"),
    h("p", {}, "Sign in with the token dyntag serve printed, or your user name and token."),
    user,
    secret,
    h("button", { type: "submit" }, "Sign in"),
    error,
  );
  return form;
}
