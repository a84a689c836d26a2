// The agent holder: a USB key (CA锁) used through the local signing agent, protocol v1
// (docs/agent.md). It has the same five members as every holder (holder.js): kind,
// certificates(), sign(), decryptKey(), agree(), close(); cms.js and the sealing pipeline call
// nothing else, so a page works the same with a token as with a PKCS#12 file.
//
// The page never sees the token's PIN, which is typed in the agent, and the person confirms
// each use of a key at the agent's terminal: every call here may wait until they do, and fails
// with the agent's own code when they refuse (agent.refused) or do not answer in time
// (agent.confirm_timeout). The bearer token the agent hands out when the person pairs this page
// is kept in this tab's sessionStorage (this origin's pages only) until close().

import { SignError } from "./holder.js";

export const DEFAULT_PORT = 17345;
export const PROTOCOL = "tenderhall-agent/1";
const STORE = "tenderhall.agent";
const PORT_KEY = "tenderhall.agent.port";
// what each key signs with, as the protocol names it
const MECHANISM = { rsa: "rsa-pkcs1-sha256", "ec-p256": "ecdsa-sha256", sm2: "sm2-sm3" };
const SCHEMES = ["rsa-pkcs1", "rsa-oaep-sha1", "rsa-oaep-sha256", "sm2"];

const EN = () => (document.documentElement.lang || "").startsWith("en");
const T = (zh, en) => (EN() ? en : zh);

/**
 * A refusal of the agent's: holder.js's SignError (stable `code`, the person's message in
 * Chinese `zh` and English `en`), with the agent's HTTP `status` (0: unreachable) and detail.
 */
export class AgentError extends SignError {
  constructor(code, zh, en, status = 0, detail = null) {
    super(code, zh, en);
    this.status = status;
    this.detail = detail;
  }
}

