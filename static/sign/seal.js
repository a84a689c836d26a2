// Sealing a bid in the page, in bounded memory (docs/bid-format.md, "Sealing in the browser").
//
//   files + price.json --ZIP--> --SignedData (encapsulated)--> --EnvelopedData AES-256-CBC-->
//   bid.p7m, then a detached SignedData over bid.p7m (bid.p7m.p7s)
//
// WebCrypto neither streams nor hashes incrementally, so the bid is made in two passes over
// the chosen files, each read with File.slice one block at a time:
//   pass 1  the ZIP's bytes -> SHA-256 (@noble/hashes) and CRC-32s, then the inner signature;
//           from then on every length is known, so the envelope's head can be written;
//   pass 2  ZIP -> SignedData framing -> AES-CBC block by block -> bid.p7m, hashed (SHA-256,
//           for the outer signature) while it is cut into upload parts.
// CBC is chained by hand: each block of plaintext is encrypted with the last ciphertext block
// as its IV, and WebCrypto's padding block is dropped except after the last block, which gives
// exactly the ciphertext of one CBC encryption of the whole. Pass 2 is deterministic, so a
// resumed upload regenerates the same bytes from what `prepare` returns (kept wrapped in
// IndexedDB by upload.js) and the files picked again.

import { sign } from './cms.js';
import { createHash } from './hasher.js';
import * as asn1 from './seal-asn1.js';
import { layout, zipStream } from './zip.js';

export const VERSION = '1';
export const TOOL = 'tenderhall-web';
// The largest bid the page seals: the ZIP has no ZIP64, and the platform takes 5 GiB at most.
// Memory does not grow with it (a block of the file, a CBC block and two upload parts).
export const PAGE_LIMIT = 4 * 1024 ** 3 - 64 * 1024 ** 2;
const ENC = 1 << 20;  // AES-CBC block of plaintext encrypted per WebCrypto call
const utf8 = new TextEncoder();

export function randomBytes(n) {
  return globalThis.crypto.getRandomValues(new Uint8Array(n));
}

/** The creator object written into the ZIP comment and sent at upload start. */
export function creator() {
  return { tool: TOOL, version: VERSION };
}

function entriesOf(files, priceJson) {
  return [{ name: 'price.json', size: priceJson.length, source: priceJson },
          ...files.map((f) => ({ name: f.webkitRelativePath || f.name, size: f.size, source: f }))];
}

/**
 * Pass 1. `files` are File objects (never price.json: the sheet is `priceJson`, bytes),
 * `cert` the holder's signing certificate (id, der, chain, algorithm), `recipients` the DER of
 * the bidder's encryption certificate and the lot's opening certificate.
 * Returns the state pass 2 needs; its `cek` is secret and must never leave the page unwrapped.
 */
export async function prepare({ holder, cert, recipients, files, priceJson, onBytes }) {
  const when = new Date();
  when.setMilliseconds(0);
  const comment = JSON.stringify(creator());
  const plan = layout(entriesOf(files, priceJson), comment, when);
  if (plan.size > PAGE_LIMIT) throw new Error('too large for the page');
  const h = createHash();
  for await (const chunk of zipStream(plan)) {
    await h.update(chunk);
    onBytes?.(chunk.length, plan.size);
  }
  const detached = await sign(holder, cert.id, await h.digest(), { digest: true, signingTime: when });
  const inner = asn1.signedDataFrame(plan.size, detached);
  const cek = randomBytes(32), iv = randomBytes(16);
  const infos = [];
  for (const der of recipients) infos.push(await asn1.recipientInfo(der, cek));
  const hasKari = recipients.some((der) => asn1.certInfo(der).kind === 'ec');
  const cipherLength = (Math.floor(inner.size / 16) + 1) * 16;
  const env = asn1.envelopedDataHead(infos, iv, cipherLength, hasKari);
  return {
    when: when.getTime(), priceJson, zipSize: plan.size,
    files: plan.entries.slice(1).map((e) => ({ name: e.name, size: e.size, crc: e.crc })),
    innerHead: inner.head, innerTail: inner.tail, innerSize: inner.size,
    envHead: env.head, cipherLength, size: env.size, cek, iv,
  };
}

async function* chain(...parts) {
  for (const p of parts) {
    if (p instanceof Uint8Array) yield p;
    else yield* p;
  }
}

async function* cbc(source, cek, iv) {
  const key = await globalThis.crypto.subtle.importKey('raw', cek, 'AES-CBC', false, ['encrypt']);
  const buf = new Uint8Array(ENC);
  let fill = 0, prev = iv;
  for await (let chunk of source) {
    while (chunk.length) {
      const take = Math.min(ENC - fill, chunk.length);
      buf.set(chunk.subarray(0, take), fill);
      fill += take;
      chunk = chunk.subarray(take);
      if (fill === ENC) {
        const out = new Uint8Array(await globalThis.crypto.subtle.encrypt({ name: 'AES-CBC', iv: prev }, key, buf));
        const body = out.subarray(0, ENC);  // the rest is the padding block of this call alone
        prev = body.slice(ENC - 16);
        fill = 0;
        yield body;
      }
    }
  }
  yield new Uint8Array(await globalThis.crypto.subtle.encrypt({ name: 'AES-CBC', iv: prev }, key,
                                                              buf.subarray(0, fill)));
}

/**
 * Pass 2: the bytes of bid.p7m, in order, from the state of `prepare` and the same files.
 * A file that is not the one sealed in pass 1 (size or CRC-32) stops it with FileChanged.
 */
export function p7mStream(state, files) {
  const byName = new Map(files.map((f) => [f.webkitRelativePath || f.name, f]));
  const entries = [{ name: 'price.json', size: state.priceJson.length, source: state.priceJson },
                   ...state.files.map((e) => ({ ...e, source: byName.get(e.name) }))];
  const plan = layout(entries, JSON.stringify(creator()), new Date(state.when));
  const inner = chain(state.innerHead, asn1.pieces(zipStream(plan), state.zipSize), state.innerTail);
  return chain(state.envHead, asn1.pieces(cbc(inner, state.cek, state.iv), state.cipherLength));
}

/** The files of a saved state matched against files picked again: [missing names]. */
export function missingFiles(state, files) {
  const have = new Map(files.map((f) => [f.webkitRelativePath || f.name, f.size]));
  return state.files.filter((e) => have.get(e.name) !== e.size).map((e) => e.name);
}

/** The outer signature (bid.p7m.p7s, DER) over bid.p7m whose SHA-256 is `digest`. */
export async function outerSignature(holder, cert, digest) {
  return sign(holder, cert.id, digest, { digest: true });
}

/** SHA-256 of the DER of a certificate, hex: what the tender publishes for the opening key. */
export async function fingerprint(der) {
  return asn1.hex(new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', der)));
}

/** PEM or DER certificate bytes to DER. */
export function certificateDer(bytes) {
  const text = new TextDecoder().decode(bytes.subarray(0, 64));
  if (!text.includes('-----BEGIN')) return bytes;
  const pem = new TextDecoder().decode(bytes);
  const body = pem.split('-----BEGIN CERTIFICATE-----')[1].split('-----END')[0].replace(/\s+/g, '');
  return Uint8Array.from(atob(body), (c) => c.charCodeAt(0));
}

export function priceBytes(sheet) {
  return utf8.encode(JSON.stringify(sheet, null, 2));
}

export { createHash };
