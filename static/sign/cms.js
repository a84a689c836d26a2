// CMS (RFC 5652) in the page: SignedData made with a holder's key, and content keys unwrapped
// from EnvelopedData / AuthEnvelopedData for a holder's certificate. Only the holder members of
// holder.js are used, so a PKCS#12 file and a token behind the signing agent work the same.
//
// Signing: SHA-256 (SM3 for SM2 holders), signed attributes contentType, signingTime,
// messageDigest and signing-certificate-v2, DER-sorted as the SET OF requires; detached or with
// the content encapsulated. What `openssl cms -verify` and signing/cms.py read.
//
// Unwrapping: key transport (RSA PKCS#1 v1.5, RSA-OAEP with SHA-1 or SHA-256, SM2 through the
// agent) and key agreement (ECDH P-256, dhSinglePass-stdDH-sha1kdf / -sha256kdf / -sha384kdf /
// -sha512kdf, X9.63 KDF, AES-128/256 key wrap): what signing/envelope.py and `openssl cms
// -encrypt` write.

import {
  SignError, asn1js, buffer, bytes, children, concat, encode, equal, issuerAndSerial, octets,
  oidOf, pkijs, sha256, tlv,
} from "./holder.js";
import { sm3 } from "./sm3.js";

const OIDS = {
  data: "1.2.840.113549.1.7.1",
  signedData: "1.2.840.113549.1.7.2",
  envelopedData: "1.2.840.113549.1.7.3",
  authEnvelopedData: "1.2.840.113549.1.9.16.1.23",
  contentType: "1.2.840.113549.1.9.3",
  messageDigest: "1.2.840.113549.1.9.4",
  signingTime: "1.2.840.113549.1.9.5",
  signingCertificateV2: "1.2.840.113549.1.9.16.2.47",
  sha256: "2.16.840.1.101.3.4.2.1",
  sm3: "1.2.156.10197.1.401",
  sha256WithRSA: "1.2.840.113549.1.1.11",
  ecdsaWithSHA256: "1.2.840.10045.4.3.2",
  sm2Sign: "1.2.156.10197.1.301.1",
  rsaEncryption: "1.2.840.113549.1.1.1",
  rsaOaep: "1.2.840.113549.1.1.7",
  sm2Encrypt: "1.2.156.10197.1.301.3",
  ecPublicKey: "1.2.840.10045.2.1",
  prime256v1: "1.2.840.10045.3.1.7",
  aes128Gcm: "2.16.840.1.101.3.4.1.6",
  aes256Gcm: "2.16.840.1.101.3.4.1.46",
  aes128Cbc: "2.16.840.1.101.3.4.1.2",
  aes256Cbc: "2.16.840.1.101.3.4.1.42",
};
const KDF_HASH = {
  "1.3.133.16.840.63.0.2": "SHA-1",
  "1.3.132.1.11.1": "SHA-256",
  "1.3.132.1.11.2": "SHA-384",
  "1.3.132.1.11.3": "SHA-512",
};
const AES_WRAP = { "2.16.840.1.101.3.4.1.5": 16, "2.16.840.1.101.3.4.1.45": 32 };
const OAEP_HASH = { "1.3.14.3.2.26": "sha1", "2.16.840.1.101.3.4.2.1": "sha256" };

const NOT_RECIPIENT = new SignError("not_recipient", "此信封不是为所选证书加密的",
  "The envelope was not encrypted for the chosen certificate");
const MALFORMED = new SignError("malformed_envelope", "数字信封格式错误", "Malformed envelope");

// ------------------------------------------------------------------ signing
/** The DER of the signed attributes, as a SET OF sorted by encoding (X.690 11.6). */
function attributeSet(attributes) {
  const encoded = attributes.map((a) => new Uint8Array(a.toSchema().toBER(false)));
  encoded.sort((a, b) => {
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
    return a.length - b.length;
  });
  return encoded;
}

