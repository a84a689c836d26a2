// An incremental SHA-256 for the sealing pipeline (WebCrypto's digest takes the whole input).
//
// It runs on the page's main thread. A worker would hash beside the reading, but the renderer's
// memory then grew with the bid: measured on 1 GB, 870-940 MiB with the hash in a worker (the
// same with a worker that only loops over the bytes, and whether or not the worker is replaced
// every 128 MiB or garbage is collected), against 320 MiB on the main thread, flat from 100 MB
// to 1 GB. Bounded memory is what lets the page seal large bids, so the page pays the time.

import { sha256 } from './sha256.js';

class PageHash {
  constructor() {
    this.hash = sha256.create();
  }

  async update(chunk) {
    this.hash.update(chunk);
  }

  async digest() {
    return this.hash.digest();
  }
}

/** A new SHA-256: `await h.update(bytes)` (bytes may be reused after), `await h.digest()`. */
export function createHash() {
  return new PageHash();
}
