// The key holder contract and the helpers every holder and page shares.
//
// A page uses a person's keys only through a holder, whatever holds them: a PKCS#12 file opened
// in the page (soft.js) or a token behind the local signing agent (agent.js). CMS assembly
// (cms.js) and the bid sealing pipeline call nothing else, so a page works with either.
//
// @typedef {Object} HolderCertificate
// @property {string} id                 stable within this holder
// @property {Uint8Array} der            the certificate, DER
// @property {Uint8Array[]} chain        issuing CAs, DER, as available
// @property {'rsa'|'ec-p256'|'sm2'} algorithm
// @property {{organization: string|null, person: string|null, creditCode: string|null}} subject
//
// @typedef {Object} Holder
// @property {'soft'|'agent'} kind
// @property {() => Promise<HolderCertificate[]>} certificates
// @property {(id: string, data: Uint8Array) => Promise<Uint8Array>} sign
//   the signature over `data` as a CMS SignerInfo carries it: rsa, RSASSA-PKCS1-v1_5 with SHA-256;
//   ec-p256, ECDSA with SHA-256, DER (r, s); sm2, SM2 with SM3 and the default user ID, DER.
// @property {(id: string, encryptedKey: Uint8Array, scheme: KeyTransportScheme) => Promise<Uint8Array>} decryptKey
//   key transport; returns the content-encryption (or key-encryption) key.
// @property {(id: string, originatorSpki: Uint8Array) => Promise<Uint8Array>} agree
//   ECDH on P-256 with the peer's SubjectPublicKeyInfo (DER); returns the shared secret Z. The KDF
//   and the AES key unwrap happen in cms.js, the same for every holder.
// @property {() => void} close          forget the keys
//
// @typedef {'rsa-pkcs1'|'rsa-oaep-sha1'|'rsa-oaep-sha256'|'sm2'} KeyTransportScheme

import { asn1js, pkijs } from "/static/vendor/pkijs/pkijs.js";

/** An error a person can read: Chinese `message`, English `messageEn`, a stable `code`. */
export class SignError extends Error {
  constructor(code, message, messageEn) {
    super(`${message} / ${messageEn}`);
    this.name = "SignError";
    this.code = code;
    this.zh = message;
    this.en = messageEn;
  }
}

export const OID = {
  rsaEncryption: "1.2.840.113549.1.1.1",
  ecPublicKey: "1.2.840.10045.2.1",
  prime256v1: "1.2.840.10045.3.1.7",
  sm2Curve: "1.2.156.10197.1.301",
  organizationName: "2.5.4.10",
  commonName: "2.5.4.3",
  organizationIdentifier: "2.5.4.97",
};

// ------------------------------------------------------------------ bytes
export function bytes(value) {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (typeof value === "string") return new TextEncoder().encode(value);
  throw new TypeError("bytes expected");
}

/** A copy in an ArrayBuffer of its own (PKI.js and asn1js want ArrayBuffers). */
export function buffer(value) {
  const b = bytes(value);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

export function equal(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

export function toBase64(value) {
  const b = bytes(value);
  let s = "";
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromBase64(text) {
  const s = atob(text.replace(/\s+/g, ""));
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

export function toHex(value) {
  return Array.from(bytes(value), (x) => x.toString(16).padStart(2, "0")).join("");
}

/** DER from DER or PEM input (a certificate or a CMS object pasted or picked as a file). */
export function der(value) {
  const b = bytes(value);
  const head = new TextDecoder().decode(b.subarray(0, 32));
  if (!head.includes("-----BEGIN")) return b;
  const text = new TextDecoder().decode(b);
  return fromBase64(text.replace(/-----[^-]+-----/g, ""));
}

export async function sha256(data) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes(data)));
}

// ------------------------------------------------------------------ DER / BER
/**
 * The TLV at `at` in BER (definite or indefinite lengths): its tag, where its content starts and
 * ends, and where the next TLV starts. Throws RangeError("truncated") when `b` ends first, so a
 * streamed envelope's head can be read from a prefix and more fetched when needed.
 */
export function tlv(b, at) {
  if (at + 2 > b.length) throw new RangeError("truncated");
  const tag = b[at];
  if ((tag & 0x1f) === 0x1f) throw new RangeError("high tag numbers are not used here");
  let len = b[at + 1];
  let start = at + 2;
  if (len === 0x80) {
    if (!(tag & 0x20)) throw new RangeError("indefinite length on a primitive");
    let p = start;
    while (!(b[p] === 0 && b[p + 1] === 0)) {
      if (p + 2 > b.length) throw new RangeError("truncated");
      p = tlv(b, p).next;
    }
    return { tag, start, end: p, next: p + 2 };
  }
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n > 4) throw new RangeError("bad length");
    if (start + n > b.length) throw new RangeError("truncated");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[start + i];
    start += n;
  }
  if (start + len > b.length) throw new RangeError("truncated");
  return { tag, start, end: start + len, next: start + len };
}

/** The children of the constructed TLV at `at`: [{tag, tlv (whole bytes), content}]. */
export function children(b, at = 0) {
  const outer = tlv(b, at);
  const out = [];
  let p = outer.start;
  while (p < outer.end) {
    const h = tlv(b, p);
    out.push({ tag: h.tag, tlv: b.subarray(p, h.next), content: b.subarray(h.start, h.end) });
    p = h.next;
  }
  return out;
}

/** The octets of an OCTET STRING, primitive or (BER) constructed, tag given or implicit. */
export function octets(node) {
  if (!(node.tag & 0x20)) return node.content;
  return concat(...children(node.tlv).map(octets));
}