/**
 * CMS SignedData over `content` with the holder's certificate `id`.
 * @param {import('./holder.js').Holder} holder
 * @param {string} id
 * @param {Uint8Array} content the bytes signed (or their digest, with `digest: true`: SHA-256,
 *   or SM3 for an SM2 certificate; then `detached` must be true)
 * @param {{detached?: boolean, digest?: boolean, signingTime?: Date}} [options]
 * @returns {Promise<Uint8Array>} DER
 */
export async function sign(holder, id, content, options = {}) {
  const { detached = true, signingTime = new Date() } = options;
  const entry = (await holder.certificates()).find((e) => e.id === id);
  if (!entry) throw new SignError("no_certificate", "找不到所选证书", "The chosen certificate is gone");
  const data = bytes(content);
  const sm2 = entry.algorithm === "sm2";
  // SM2 signs over SM3 (GM/T 0010); with `digest: true` the caller hashed a large file itself
  const digest = options.digest ? data : sm2 ? sm3(data) : await sha256(data);
  const digestAlgorithm = new pkijs.AlgorithmIdentifier({ algorithmId: sm2 ? OIDS.sm3 : OIDS.sha256 });
  const certHash = await sha256(entry.der);
  const attributes = [
    new pkijs.Attribute({ type: OIDS.contentType, values: [new asn1js.ObjectIdentifier({ value: OIDS.data })] }),
    new pkijs.Attribute({ type: OIDS.signingTime, values: [new asn1js.UTCTime({ valueDate: signingTime })] }),
    new pkijs.Attribute({ type: OIDS.messageDigest, values: [new asn1js.OctetString({ valueHex: buffer(digest) })] }),
    new pkijs.Attribute({
      type: OIDS.signingCertificateV2,
      values: [new asn1js.Sequence({ value: [new asn1js.Sequence({ value: [new asn1js.Sequence({ value: [
        new asn1js.OctetString({ valueHex: buffer(certHash) })] })] })] })],
    }),
  ];
  const sorted = attributeSet(attributes);
  const signedAttrs = encode(0x31, ...sorted);
  const signature = await holder.sign(id, signedAttrs);
  const { issuer, serial } = issuerAndSerial(entry.der);
  const sigAlg = { rsa: [OIDS.sha256WithRSA, true], "ec-p256": [OIDS.ecdsaWithSHA256, false], sm2: [OIDS.sm2Sign, false] }[entry.algorithm];
  // SignerInfo by hand from DER parts: the signed attributes go in exactly as they were signed.
  const algId = (oid, nullParams) => encode(0x30, new Uint8Array(new asn1js.ObjectIdentifier({ value: oid }).toBER(false)),
    nullParams ? new Uint8Array([0x05, 0x00]) : new Uint8Array(0));
  const signerInfo = encode(0x30,
    new Uint8Array([0x02, 0x01, 0x01]),
    encode(0x30, issuer, serial),
    algId(sm2 ? OIDS.sm3 : OIDS.sha256, false),
    encode(0xa0, ...sorted),
    algId(sigAlg[0], sigAlg[1]),
    encode(0x04, signature));
  const encap = detached
    ? encode(0x30, oidDer(OIDS.data))
    : encode(0x30, oidDer(OIDS.data), encode(0xa0, encode(0x04, data)));
  const certs = [entry.der, ...entry.chain.filter((c) => !isSelfSigned(c))];
  const signedData = encode(0x30,
    new Uint8Array([0x02, 0x01, 0x01]),
    encode(0x31, new Uint8Array(digestAlgorithm.toSchema().toBER(false))),
    encap,
    encode(0xa0, ...certs),
    encode(0x31, signerInfo));
  return encode(0x30, oidDer(OIDS.signedData), encode(0xa0, signedData));
}

function oidDer(oid) {
  return new Uint8Array(new asn1js.ObjectIdentifier({ value: oid }).toBER(false));
}

