// The soft holder: a PKCS#12 file opened in the page with its password.
//
// Read: PBES2 (PBKDF2 with HMAC-SHA-1/256/384/512, AES-128/256-CBC) for the key and certificate
// bags and an HMAC integrity MAC (SHA-1/256/384/512, the PKCS#12 key derivation): what openssl 3
// `pkcs12 -export` and Python cryptography's BestAvailableEncryption write. Refused, each with its
// own message: the legacy RC2/3DES/RC4 encryptions (`openssl pkcs12 -legacy`, old Windows
// exports), PBMAC1, AES-192 (browsers do not implement it), files without a MAC, SM2 keys (those
// go through the signing agent).
//
// The private key is imported into WebCrypto as non-extractable keys right after it is decrypted;
// the decrypted PKCS#8 bytes are overwritten. One exception, stated in docs/browser-signing.md:
// WebCrypto has no RSAES-PKCS1-v1_5 decryption, which `openssl cms -encrypt` uses by default for
// RSA recipients, so for RSA keys the private exponent's CRT parts are kept as BigInts inside this
// module's closure (never exposed, never sent, dropped by close()) and used with blinding.

import {
  OID, SignError, algorithmOf, buffer, bytes, children, concat, ecdsaRawToDer, equal, octets,
  oidOf, parseCertificate, subjectOf, toHex,
} from "./holder.js";
import { sha1, sha256, sha384, sha512 } from "/static/vendor/pkijs/hashes.js";

const BAG = {
  key: "1.2.840.113549.1.12.10.1.1",
  shroudedKey: "1.2.840.113549.1.12.10.1.2",
  cert: "1.2.840.113549.1.12.10.1.3",
};
const DATA = "1.2.840.113549.1.7.1";
const ENCRYPTED_DATA = "1.2.840.113549.1.7.6";
const LOCAL_KEY_ID = "1.2.840.113549.1.9.21";
const X509_CERT = "1.2.840.113549.1.9.22.1";
const PBES2 = "1.2.840.113549.1.5.13";
const PBKDF2 = "1.2.840.113549.1.5.12";
const PBMAC1 = "1.2.840.113549.1.5.14";
const PRF = {
  "1.2.840.113549.2.7": "SHA-1", "1.2.840.113549.2.9": "SHA-256",
  "1.2.840.113549.2.10": "SHA-384", "1.2.840.113549.2.11": "SHA-512",
};
const AES_CBC = { "2.16.840.1.101.3.4.1.2": 16, "2.16.840.1.101.3.4.1.42": 32 };
const MAC_HASH = {
  "1.3.14.3.2.26": [sha1, 64], "2.16.840.1.101.3.4.2.1": [sha256, 64],
  "2.16.840.1.101.3.4.2.2": [sha384, 128], "2.16.840.1.101.3.4.2.3": [sha512, 128],
};
const MAC_NAME = {
  "1.3.14.3.2.26": "SHA-1", "2.16.840.1.101.3.4.2.1": "SHA-256",
  "2.16.840.1.101.3.4.2.2": "SHA-384", "2.16.840.1.101.3.4.2.3": "SHA-512",
};

const LEGACY = new SignError("pkcs12_legacy",
  "证书文件使用旧式加密（RC2/3DES），浏览器不支持。请用 openssl 转存为 AES 加密：openssl pkcs12 -legacy -in 旧.p12 -nodes | openssl pkcs12 -export -out 新.p12",
  "The certificate file uses legacy encryption (RC2/3DES), which the browser does not support. Re-export it with AES: openssl pkcs12 -legacy -in old.p12 -nodes | openssl pkcs12 -export -out new.p12");
const WRONG_PASSWORD = new SignError("pkcs12_password", "证书文件密码错误", "Wrong password for the certificate file");
const MALFORMED = new SignError("pkcs12_malformed", "不是有效的 PKCS#12 证书文件（.p12/.pfx）",
  "Not a valid PKCS#12 certificate file (.p12/.pfx)");

function int(node) {
  let v = 0;
  for (const x of node.content) v = v * 256 + x;
  return v;
}

function bigint(content) {
  return content.length ? BigInt(`0x${toHex(content)}`) : 0n;
}

