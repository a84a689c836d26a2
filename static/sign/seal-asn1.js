// The DER pieces of a sealed bid that the sealing pipeline writes around streamed content:
// SignedData heads and tails with their lengths known in advance (the SignerInfo itself comes
// from cms.js), and the envelope's recipient infos (RSA-OAEP key transport, ECDH P-256 key
// agreement with the X9.63 KDF and AES key wrap, as signing/envelope.py writes them).
// A library's object model would need the whole content in memory; these writers need only
// its length.

export const OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  envelopedData: '1.2.840.113549.1.7.3',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  sha256: '2.16.840.1.101.3.4.2.1',
  rsaEncryption: '1.2.840.113549.1.1.1',
  rsaesOaep: '1.2.840.113549.1.1.7',
  mgf1: '1.2.840.113549.1.1.8',
  ecPublicKey: '1.2.840.10045.2.1',
  prime256v1: '1.2.840.10045.3.1.7',
  ecdsaSha256: '1.2.840.10045.4.3.2',
  ecdhSha256: '1.3.132.1.11.1',
  aes256Wrap: '2.16.840.1.101.3.4.1.45',
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
};

export const PIECE = 1 << 20;  // an OCTET STRING of streamed content is cut in pieces this long

// --- encoding -------------------------------------------------------------------------------

export function lengthBytes(n) {
  if (n < 0x80) return [n];
  const out = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v % 256);
  return [0x80 | out.length, ...out];
}

export function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** A header for `tag` and a body `n` bytes long. */
export function head(tag, n) {
  return Uint8Array.from([tag, ...lengthBytes(n)]);
}

export function tlv(tag, ...parts) {
  const body = concat(parts);
  return concat([head(tag, body.length), body]);
}

export const seq = (...p) => tlv(0x30, ...p);
export const set = (...p) => tlv(0x31, ...p);
export const octets = (b) => tlv(0x04, b);
export const NULL = Uint8Array.from([5, 0]);

export function oid(text) {
  const n = text.split('.').map(Number);
  const out = [40 * n[0] + n[1]];
  for (const v of n.slice(2)) {
    const b = [v & 0x7f];
    for (let x = Math.floor(v / 128); x > 0; x = Math.floor(x / 128)) b.unshift(0x80 | (x & 0x7f));
    out.push(...b);
  }
  return tlv(0x06, Uint8Array.from(out));
}

export const algorithm = (id, params) => (params ? seq(oid(id), params) : seq(oid(id)));

function integer(n) {
  return tlv(0x02, Uint8Array.from([n]));
}

/** Pieces of `n` content bytes: their total length once cut and each given a header. */
export function piecesLength(n) {
  const whole = Math.floor(n / PIECE), rest = n % PIECE;
  return whole * (head(4, PIECE).length + PIECE) + (rest ? head(4, rest).length + rest : 0);
}

/**
 * Cut a stream of `total` bytes into OCTET STRING pieces (BER, constructed): a header before
 * each piece, the content passed through without copying.
 */
export async function* pieces(source, total) {
  let left = total, inPiece = 0;
  for await (let chunk of source) {
    while (chunk.length) {
      if (inPiece === 0) {
        inPiece = Math.min(PIECE, left);
        yield head(4, inPiece);
      }
      const take = Math.min(inPiece, chunk.length);
      yield chunk.subarray(0, take);
      chunk = chunk.subarray(take);
      inPiece -= take;
      left -= take;
    }
  }
  if (left !== 0 || inPiece !== 0) throw new Error('stream shorter than announced');
}

// --- reading certificates -------------------------------------------------------------------

/** One element at `at`: {tag, start (of the body), end, whole (header + body)}. */
export function read(bytes, at = 0) {
  const tag = bytes[at];
  let len = bytes[at + 1], pos = at + 2;
  if (len & 0x80) {
    const k = len & 0x7f;
    len = 0;
    for (let i = 0; i < k; i++) len = len * 256 + bytes[pos + i];
    pos += k;
  }
  return { tag, start: pos, end: pos + len, whole: bytes.subarray(at, pos + len) };
}

export function children(bytes, element) {
  const out = [];
  for (let at = element.start; at < element.end;) {
    const e = read(bytes, at);
    out.push(e);
    at = e.end;
  }
  return out;
}

/** What a CMS needs of a certificate: issuer + serial, the public key, and its kind. */
export function certInfo(der) {
  const cert = read(der);
  const tbs = children(der, read(der, cert.start));
  const i = tbs[0].tag === 0xa0 ? 1 : 0;
  const serial = tbs[i], issuer = tbs[i + 2], spki = tbs[i + 5];
  const keyAlg = children(der, children(der, spki)[0])[0];
  const oidHex = hex(keyAlg.whole);
  const kind = oidHex === hex(oid(OID.rsaEncryption)) ? 'rsa' :
               oidHex === hex(oid(OID.ecPublicKey)) ? 'ec' : 'other';
  return {
    issuerAndSerial: seq(issuer.whole, serial.whole),
    spki: spki.whole.slice(),
    kind,
  };
}

export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

// --- SignedData -----------------------------------------------------------------------------

