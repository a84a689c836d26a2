// An incremental SHA-256 for the sealing pipeline, run in a worker when the page can start one
// (a second core then hashes while the first reads, CRCs and encrypts), in the page otherwise.
// Bytes are copied into 4 MiB batches and at most BACKLOG bytes wait in the worker, so memory
// stays bounded however far the hash falls behind.

import { sha256 } from './sha256.js';

const BATCH = 4 * 1024 * 1024;
const BACKLOG = 16 * 1024 * 1024;

class WorkerHash {
  constructor(worker) {
    this.worker = worker;
    this.batch = new Uint8Array(BATCH);
    this.fill = 0;
    this.waiting = 0;
    this.wake = null;
    this.result = null;
    worker.onmessage = (event) => {
      if (event.data.op === 'ack') {
        this.waiting -= event.data.n;
        this.wake?.();
      } else {
        this.result?.(event.data.digest);
      }
    };
  }

  async flush() {
    if (!this.fill) return;
    const data = this.fill === BATCH ? this.batch : this.batch.slice(0, this.fill);
    this.worker.postMessage({ op: 'update', data }, [data.buffer]);
    this.waiting += data.length;
    this.batch = new Uint8Array(BATCH);
    this.fill = 0;
    while (this.waiting > BACKLOG) await new Promise((resolve) => { this.wake = resolve; });
    this.wake = null;
  }

  async update(chunk) {
    while (chunk.length) {
      const take = Math.min(BATCH - this.fill, chunk.length);
      this.batch.set(chunk.subarray(0, take), this.fill);
      this.fill += take;
      chunk = chunk.subarray(take);
      if (this.fill === BATCH) await this.flush();
    }
  }

  async digest() {
    await this.flush();
    const digest = await new Promise((resolve) => {
      this.result = resolve;
      this.worker.postMessage({ op: 'digest' });
    });
    this.worker.terminate();
    return digest;
  }
}

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
  try {
    return new WorkerHash(new Worker(new URL('./hash-worker.js', import.meta.url), { type: 'module' }));
  } catch {
    return new PageHash();
  }
}