// ------------------------------------------------------------------ PKCS#12 key derivation (MAC)
/** RFC 7292 appendix B.2, ID 3 (the MAC key), password as a BMPString with its two zero bytes. */
function pkcs12Kdf(hash, v, password, salt, iterations, n) {
  const bmp = new Uint8Array(password.length * 2 + 2);
  for (let i = 0; i < password.length; i++) {
    bmp[2 * i] = password.charCodeAt(i) >> 8;
    bmp[2 * i + 1] = password.charCodeAt(i) & 0xff;
  }
  const fill = (src) => {
    const out = new Uint8Array(src.length ? v * Math.ceil(src.length / v) : 0);
    for (let i = 0; i < out.length; i++) out[i] = src[i % src.length];
    return out;
  };
  const D = new Uint8Array(v).fill(3);
  const I = concat(fill(salt), fill(bmp));
  const out = [];
  let have = 0;
  while (have < n) {
    let A = hash(concat(D, I));
    for (let i = 1; i < iterations; i++) A = hash(A);
    out.push(A);
    have += A.length;
    const B = fill(A);
    for (let j = 0; j < I.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = I[j + k] + B[k] + carry;
        I[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return concat(...out).subarray(0, n);
}

async function checkMac(pfx, authSafe, password) {
  if (pfx.length < 3) throw new SignError("pkcs12_no_mac", "证书文件没有完整性校验码（MAC），不予使用",
    "The certificate file has no integrity MAC; it is not used");
  const [digestInfo, salt, iterations] = children(pfx[2].tlv);
  const [alg, digest] = children(digestInfo.tlv);
  const oid = oidOf(children(alg.tlv)[0].content);
  if (oid === PBMAC1) throw LEGACY;
  const hash = MAC_HASH[oid];
  if (!hash) throw MALFORMED;
  const [fn, v] = hash;
  const macKey = pkcs12Kdf(fn, v, password, salt.content, iterations ? int(iterations) : 1,
    digest.content.length);
  const key = await crypto.subtle.importKey("raw", macKey, { name: "HMAC", hash: MAC_NAME[oid] },
    false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, authSafe));
  macKey.fill(0);
  if (!equal(mac, digest.content)) throw WRONG_PASSWORD;
}

// ------------------------------------------------------------------ PBES2
async function pbes2Decrypt(algorithm, ciphertext, password) {
  const [oidNode, params] = children(algorithm.tlv);
  const oid = oidOf(oidNode.content);
  if (oid.startsWith("1.2.840.113549.1.12.1.")) throw LEGACY;
  if (oid !== PBES2) throw LEGACY;
  const [kdf, scheme] = children(params.tlv);
  const [kdfOid, kdfParams] = children(kdf.tlv);
  if (oidOf(kdfOid.content) !== PBKDF2) throw LEGACY;
  const fields = children(kdfParams.tlv);
  const salt = fields[0].content;
  const iterations = int(fields[1]);
  let prf = "SHA-1";
  for (const f of fields.slice(2)) {
    if (f.tag === 0x30) prf = PRF[oidOf(children(f.tlv)[0].content)];
  }
  const [schemeOid, iv] = children(scheme.tlv);
  const keyLength = AES_CBC[oidOf(schemeOid.content)];
  if (!prf || !keyLength) throw LEGACY;
  const base = await crypto.subtle.importKey("raw", new TextEncoder().encode(password), "PBKDF2",
    false, ["deriveKey"]);
  const key = await crypto.subtle.deriveKey(
    { name: "PBKDF2", salt, iterations, hash: prf }, base,
    { name: "AES-CBC", length: keyLength * 8 }, false, ["decrypt"]);
  try {
    return new Uint8Array(await crypto.subtle.decrypt({ name: "AES-CBC", iv: iv.content }, key,
      ciphertext));
  } catch {
    throw WRONG_PASSWORD; // the MAC passed, so this is a key encrypted under another password
  }
}

// ------------------------------------------------------------------ reading the file
async function readBags(file, password) {
  let pfx;
  let authSafe;
  try {
    pfx = children(file);
    const [contentType, content] = children(pfx[1].tlv);
    if (oidOf(contentType.content) !== DATA) throw MALFORMED;
    authSafe = octets(children(content.tlv)[0]);
  } catch (e) {
    if (e instanceof SignError) throw e;
    throw MALFORMED;
  }
  await checkMac(pfx, authSafe, password);
  const bags = [];
  for (const info of children(authSafe)) {
    const [type, wrapped] = children(info.tlv);
    let safeContents;
    const kind = oidOf(type.content);
    if (kind === DATA) {
      safeContents = octets(children(wrapped.tlv)[0]);
    } else if (kind === ENCRYPTED_DATA) {
      const [, eci] = children(children(wrapped.tlv)[0].tlv);
      const [, alg, encrypted] = children(eci.tlv);
      safeContents = await pbes2Decrypt(alg, octets(encrypted), password);
    } else {
      throw new SignError("pkcs12_public_key", "证书文件使用公钥加密的内容，浏览器不支持",
        "The certificate file uses public-key protected contents, which the page does not read");
    }
    for (const bag of children(safeContents)) {
      const [bagId, value, attrs] = children(bag.tlv);
      let localKeyId = null;
      if (attrs) {
        for (const attr of children(attrs.tlv)) {
          const [aoid, set] = children(attr.tlv);
          if (oidOf(aoid.content) === LOCAL_KEY_ID) localKeyId = toHex(children(set.tlv)[0].content);
        }
      }
      bags.push({ type: oidOf(bagId.content), value: children(value.tlv)[0], localKeyId });
    }
  }
  return bags;
}

// ------------------------------------------------------------------ RSA PKCS#1 v1.5 decryption
function modPow(base, exp, mod) {
  let result = 1n;
  base %= mod;
  while (exp > 0n) {
    if (exp & 1n) result = (result * base) % mod;
    base = (base * base) % mod;
    exp >>= 1n;
  }
  return result;
}

function modInverse(a, m) {
  let [r0, r1, s0, s1] = [m, ((a % m) + m) % m, 0n, 1n];
  while (r1) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  if (r0 !== 1n) throw new Error("not invertible");
  return ((s0 % m) + m) % m;
}

function randomBelow(n) {
  const size = (n.toString(16).length + 1) >> 1;
  for (;;) {
    const r = bigint(crypto.getRandomValues(new Uint8Array(size))) % n;
    if (r > 1n) return r;
  }
}

function rsaParts(pkcs8Key) {
  // RSAPrivateKey ::= SEQUENCE { version, n, e, d, p, q, dp, dq, qinv }
  const f = children(pkcs8Key).map((x) => bigint(x.content));
  return { n: f[1], e: f[2], p: f[4], q: f[5], dp: f[6], dq: f[7], qinv: f[8] };
}

/** RSAES-PKCS1-v1_5 decryption with blinding, all failures alike. */
function rsaPkcs1Decrypt(k, ciphertext) {
  const size = (k.n.toString(16).length + 1) >> 1;
  const c = bigint(ciphertext);
  if (ciphertext.length !== size || c >= k.n) throw new Error("bad ciphertext");
  const r = randomBelow(k.n);
  const blinded = (c * modPow(r, k.e, k.n)) % k.n;
  const m1 = modPow(blinded, k.dp, k.p);
  const m2 = modPow(blinded, k.dq, k.q);
  const h = (k.qinv * (((m1 - m2) % k.p) + k.p)) % k.p;
  const m = ((m2 + h * k.q) * modInverse(r, k.n)) % k.n;
  const em = new Uint8Array(size);
  const hex = m.toString(16).padStart(size * 2, "0");
  for (let i = 0; i < size; i++) em[i] = parseInt(hex.substr(2 * i, 2), 16);
  let zero = -1;
  for (let i = 2; i < size; i++) if (em[i] === 0) { zero = i; break; }
  if (em[0] !== 0 || em[1] !== 2 || zero < 10) throw new Error("bad padding");
  return em.slice(zero + 1);
}

// ------------------------------------------------------------------ the holder
async function importKey(pkcs8, algorithm) {
  // PrivateKeyInfo ::= SEQUENCE { version, algorithm, privateKey OCTET STRING, ... }
  const [, alg, inner] = children(pkcs8);
  const [oid, params] = children(alg.tlv);
  const keyOid = oidOf(oid.content);
  const use = (a, usages) => crypto.subtle.importKey("pkcs8", pkcs8, a, false, usages);
  if (keyOid === OID.rsaEncryption && algorithm === "rsa") {
    return {
      sign: await use({ name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, ["sign"]),
      oaep1: await use({ name: "RSA-OAEP", hash: "SHA-1" }, ["decrypt"]),
      oaep256: await use({ name: "RSA-OAEP", hash: "SHA-256" }, ["decrypt"]),
      raw: rsaParts(inner.content),
    };
  }
  if (keyOid === OID.ecPublicKey && params && oidOf(params.content) === OID.prime256v1
      && algorithm === "ec-p256") {
    return {
      sign: await use({ name: "ECDSA", namedCurve: "P-256" }, ["sign"]),
      ecdh: await use({ name: "ECDH", namedCurve: "P-256" }, ["deriveBits"]),
    };
  }
  if (params && oidOf(params.content) === OID.sm2Curve) {
    throw new SignError("sm2_in_page", "SM2 国密证书请通过 USB key（签名代理）使用",
      "SM2 certificates are used through the USB key (signing agent)");
  }
  throw new SignError("unsupported_key", "证书文件中的私钥类型不受支持（仅 RSA 与 P-256）",
    "The key in the certificate file is not supported (RSA and P-256 only)");
}

/**
 * Open a PKCS#12 file with its password and return a holder (holder.js). The password is used
 * here and not kept; the file's bytes are not kept either.
 * @param {Uint8Array|ArrayBuffer} file
 * @param {string} password
 */
export async function openPkcs12(file, password) {
  const bags = await readBags(bytes(file), password);
  const keys = [];
  const certs = [];
  for (const bag of bags) {
    if (bag.type === BAG.shroudedKey) {
      const [alg, encrypted] = children(bag.value.tlv);
      keys.push({ pkcs8: await pbes2Decrypt(alg, encrypted.content, password), localKeyId: bag.localKeyId });
    } else if (bag.type === BAG.key) {
      keys.push({ pkcs8: new Uint8Array(bag.value.tlv), localKeyId: bag.localKeyId });
    } else if (bag.type === BAG.cert) {
      const [certType, value] = children(bag.value.tlv);
      if (oidOf(certType.content) === X509_CERT) {
        certs.push({ der: new Uint8Array(octets(children(value.tlv)[0])), localKeyId: bag.localKeyId });
      }
    }
  }
  if (!keys.length) throw new SignError("pkcs12_no_key", "证书文件中没有私钥", "The certificate file holds no private key");
  const entries = [];
  const secrets = new Map();
  for (const [index, key] of keys.entries()) {
    const own = certs.find((c) => key.localKeyId && c.localKeyId === key.localKeyId)
      || certs.find((c) => !isCa(c.der));
    if (!own) continue;
    const cert = parseCertificate(own.der);
    const algorithm = algorithmOf(cert);
    try {
      secrets.set(String(index), { algorithm, keys: await importKey(key.pkcs8, algorithm) });
    } finally {
      key.pkcs8.fill(0);
    }
    entries.push({
      id: String(index), der: own.der, algorithm, subject: subjectOf(cert),
      chain: certs.filter((c) => c !== own).map((c) => c.der),
    });
  }
  if (!entries.length) throw new SignError("pkcs12_no_certificate", "证书文件中没有与私钥对应的证书",
    "The certificate file has no certificate for its key");
  return makeHolder(entries, secrets);
}

function isCa(der) {
  const cert = parseCertificate(der);
  const ext = (cert.extensions || []).find((e) => e.extnID === "2.5.29.19");
  return Boolean(ext && ext.parsedValue && ext.parsedValue.cA);
}

function makeHolder(entries, secrets) {
  const get = (id) => {
    const s = secrets.get(id);
    if (!s) throw new SignError("holder_closed", "证书已关闭，请重新选择证书文件", "The certificate was closed; pick the file again");
    return s;
  };
  return {
    kind: "soft",
    async certificates() {
      return entries.map((e) => ({ ...e, chain: [...e.chain] }));
    },
    async sign(id, data) {
      const s = get(id);
      if (s.algorithm === "rsa") {
        return new Uint8Array(await crypto.subtle.sign("RSASSA-PKCS1-v1_5", s.keys.sign, bytes(data)));
      }
      const raw = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, s.keys.sign, bytes(data));
      return ecdsaRawToDer(new Uint8Array(raw));
    },
    async decryptKey(id, encryptedKey, scheme) {
      const s = get(id);
      if (s.algorithm !== "rsa") throw new SignError("wrong_key", "该证书不能解开此密钥", "This certificate cannot unwrap this key");
      try {
        if (scheme === "rsa-pkcs1") return rsaPkcs1Decrypt(s.keys.raw, bytes(encryptedKey));
        const key = scheme === "rsa-oaep-sha256" ? s.keys.oaep256 : scheme === "rsa-oaep-sha1" ? s.keys.oaep1 : null;
        if (!key) throw new Error(scheme);
        return new Uint8Array(await crypto.subtle.decrypt({ name: "RSA-OAEP" }, key, bytes(encryptedKey)));
      } catch {
        throw new SignError("wrong_key", "私钥无法解开内容密钥：不是为此证书加密的", "The private key cannot unwrap the content key: not encrypted for this certificate");
      }
    },
    async agree(id, originatorSpki) {
      const s = get(id);
      if (s.algorithm !== "ec-p256") throw new SignError("wrong_key", "该证书不能进行密钥协商", "This certificate cannot do key agreement");
      const peer = await crypto.subtle.importKey("spki", buffer(originatorSpki),
        { name: "ECDH", namedCurve: "P-256" }, false, []);
      return new Uint8Array(await crypto.subtle.deriveBits({ name: "ECDH", public: peer }, s.keys.ecdh, 256));
    },
    close() {
      secrets.clear();
    },
  };
}
