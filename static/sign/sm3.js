// SM3 (GB/T 32905-2016), incremental: the digest an SM2 signature's messageDigest attribute
// carries, over content of any size. Not in @noble/hashes; a hash holds no secret, so a plain
// implementation is enough. Checked against Python's hashlib ("sm3", OpenSSL) in the tests.

const IV = [0x7380166f, 0x4914b2b9, 0x172442d7, 0xda8a0600, 0xa96f30bc, 0x163138aa, 0xe38dee4d, 0xb0fb0e4e];
const rotl = (x, n) => ((x << n) | (x >>> (32 - n))) >>> 0;
const P0 = (x) => (x ^ rotl(x, 9) ^ rotl(x, 17)) >>> 0;
const P1 = (x) => (x ^ rotl(x, 15) ^ rotl(x, 23)) >>> 0;
const T = Array.from({ length: 64 }, (_, j) => rotl(j < 16 ? 0x79cc4519 : 0x7a879d8a, j % 32));

class SM3 {
  constructor() {
    this.v = IV.slice();
    this.buffer = new Uint8Array(64);
    this.filled = 0;
    this.length = 0; // bytes
    this.w = new Uint32Array(68);
    this.w1 = new Uint32Array(64);
  }

  block(b, at) {
    const w = this.w;
    const w1 = this.w1;
    for (let j = 0; j < 16; j++) {
      const i = at + 4 * j;
      w[j] = ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
    }
    for (let j = 16; j < 68; j++) {
      w[j] = (P1(w[j - 16] ^ w[j - 9] ^ rotl(w[j - 3], 15)) ^ rotl(w[j - 13], 7) ^ w[j - 6]) >>> 0;
    }
    for (let j = 0; j < 64; j++) w1[j] = (w[j] ^ w[j + 4]) >>> 0;
    let [a, b1, c, d, e, f, g, h] = this.v;
    for (let j = 0; j < 64; j++) {
      const a12 = rotl(a, 12);
      const ss1 = rotl((a12 + e + T[j]) >>> 0, 7);
      const ss2 = (ss1 ^ a12) >>> 0;
      const ff = j < 16 ? a ^ b1 ^ c : (a & b1) | (a & c) | (b1 & c);
      const gg = j < 16 ? e ^ f ^ g : (e & f) | (~e & g);
      const tt1 = (ff + d + ss2 + w1[j]) >>> 0;
      const tt2 = (gg + h + ss1 + w[j]) >>> 0;
      d = c; c = rotl(b1, 9); b1 = a; a = tt1;
      h = g; g = rotl(f, 19); f = e; e = P0(tt2);
    }
    const out = [a, b1, c, d, e, f, g, h];
    for (let i = 0; i < 8; i++) this.v[i] = (this.v[i] ^ out[i]) >>> 0;
  }

  update(data) {
    let at = 0;
    this.length += data.length;
    if (this.filled) {
      const take = Math.min(64 - this.filled, data.length);
      this.buffer.set(data.subarray(0, take), this.filled);
      this.filled += take;
      at = take;
      if (this.filled < 64) return this;
      this.block(this.buffer, 0);
      this.filled = 0;
    }
    for (; at + 64 <= data.length; at += 64) this.block(data, at);
    this.buffer.set(data.subarray(at), 0);
    this.filled = data.length - at;
    return this;
  }

  digest() {
    const bits = this.length * 8;
    const pad = new Uint8Array(((this.filled + 9 + 63) & ~63) - this.filled);
    pad[0] = 0x80;
    const hi = Math.floor(bits / 2 ** 32);
    const view = new DataView(pad.buffer);
    view.setUint32(pad.length - 8, hi);
    view.setUint32(pad.length - 4, bits >>> 0);
    this.update(pad);
    const out = new Uint8Array(32);
    const o = new DataView(out.buffer);
    this.v.forEach((x, i) => o.setUint32(4 * i, x));
    return out;
  }
}

/** SM3 of `data` (Uint8Array); `sm3.create()` for an incremental hash (update, digest). */
export function sm3(data) {
  return new SM3().update(data).digest();
}
sm3.create = () => new SM3();