function toBase64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(text) {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function asBytes(value) {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  throw new TypeError("bytes expected");
}

/** A pairing code the person compares with the agent's terminal: 6 capitals or digits. */
function pairingCode() {
  const alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"; // 32 symbols: no 0/O, 1/I
  return Array.from(crypto.getRandomValues(new Uint8Array(6)), (x) => alphabet[x & 31]).join("");
}

/** Where the code is shown when the page gives no place for it: a notice atop the page. */
function showCode(code) {
  const note = document.createElement("p");
  note.className = "notice";
  note.setAttribute("role", "status");
  note.dataset.testid = "agent-pairing";
  note.textContent = T(`请在签名助手窗口中确认配对，配对码 ${code}`,
    `Confirm the pairing in the signing agent's window; code ${code}`);
  (document.querySelector("main") || document.body).prepend(note);
  return () => note.remove();
}

class AgentHolder {
  constructor(base, port, bearer) {
    this.kind = "agent";
    /** What the page is doing, shown at the agent's terminal with each use of a key. */
    this.description = "";
    this.base = base;
    this.port = port;
    this.bearer = bearer;
    this.listed = null;
  }

  async call(method, path, body) {
    if (!this.bearer && path !== "/v1/info" && path !== "/v1/pair") {
      throw new AgentError("agent.not_paired", "该网页尚未与签名助手配对",
        "This page is not paired with the signing agent", 401);
    }
    return request(this.base, method, path, body, this.bearer);
  }

  /** @returns {Promise<import('./holder.js').HolderCertificate[]>} */
  async certificates() {
    const { certificates } = await this.call("GET", "/v1/certificates");
    this.listed = certificates.map((c) => ({
      id: c.id,
      der: fromBase64(c.der),
      chain: c.chain.map(fromBase64),
      algorithm: c.algorithm,
      subject: { organization: c.subject.organization ?? null, person: c.subject.person ?? null,
        creditCode: c.subject.creditCode ?? null },
      label: c.label,
    }));
    return this.listed;
  }

  async algorithm(id) {
    if (!this.listed || !this.listed.some((c) => c.id === id)) await this.certificates();
    const entry = this.listed.find((c) => c.id === id);
    if (!entry) {
      throw new AgentError("agent.unknown_key", "USB key 中没有该证书或其私钥",
        "The token holds no such certificate or no private key for it", 404);
    }
    return entry.algorithm;
  }

  /**
   * The signature over `data` (the DER of CMS signed attributes) as a SignerInfo carries it.
   * `options.description` (or the holder's `description`) is shown at the agent's terminal.
   */
  async sign(id, data, options = {}) {
    const mechanism = MECHANISM[await this.algorithm(id)];
    const { signature } = await this.call("POST", "/v1/sign", {
      id, data: toBase64(asBytes(data)), mechanism,
      description: options.description || this.description,
    });
    return fromBase64(signature);
  }

  /** Key transport: the content-encryption (or key-encryption) key the token unwraps. */
  async decryptKey(id, encryptedKey, scheme, options = {}) {
    if (!SCHEMES.includes(scheme)) {
      throw new AgentError("agent.mechanism_unsupported", "不支持的密钥传输方式",
        `Unsupported key transport scheme ${scheme}`, 422);
    }
    const { key } = await this.call("POST", "/v1/decrypt", {
      id, encryptedKey: toBase64(asBytes(encryptedKey)), scheme,
      description: options.description || this.description,
    });
    return fromBase64(key);
  }

  /** ECDH on P-256 with the originator's SubjectPublicKeyInfo (DER): the shared secret Z. */
  async agree(id, originatorSpki, options = {}) {
    const { z } = await this.call("POST", "/v1/agree", {
      id, originatorSpki: toBase64(asBytes(originatorSpki)),
      description: options.description || this.description,
    });
    return fromBase64(z);
  }

  /**
   * Done with this holder: it answers no more calls. The tab stays paired, so the next
   * openAgent() in this tab (the next signature, the decryption at the opening) does not ask
   * the person to pair again; each use of a key is still confirmed at the agent.
   */
  close() {
    this.bearer = null;
    this.listed = null;
  }

  /** Forget the pairing too: the next openAgent() in this tab pairs again. */
  forget() {
    this.close();
    try {
      sessionStorage.removeItem(`${STORE}.${this.port}`);
    } catch { /* storage disabled: nothing was kept */ }
  }
}

async function request(base, method, path, body, bearer) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  let response;
  try {
    response = await fetch(base + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      mode: "cors", credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer",
    });
  } catch {
    throw new AgentError("agent.unreachable",
      "无法连接本机签名助手：请先运行 tenderhall agent 并插入 USB key",
      "Cannot reach the signing agent on this computer: start `tenderhall agent` with the USB key in");
  }
  let answer = null;
  try {
    answer = await response.json();
  } catch { /* not the agent's JSON: reported below */ }
  if (!response.ok || !answer) {
    const a = answer || {};
    throw new AgentError(a.code || "agent.bad_answer", a.message || "签名助手返回了无法识别的应答",
      a.message_en || "The signing agent gave an answer this page cannot read", response.status,
      a.detail ?? null);
  }
  return answer;
}

/**
 * Connect to the agent on this computer and pair this page with it if it is not yet paired.
 * The port is `options.port`, else the one saved in this origin's localStorage under
 * "tenderhall.agent.port" (for an agent started with another --port), else 17345.
 * @param {{port?: number, onPairing?: (code: string) => (void | (() => void))}} [options]
 *   `onPairing` shows the pairing code while the person confirms at the agent (by default a
 *   notice atop the page); a function it returns is called when the pairing ends.
 * @returns {Promise<AgentHolder>}
 */
export async function openAgent(options = {}) {
  let saved = null;
  try {
    saved = localStorage.getItem(PORT_KEY);
  } catch { /* storage disabled: the default port */ }
  const port = Number(options.port || saved || DEFAULT_PORT);
  const base = `http://127.0.0.1:${port}`;
  const key = `${STORE}.${port}`;
  let bearer = null;
  try {
    bearer = sessionStorage.getItem(key);
  } catch { /* storage disabled: pair each time */ }
  const info = await request(base, "GET", "/v1/info", undefined, bearer);
  if (info.protocol !== PROTOCOL) {
    throw new AgentError("agent.protocol", "签名助手版本不兼容", `The signing agent speaks ${info.protocol}`);
  }
  if (!info.paired) {
    const code = pairingCode();
    const shown = (options.onPairing || showCode)(code);
    try {
      ({ token: bearer } = await request(base, "POST", "/v1/pair", { code }));
    } finally {
      if (typeof shown === "function") shown();
    }
    try {
      sessionStorage.setItem(key, bearer);
    } catch { /* storage disabled: this holder keeps it */ }
  }
  const holder = new AgentHolder(base, port, bearer);
  holder.info = info;
  return holder;
}