function isSelfSigned(der) {
  const { issuer } = issuerAndSerial(der);
  const tbs = children(children(der)[0].tlv);
  const rest = tbs[0].tag === 0xa0 ? tbs.slice(1) : tbs;
  return equal(issuer, rest[4].tlv);
}

// ------------------------------------------------------------------ envelopes
/**
 * The recipients of an EnvelopedData or AuthEnvelopedData from its first bytes: a bid of any size
 * needs only its head (the recipients sit in the first kilobytes). Throws RangeError("truncated")
 * when `head` is too short, so the caller can fetch more.
 * @returns {{kind: 'enveloped'|'auth-enveloped', recipientInfos: Uint8Array[], after: number}}
 */
export function envelopeHead(head) {
  const b = bytes(head);
  const header = (at) => {
    // the header only: indefinite lengths are fine, the content need not be present
    const tag = b[at];
    let len = b[at + 1];
    let start = at + 2;
    if (len & 0x80 && len !== 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + b[start + i];
      start += n;
    }
    if (start > b.length) throw new RangeError("truncated");
    return { tag, start };
  };
  const ci = header(0);
  if (ci.tag !== 0x30) throw MALFORMED;
  const typeNode = tlv(b, ci.start);
  const kind = oidOf(b.subarray(typeNode.start, typeNode.end));
  if (kind !== OIDS.envelopedData && kind !== OIDS.authEnvelopedData) throw MALFORMED;
  const explicit = header(typeNode.next);
  const body = header(explicit.start);
  const version = tlv(b, body.start);
  let at = version.next;
  if (b[at] === 0xa0) at = tlv(b, at).next; // originatorInfo
  const set = tlv(b, at);
  const recipientInfos = [];
  let p = set.start;
  while (p < set.end) {
    const h = tlv(b, p);
    recipientInfos.push(b.slice(p, h.next));
    p = h.next;
  }
  return { kind: kind === OIDS.envelopedData ? "enveloped" : "auth-enveloped", recipientInfos, after: set.next };
}

function rid(node) {
  // IssuerAndSerialNumber ::= SEQUENCE { issuer, serialNumber }; a subject key identifier otherwise
  if (node.tag !== 0x30) return null;
  const [issuer, serial] = children(node.tlv);
  return { issuer: issuer.tlv, serial: serial.tlv };
}

function sameCert(id, mine) {
  return id && equal(id.issuer, mine.issuer) && equal(id.serial, mine.serial);
}

/** Which recipient info names the certificate, and how its key is wrapped. */
function findRecipient(recipientInfos, certDer) {
  const mine = issuerAndSerial(certDer);
  for (const info of recipientInfos) {
    const tag = info[0];
    if (tag === 0x30) { // KeyTransRecipientInfo
      const [, r, alg, key] = children(info);
      if (sameCert(rid(r), mine)) return { type: "ktri", alg, encryptedKey: key.content };
    } else if (tag === 0xa1) { // [1] KeyAgreeRecipientInfo
      const fields = children(info);
      const keys = fields[fields.length - 1];
      for (const rek of children(keys.tlv)) {
        const [r, key] = children(rek.tlv);
        if (sameCert(rid(r), mine)) return { type: "kari", fields, encryptedKey: key.content };
      }
    }
  }
  throw NOT_RECIPIENT;
}

function ktriScheme(alg) {
  const [oid, params] = children(alg.tlv);
  const name = oidOf(oid.content);
  if (name === OIDS.rsaEncryption) return "rsa-pkcs1";
  if (name === OIDS.sm2Encrypt) return "sm2";
  if (name !== OIDS.rsaOaep) throw new SignError("unsupported_envelope", `不支持的密钥传输算法 ${name}`, `Unsupported key transport ${name}`);
  let hash = "sha1";
  let mgf = "sha1";
  for (const p of params ? children(params.tlv) : []) {
    if (p.tag === 0xa0) hash = OAEP_HASH[oidOf(children(children(p.tlv)[0].tlv)[0].content)];
    if (p.tag === 0xa1) {
      const mgfParams = children(children(p.tlv)[0].tlv)[1];
      mgf = OAEP_HASH[oidOf(children(mgfParams.tlv)[0].content)];
    }
    if (p.tag === 0xa2) throw new SignError("unsupported_envelope", "不支持带标签的 RSA-OAEP", "RSA-OAEP with a label is not supported");
  }
  if (!hash || hash !== mgf) throw new SignError("unsupported_envelope", "不支持的 RSA-OAEP 参数", "Unsupported RSA-OAEP parameters");
  return `rsa-oaep-${hash}`;
}

