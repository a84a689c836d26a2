// The bid ZIP, written as a stream (docs/bid-format.md, layer 1).
//
// Every entry is stored (method 0) and followed by a data descriptor (flag bit 3), so the
// archive can be written in one pass while its CRC-32s are computed, and written again,
// byte for byte, in a second pass: the sealing pipeline digests the ZIP first (for the inner
// signature) and streams it a second time into the envelope. Names are UTF-8 with the UTF-8
// flag (bit 11). No ZIP64: a page bid stays below 4 GiB (PAGE_LIMIT in seal.js), the bidder
// tool seals anything larger.

export const BLOCK = 1 << 20;  // File.slice reads this much at a time
const LOCAL = 30, DESCRIPTOR = 16, CENTRAL = 46, END = 22;
const FLAGS = 0x0808;  // data descriptor + UTF-8 names
const utf8 = new TextEncoder();

// CRC-32 (ISO-HDLC), slicing by eight: a plain table loop is the slowest step of a seal.
const TABLES = (() => {
  const t = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    for (let s = 1; s < 8; s++) t[s * 256 + n] = (t[(s - 1) * 256 + n] >>> 8) ^ t[t[(s - 1) * 256 + n] & 0xff];
  }
  return t;
})();

/** Continue a CRC-32 (start with 0) over `bytes`. */
export function crc32(crc, bytes) {
  const t = TABLES;
  let c = ~crc, i = 0;
  const n = bytes.length, fast = n - (n % 8);
  for (; i < fast; i += 8) {
    c ^= bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    const hi = bytes[i + 4] | (bytes[i + 5] << 8) | (bytes[i + 6] << 16) | (bytes[i + 7] << 24);
    c = t[1792 + (c & 0xff)] ^ t[1536 + ((c >>> 8) & 0xff)] ^ t[1280 + ((c >>> 16) & 0xff)] ^
        t[1024 + (c >>> 24)] ^ t[768 + (hi & 0xff)] ^ t[512 + ((hi >>> 8) & 0xff)] ^
        t[256 + ((hi >>> 16) & 0xff)] ^ t[hi >>> 24];
  }
  for (; i < n; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** A name as the platform accepts it: relative, no `..` segment, no `:`, no backslash. */
export function safeName(name) {
  const parts = name.split('/');
  return name.length > 0 && !name.startsWith('/') && !name.includes(':') && !name.includes('\\') &&
    !parts.includes('..') && !parts.includes('') && utf8.encode(name).length < 65536;
}

function dosTime(date) {
  const time = (date.getHours() << 11) | (date.getMinutes() << 5) | (date.getSeconds() >> 1);
  const day = ((date.getFullYear() - 1980) << 9) | ((date.getMonth() + 1) << 5) | date.getDate();
  return [time, day];
}

/**
 * Lay out an archive. `entries`: [{name, size, source}] where source is a File/Blob or a
 * Uint8Array. `when` is the one modification time of every entry (the sealing moment).
 * Returns the plan both passes write from; `size` is the archive's exact length.
 */
export function layout(entries, comment, when) {
  const names = new Set();
  let offset = 0;
  const planned = entries.map((e) => {
    if (!safeName(e.name) || names.has(e.name)) throw new Error(`bad or repeated name: ${e.name}`);
    names.add(e.name);
    const name = utf8.encode(e.name);
    const entry = { name: e.name, nameBytes: name, size: e.size, source: e.source, offset, crc: e.crc };
    offset += LOCAL + name.length + e.size + DESCRIPTOR;
    return entry;
  });
  const central = planned.reduce((n, e) => n + CENTRAL + e.nameBytes.length, 0);
  const commentBytes = utf8.encode(comment);
  const size = offset + central + END + commentBytes.length;
  if (size > 0xfffffffe || planned.length > 0xfffe || commentBytes.length > 0xffff) {
    throw new Error('archive too large for a ZIP without ZIP64');
  }
  return { entries: planned, centralOffset: offset, centralSize: central, comment: commentBytes,
           time: dosTime(when), size };
}

function header(sig, length) {
  const bytes = new Uint8Array(length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, sig, true);
  return [bytes, view];
}

function localHeader(plan, e) {
  const [bytes, v] = header(0x04034b50, LOCAL + e.nameBytes.length);
  v.setUint16(4, 20, true); v.setUint16(6, FLAGS, true); v.setUint16(8, 0, true);
  v.setUint16(10, plan.time[0], true); v.setUint16(12, plan.time[1], true);
  // CRC and sizes stay zero here: they follow the data in the descriptor
  v.setUint16(26, e.nameBytes.length, true);
  bytes.set(e.nameBytes, LOCAL);
  return bytes;
}

function descriptor(e) {
  const [bytes, v] = header(0x08074b50, DESCRIPTOR);
  v.setUint32(4, e.crc, true); v.setUint32(8, e.size, true); v.setUint32(12, e.size, true);
  return bytes;
}

function centralHeader(plan, e) {
  const [bytes, v] = header(0x02014b50, CENTRAL + e.nameBytes.length);
  v.setUint16(4, 20, true); v.setUint16(6, 20, true); v.setUint16(8, FLAGS, true);
  v.setUint16(10, 0, true); v.setUint16(12, plan.time[0], true); v.setUint16(14, plan.time[1], true);
  v.setUint32(16, e.crc, true); v.setUint32(20, e.size, true); v.setUint32(24, e.size, true);
  v.setUint16(28, e.nameBytes.length, true);
  v.setUint32(42, e.offset, true);
  bytes.set(e.nameBytes, CENTRAL);
  return bytes;
}

function endRecord(plan) {
  const [bytes, v] = header(0x06054b50, END + plan.comment.length);
  v.setUint16(8, plan.entries.length, true); v.setUint16(10, plan.entries.length, true);
  v.setUint32(12, plan.centralSize, true); v.setUint32(16, plan.centralOffset, true);
  v.setUint16(20, plan.comment.length, true);
  bytes.set(plan.comment, END);
  return bytes;
}

/** Read a File (or take a Uint8Array) in blocks. */
export async function* blocks(source, size) {
  if (source instanceof Uint8Array) {
    yield source;
    return;
  }
  for (let pos = 0; pos < size; pos += BLOCK) {
    const chunk = new Uint8Array(await source.slice(pos, Math.min(size, pos + BLOCK)).arrayBuffer());
    if (chunk.length !== Math.min(BLOCK, size - pos)) throw new FileChanged(source.name);
    yield chunk;
  }
}

/** A chosen file changed (or went away) between the passes, or since the upload began. */
export class FileChanged extends Error {
  constructor(name) {
    super(`file changed: ${name}`);
    this.fileName = name;
  }
}

/**
 * The archive's bytes, in order. The first pass records each entry's CRC-32 in the plan;
 * a later pass checks that it computes the same, so a file edited between the passes (or a
 * different file picked again to resume) is caught instead of sealed.
 */
export async function* zipStream(plan) {
  for (const e of plan.entries) {
    yield localHeader(plan, e);
    let crc = 0, size = 0;
    for await (const chunk of blocks(e.source, e.size)) {
      crc = crc32(crc, chunk);
      size += chunk.length;
      yield chunk;
    }
    if (size !== e.size) throw new FileChanged(e.name);
    if (e.crc === undefined) e.crc = crc;
    else if (e.crc !== crc) throw new FileChanged(e.name);
    yield descriptor(e);
  }
  for (const e of plan.entries) yield centralHeader(plan, e);
  yield endRecord(plan);
}

/** CRC-32 of a file alone: the check a resumed upload makes on the files picked again. */
export async function fileCrc(source, size) {
  let crc = 0;
  for await (const chunk of blocks(source, size)) crc = crc32(crc, chunk);
  return crc;
}