/**
 * An encapsulating SignedData around `contentLength` bytes that will be streamed between
 * `head` and `tail` (as OCTET STRING pieces): every length is known before the content flows.
 * `detached` is a detached SignedData over the same content (cms.js signs its digest): its
 * version, digest algorithms, certificates and SignerInfo are taken as they are, since a
 * SignerInfo does not depend on whether the content travels inside.
 */
export function signedDataFrame(contentLength, detached) {
  const info = read(detached);
  const [, explicit0] = children(detached, info);
  const [sd] = children(detached, explicit0);
  const [version, digestAlgs, , ...rest] = children(detached, sd);
  const content = piecesLength(contentLength);
  const eContent = head(0x24, content);
  const explicitContent = head(0xa0, eContent.length + content);
  const encapType = oid(OID.data);
  const encapLen = encapType.length + explicitContent.length + eContent.length + content;
  const before = concat([version.whole, digestAlgs.whole, head(0x30, encapLen), encapType,
                         explicitContent, eContent]);
  const after = concat(rest.map((e) => e.whole));
  const bodyLen = before.length + content + after.length;
  const sdHead = head(0x30, bodyLen);
  const explicit = head(0xa0, sdHead.length + bodyLen);
  const ct = oid(OID.signedData);
  const outer = head(0x30, ct.length + explicit.length + sdHead.length + bodyLen);
  const first = concat([outer, ct, explicit, sdHead, before]);
  return { head: first, tail: after, size: first.length + content + after.length };
}

// --- EnvelopedData --------------------------------------------------------------------------

const subtle = () => globalThis.crypto.subtle;

async function ktri(info, cek) {
  const key = await subtle().importKey('spki', info.spki, { name: 'RSA-OAEP', hash: 'SHA-256' }, false,
                                       ['encrypt']);
  const wrapped = new Uint8Array(await subtle().encrypt({ name: 'RSA-OAEP' }, key, cek));
  const sha256 = algorithm(OID.sha256, NULL);
  const params = seq(tlv(0xa0, sha256), tlv(0xa1, algorithm(OID.mgf1, sha256)));
  return seq(integer(0), info.issuerAndSerial, algorithm(OID.rsaesOaep, params), octets(wrapped));
}

function sharedInfo() {
  return seq(algorithm(OID.aes256Wrap), tlv(0xa2, octets(Uint8Array.of(0, 0, 1, 0))));
}

async function kari(info, cek) {
  const peer = await subtle().importKey('spki', info.spki, { name: 'ECDH', namedCurve: 'P-256' }, false, []);
  const eph = await subtle().generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
  const z = new Uint8Array(await subtle().deriveBits({ name: 'ECDH', public: peer }, eph.privateKey, 256));
  // X9.63 KDF with SHA-256, one block: SHA-256(Z || 00000001 || SharedInfo)
  const kek = await subtle().digest('SHA-256', concat([z, Uint8Array.of(0, 0, 0, 1), sharedInfo()]));
  z.fill(0);
  const kekKey = await subtle().importKey('raw', kek, 'AES-KW', false, ['wrapKey']);
  const cekKey = await subtle().importKey('raw', cek, 'AES-CBC', true, ['encrypt']);
  const wrapped = new Uint8Array(await subtle().wrapKey('raw', cekKey, kekKey, 'AES-KW'));
  const point = new Uint8Array(await subtle().exportKey('raw', eph.publicKey));
  const originator = tlv(0xa0, tlv(0xa1, algorithm(OID.ecPublicKey, oid(OID.prime256v1)),
                                   tlv(0x03, Uint8Array.of(0), point)));
  // RecipientInfo ::= CHOICE { ktri SEQUENCE, kari [1] IMPLICIT SEQUENCE, ... }
  return tlv(0xa1, integer(3), originator, algorithm(OID.ecdhSha256, algorithm(OID.aes256Wrap)),
             seq(seq(info.issuerAndSerial, octets(wrapped))));
}

/** A RecipientInfo giving `cek` to the holder of certificate `der` (RSA or P-256). */
export async function recipientInfo(der, cek) {
  const info = certInfo(der);
  if (info.kind === 'rsa') return ktri(info, cek);
  if (info.kind === 'ec') return kari(info, cek);
  throw new Error('unsupported recipient key');
}

/**
 * An EnvelopedData (AES-256-CBC) head for `cipherLength` bytes of ciphertext that follow it as
 * pieces of [0] IMPLICIT OCTET STRING; nothing comes after them.
 */
export function envelopedDataHead(recipients, iv, cipherLength, hasKari) {
  const content = piecesLength(cipherLength);
  const eci = concat([oid(OID.data), algorithm(OID.aes256Cbc, octets(iv)), head(0xa0, content)]);
  const body = concat([integer(hasKari ? 2 : 0), set(...recipients), head(0x30, eci.length + content), eci]);
  const ed = head(0x30, body.length + content);
  const explicit = head(0xa0, ed.length + body.length + content);
  const ct = oid(OID.envelopedData);
  const outer = head(0x30, ct.length + explicit.length + ed.length + body.length + content);
  const first = concat([outer, ct, explicit, ed, body]);
  return { head: first, size: first.length + content };
}