/** X9.63 KDF (SEC 1, 3.6.1) with the ECC-CMS-SharedInfo of RFC 5753. */
async function x963(hash, z, sharedInfo, length) {
  const out = [];
  let have = 0;
  for (let counter = 1; have < length; counter++) {
    const c = new Uint8Array([counter >>> 24, (counter >>> 16) & 0xff, (counter >>> 8) & 0xff, counter & 0xff]);
    const block = new Uint8Array(await crypto.subtle.digest(hash, concat(z, c, sharedInfo)));
    out.push(block);
    have += block.length;
  }
  return concat(...out).subarray(0, length);
}

async function aesUnwrap(kek, wrapped) {
  const key = await crypto.subtle.importKey("raw", kek, "AES-KW", false, ["unwrapKey"]);
  try {
    // HMAC takes a key of any length, so it carries 16-, 24- and 32-byte content keys alike.
    const cek = await crypto.subtle.unwrapKey("raw", wrapped, key, "AES-KW",
      { name: "HMAC", hash: "SHA-256", length: (wrapped.length - 8) * 8 }, true, ["sign"]);
    return new Uint8Array(await crypto.subtle.exportKey("raw", cek));
  } catch {
    throw new SignError("wrong_key", "私钥无法解开内容密钥：不是为此证书加密的", "The private key cannot unwrap the content key: not encrypted for this certificate");
  }
}

async function unwrapKari(holder, id, fields, encryptedKey) {
  // KeyAgreeRecipientInfo ::= { version, originator [0], ukm [1] OPTIONAL, keyEncryptionAlgorithm, recipientEncryptedKeys }
  const originator = children(fields[1].tlv)[0];
  if (originator.tag !== 0xa1) throw new SignError("unsupported_envelope", "密钥协商的发起方不是临时公钥", "The key agreement originator is not an ephemeral key");
  const [, point] = children(originator.tlv); // OriginatorPublicKey, [1] IMPLICIT: algorithm, publicKey
  const ukm = fields[2].tag === 0xa1 ? octets(children(fields[2].tlv)[0]) : null;
  const alg = fields[ukm === null ? 2 : 3];
  const [kaOid, wrapAlg] = children(alg.tlv);
  const hash = KDF_HASH[oidOf(kaOid.content)];
  const wrapOid = oidOf(children(wrapAlg.tlv)[0].content);
  const kekLength = AES_WRAP[wrapOid];
  if (!hash || !kekLength) throw new SignError("unsupported_envelope", "不支持的密钥协商算法", "Unsupported key agreement algorithm");
  // the peer's point, as a P-256 SubjectPublicKeyInfo whatever the originator's parameters said
  const spki = encode(0x30, encode(0x30, encode(0x06, oidBody(OIDS.ecPublicKey)), encode(0x06, oidBody(OIDS.prime256v1))),
    point.tlv[0] === 0x03 ? point.tlv : encode(0x03, point.content));
  const z = await holder.agree(id, spki);
  // ECC-CMS-SharedInfo: the key-wrap algorithm as the envelope states it, ukm, the KEK size in bits
  const bits = kekLength * 8;
  const sharedInfo = encode(0x30, wrapAlg.tlv,
    ukm === null ? new Uint8Array(0) : encode(0xa0, encode(0x04, ukm)),
    encode(0xa2, encode(0x04, new Uint8Array([bits >>> 24, (bits >>> 16) & 0xff, (bits >>> 8) & 0xff, bits & 0xff]))));
  const kek = await x963(hash, z, sharedInfo, kekLength);
  z.fill(0);
  return aesUnwrap(kek, encryptedKey);
}

