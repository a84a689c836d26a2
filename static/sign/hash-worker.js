// SHA-256 in steps, off the page's main thread: the sealing pipeline hashes the ZIP (pass 1) and
// bid.p7m (pass 2) here while the main thread reads, computes CRC-32s and drives AES-CBC.
import { sha256 } from './sha256.js';

let hash = sha256.create();
self.onmessage = (event) => {
  const { op, data } = event.data;
  if (op === 'update') {
    hash.update(data);
    self.postMessage({ op: 'ack', n: data.length });
  } else if (op === 'digest') {
    self.postMessage({ op: 'digest', digest: hash.digest() });
    hash = sha256.create();
  }
};
