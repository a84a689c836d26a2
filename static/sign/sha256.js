// Incremental SHA-256 for the sealing pipeline (WebCrypto's digest takes the whole input).
export { sha256 } from '../vendor/pkijs/hashes.js';