function oidBody(oid) {
  return oidDer(oid).subarray(2);
}

/**
 * The content-encryption key of an envelope, unwrapped for the holder's certificate `id`, or
 * with `id` null for whichever of the holder's certificates the envelope names.
 * @param {import('./holder.js').Holder} holder
 * @param {string | null} id
 * @param {Uint8Array[]} recipientInfos from envelopeHead()
 */
export async function unwrapContentKey(holder, id, recipientInfos) {
  const entries = await holder.certificates();
  // id null: whichever of the holder's certificates the envelope names (a USB key holds several)
  const candidates = id == null ? entries : entries.filter((e) => e.id === id);
  if (!candidates.length) throw new SignError("no_certificate", "找不到所选证书", "The chosen certificate is gone");
  let found;
  for (const entry of candidates) {
    try {
      found = findRecipient(recipientInfos, entry.der);
      id = entry.id;
      break;
    } catch (e) {
      if (e === NOT_RECIPIENT && entry !== candidates[candidates.length - 1]) continue;
      if (e instanceof SignError) throw e;
      throw MALFORMED;
    }
  }
  if (found.type === "ktri") return holder.decryptKey(id, found.encryptedKey, ktriScheme(found.alg));
  return unwrapKari(holder, id, found.fields, found.encryptedKey);
}

/**
 * Open a small envelope whole (an officer's sealed key share, a test document): unwrap the
 * content key with the holder and decrypt AES-GCM (AuthEnvelopedData) or AES-CBC (EnvelopedData).
 */
export async function openEnvelope(holder, id, envelope) {
  const b = bytes(envelope);
  let head;
  try {
    head = envelopeHead(b);
  } catch (e) {
    if (e instanceof SignError) throw e;
    throw MALFORMED;
  }
  const cek = await unwrapContentKey(holder, id, head.recipientInfos);
  try {
    return await decryptContent(b, head, cek);
  } finally {
    cek.fill(0);
  }
}

async function decryptContent(b, head, cek) {
  const eci = tlv(b, head.after);
  const [, alg, content] = children(b, head.after);
  const [oid, params] = children(alg.tlv);
  const name = oidOf(oid.content);
  const ciphertext = content ? octets(content) : new Uint8Array(0);
  if (head.kind === "auth-enveloped") {
    if (name !== OIDS.aes256Gcm && name !== OIDS.aes128Gcm) throw MALFORMED;
    const [nonce] = children(params.tlv);
    let at = eci.next;
    let aad;
    if (b[at] === 0xa1) { // authAttrs, authenticated as a SET OF
      const attrs = tlv(b, at);
      aad = concat(new Uint8Array([0x31]), b.subarray(at + 1, attrs.next));
      at = attrs.next;
    }
    const mac = tlv(b, at);
    const tag = b.subarray(mac.start, mac.end);
    const key = await crypto.subtle.importKey("raw", cek, "AES-GCM", false, ["decrypt"]);
    const algorithm = { name: "AES-GCM", iv: nonce.content, tagLength: tag.length * 8 };
    if (aad) algorithm.additionalData = aad;
    return decryptOrWrong(algorithm, key, concat(ciphertext, tag));
  }
  if (name !== OIDS.aes256Cbc && name !== OIDS.aes128Cbc) throw MALFORMED;
  const key = await crypto.subtle.importKey("raw", cek, "AES-CBC", false, ["decrypt"]);
  return decryptOrWrong({ name: "AES-CBC", iv: params.content }, key, ciphertext);
}

async function decryptOrWrong(algorithm, key, data) {
  try {
    return new Uint8Array(await crypto.subtle.decrypt(algorithm, key, data));
  } catch {
    throw new SignError("wrong_key", "内容密钥无法解密此信封", "The content key does not decrypt this envelope");
  }
}

export { OIDS };
