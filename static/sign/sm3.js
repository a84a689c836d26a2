// SM3 (GB/T 32905-2016), incremental: the digest an SM2 signature's messageDigest attribute
// carries, over content of any size. Not in @noble/hashes; a hash holds no secret, so a plain
// implementation is enough. Checked against Python's hashlib ("sm3", OpenSSL) in the tests.

const IV = [0x7380166f, 0x4914b2b9, 0x172442d7, 0xda8a0600, 0xa96f30bc, 0x163138aa, 0xe38dee4d, 0xb0fb0e4e];
const rotl = (x, n) => ((x << n) | (x >>> (32 - n))) >>> 0;
const T = Array.from({ length: 64 }, (_, j) => rotl(j < 16 ? 0x79cc4519 : 0x7a879d8a, j % 32));

class SM3 {
  constructor() {
    this.v = Uint32Array.from(IV);
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
      const x = w[j - 16] ^ w[j - 9] ^ ((w[j - 3] << 15) | (w[j - 3] >>> 17));
      const y = w[j - 13];
      w[j] = x ^ ((x << 15) | (x >>> 17)) ^ ((x << 23) | (x >>> 9)) ^ ((y << 7) | (y >>> 25)) ^ w[j - 6];
    }
    for (let j = 0; j < 64; j++) w1[j] = w[j] ^ w[j + 4];
    const v = this.v;
    let a = v[0]; let b1 = v[1]; let c = v[2]; let d = v[3];
    let e = v[4]; let f = v[5]; let g = v[6]; let h = v[7];
    for (let j = 0; j < 64; j++) {
      const a12 = (a << 12) | (a >>> 20);
      const sum = (a12 + e + T[j]) | 0;
      const ss1 = (sum << 7) | (sum >>> 25);
      const ss2 = ss1 ^ a12;
      const ff = j < 16 ? a ^ b1 ^ c : (a & b1) | (a & c) | (b1 & c);
      const gg = j < 16 ? e ^ f ^ g : (e & f) | (~e & g);
      const tt1 = (ff + d + ss2 + w1[j]) | 0;
      const tt2 = (gg + h + ss1 + w[j]) | 0;
      d = c; c = (b1 << 9) | (b1 >>> 23); b1 = a; a = tt1;
      h = g; g = (f << 19) | (f >>> 13); f = e;
      e = tt2 ^ ((tt2 << 9) | (tt2 >>> 23)) ^ ((tt2 << 17) | (tt2 >>> 15));
    }
    v[0] = (v[0] ^ a) >>> 0; v[1] = (v[1] ^ b1) >>> 0; v[2] = (v[2] ^ c) >>> 0; v[3] = (v[3] ^ d) >>> 0;
    v[4] = (v[4] ^ e) >>> 0; v[5] = (v[5] ^ f) >>> 0; v[6] = (v[6] ^ g) >>> 0; v[7] = (v[7] ^ h) >>> 0;
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
    this.v.forEach((x, i) => o.setUint32(4 * i, x >>> 0));
    return out;
  }
}

/** SM3 of `data` (Uint8Array); `sm3.create()` for an incremental hash (update, digest). */
export function sm3(data) {
  return new SM3().update(data).digest();
}
sm3.create = () => new SM3();
