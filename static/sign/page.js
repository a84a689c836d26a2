// What the small page modules share: JSON calls that turn the API's errors into the person's
// language, a status line, and a signed nonce (certificate sign-in, to the site or a hall).

import { fromBase64, pick, toBase64 } from "./holder.js";
import { sign } from "./cms.js";
import { messageOf, pickHolder } from "./picker.js";

export const EN = document.documentElement.lang.startsWith("en");
export const T = (zh, en) => (EN ? en : zh);

export class ApiError extends Error {
  constructor(status, body) {
    super(EN ? body.message_en || body.message || `HTTP ${status}` : body.message || `HTTP ${status}`);
    this.status = status;
    this.code = body.code;
  }
}

/** fetch() a JSON API; a refusal throws ApiError with the server's message. */
export async function api(path, { method = "GET", body } = {}) {
  const init = { method, headers: { accept: "application/json" } };
  if (body !== undefined) {
    init.method = method === "GET" ? "POST" : method;
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

/** Show `text` (or an error's message) in a status element. */
export function say(el, textOrError, ok = true) {
  const isError = textOrError instanceof Error;
  el.textContent = isError ? (textOrError instanceof ApiError ? textOrError.message : messageOf(textOrError)) : textOrError;
  el.classList.toggle("error", isError || !ok);
  el.classList.toggle("ok", !isError && ok);
  el.hidden = false;
}

/** A fresh server nonce signed with the holder's login (or signing) certificate. */
export async function signedNonce(holder, purpose = "login") {
  const entry = await pick(holder, purpose);
  const { nonce } = await api("/api/auth/cert/challenge", { method: "POST", body: {} });
  const signature = await sign(holder, entry.id, fromBase64(nonce), { detached: true });
  return { nonce, signature: toBase64(signature) };
}

/**
 * Run `work(holder)` with a holder the person picks in `pickerEl` (`options`: pickHolder's, and
 * `description`, what the agent's terminal shows the person); the holder is closed after,
 * whatever happens. Errors land in `statusEl`. Returns work's result, or undefined.
 */
export async function withHolder(pickerEl, statusEl, options, work) {
  let holder;
  try {
    holder = await pickHolder(pickerEl, options);
  } catch (error) {
    if (error.code !== "cancelled") say(statusEl, error);
    return undefined;
  }
  // what the work is, shown at the signing agent's terminal with each use of a token's key
  holder.description = options.description || options.action || "";
  try {
    return await work(holder);
  } catch (error) {
    say(statusEl, error);
    return undefined;
  } finally {
    holder.close();
  }
}
