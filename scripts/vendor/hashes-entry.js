// Entry point bundled into static/vendor/pkijs/hashes.js: incremental hashes for digests of
// files too large to hold in memory (WebCrypto's digest takes the whole input at once).
export { sha1 } from "@noble/hashes/sha1";
export { sha256, sha384, sha512 } from "@noble/hashes/sha2";
export { hmac } from "@noble/hashes/hmac";