/** A dotted object identifier from its content bytes. */
export function oidOf(content) {
  const parts = [];
  let v = 0;
  for (const x of content) {
    v = v * 128 + (x & 0x7f);
    if (!(x & 0x80)) { parts.push(v); v = 0; }
  }
  const first = parts.shift();
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...parts].join(".");
}

/** DER encoding of one TLV from its tag and content parts. */
export function encode(tag, ...parts) {
  const body = concat(...parts);
  const n = body.length;
  let head;
  if (n < 0x80) head = [tag, n];
  else if (n < 0x100) head = [tag, 0x81, n];
  else if (n < 0x10000) head = [tag, 0x82, n >> 8, n & 0xff];
  else head = [tag, 0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return concat(new Uint8Array(head), body);
}

/** ECDSA: WebCrypto's r || s (each 32 bytes for P-256) to the DER SEQUENCE CMS carries. */
export function ecdsaRawToDer(raw) {
  const half = raw.length / 2;
  const int = (v) => {
    let i = 0;
    while (i < v.length - 1 && v[i] === 0) i++;
    v = v.subarray(i);
    if (v[0] & 0x80) v = concat(new Uint8Array([0]), v);
    return concat(new Uint8Array([0x02, v.length]), v);
  };
  const body = concat(int(raw.subarray(0, half)), int(raw.subarray(half)));
  return concat(new Uint8Array([0x30, body.length]), body);
}

// ------------------------------------------------------------------ certificates
export function parseCertificate(value) {
  try {
    return pkijs.Certificate.fromBER(buffer(der(value)));
  } catch {
    throw new SignError("bad_certificate", "证书格式错误", "Not a certificate");
  }
}

function nameValue(name, oid) {
  for (const atv of name.typesAndValues) {
    if (atv.type === oid) return atv.value.valueBlock.value;
  }
  return null;
}

/** organization, person, credit code as a person reads them, from a certificate's subject. */
export function subjectOf(cert) {
  const organization = nameValue(cert.subject, OID.organizationName);
  const cn = nameValue(cert.subject, OID.commonName);
  let person = cn;
  // The dev CA and most Chinese CAs name the holder "<organization>经办人" or the person alone.
  if (cn && organization && cn.startsWith(organization) && cn.length > organization.length) {
    person = cn.slice(organization.length);
  }
  return { organization, person, creditCode: nameValue(cert.subject, OID.organizationIdentifier) };
}

/** 'rsa' | 'ec-p256' | 'sm2' from the certificate's public key; other keys are refused. */
export function algorithmOf(cert) {
  const alg = cert.subjectPublicKeyInfo.algorithm;
  if (alg.algorithmId === OID.rsaEncryption) return "rsa";
  if (alg.algorithmId === OID.ecPublicKey) {
    const curve = alg.algorithmParams && alg.algorithmParams.valueBlock.toString();
    if (curve === OID.prime256v1) return "ec-p256";
    if (curve === OID.sm2Curve) return "sm2";
  }
  throw new SignError("unsupported_key", "不支持的证书密钥类型（仅支持 RSA、P-256 与 SM2）",
    "Unsupported certificate key (RSA, P-256 and SM2 only)");
}

/** The (issuer, serial number) pair CMS names a certificate by, as the DER of each. */
export function issuerAndSerial(value) {
  const tbs = children(children(der(value))[0].tlv);
  const rest = tbs[0].tag === 0xa0 ? tbs.slice(1) : tbs;
  return { serial: rest[0].tlv, issuer: rest[2].tlv };
}

/** A readable one-line label for a certificate in a picker. */
export function describe(entry) {
  const s = entry.subject;
  const who = [s.organization, s.person].filter(Boolean).join(" · ") || "—";
  const alg = { rsa: "RSA", "ec-p256": "P-256", sm2: "SM2" }[entry.algorithm];
  return `${who}${s.creditCode ? ` (${s.creditCode})` : ""} · ${alg}`;
}

const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

/**
 * The certificate in `holder` for a purpose. A token holds several (a CA's USB key carries a
 * signing and an encryption certificate, sometimes a login one), so each is scored by its key
 * usage and extended key usage: encryption wants key encipherment or agreement; signing wants
 * digital signature, non-repudiation first; login wants digital signature, client
 * authentication first. With none fitting, the first is returned and the platform's own check
 * says why it refuses it.
 */
export async function pick(holder, purpose) {
  const entries = await holder.certificates();
  if (!entries.length) throw new SignError("no_certificate", "证书文件中没有证书", "The holder has no certificate");
  let best = entries[0];
  let bestScore = 0;
  for (const entry of entries) {
    const score = fitness(parseCertificate(entry.der), purpose);
    if (score > bestScore) [best, bestScore] = [entry, score];
  }
  return best;
}

function fitness(cert, purpose) {
  const usage = keyUsageBits(cert);
  const has = (bit) => usage === null || usage.has(bit);
  if (purpose === "encryption") return has(2) || has(3) || has(4) ? 1 : 0;
  if (!has(0) && !has(1)) return 0;
  if (purpose === "login") return has(0) ? 1 + extendedUsage(cert).includes(CLIENT_AUTH) : 0;
  return 1 + (usage !== null && usage.has(1));
}

function extendedUsage(cert) {
  const ext = (cert.extensions || []).find((e) => e.extnID === "2.5.29.37");
  return ext && ext.parsedValue ? ext.parsedValue.keyPurposes || [] : [];
}

function keyUsageBits(cert) {
  const ext = (cert.extensions || []).find((e) => e.extnID === "2.5.29.15");
  if (!ext) return null;
  const bits = new Set();
  const view = ext.parsedValue.valueBlock.valueHexView;
  for (let i = 0; i < view.length * 8; i++) {
    if (view[i >> 3] & (0x80 >> (i & 7))) bits.add(i);
  }
  return bits;
}

export { asn1js, pkijs };
