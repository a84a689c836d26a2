// A receipt's own proofs, checked in the page: the platform's CMS signature over the receipt
// (receipt.p7s, the canonical JSON encapsulated) and the RFC 3161 timestamp token over the
// SHA-256 of that whole file (receipt.tst), as trading/bids/receipts.py makes them. Both are
// verified here with PKI.js over WebCrypto, so the bidder does not take the platform's word
// for its own receipt; the receipt's fields are then read from the signed content itself.
//
// What this does not do: build the signer's path to a trusted root (the page has no trust
// anchors of its own to build to). The certificates are the ones inside the signatures; the
// receipt's "验证" section gives the openssl commands that check the paths offline.

import { asn1js, buffer, bytes, equal, pkijs, sha256, subjectOf } from "./holder.js";

const SHA256 = "2.16.840.1.101.3.4.2.1";

/** The SignedData of a DER ContentInfo, or null when it is not one. */
function signedData(der) {
  try {
    const info = pkijs.ContentInfo.fromBER(buffer(der));
    if (info.contentType !== pkijs.ContentInfo.SIGNED_DATA) return null;
    return new pkijs.SignedData({ schema: info.content });
  } catch {
    return null;
  }
}

/** The encapsulated content's bytes (primitive or constructed OCTET STRING). */
function content(sd) {
  const e = sd.encapContentInfo.eContent;
  if (!e) return null;
  return new Uint8Array(e instanceof asn1js.OctetString ? e.getValue() : e.valueBlock.valueHexView);
}

/**
 * Whether signer 0's signature holds, with the certificate the SignedData carries. For a
 * timestamp token PKI.js also checks the imprint against `data`, the bytes stamped.
 */
async function holds(sd, data) {
  try {
    const options = { signer: 0, checkChain: false };
    if (data) options.data = buffer(data);
    return (await sd.verify(options)) === true;
  } catch {
    return false;
  }
}

/** Who signed, as people read it, from the certificate signer 0 names. */
function signerName(sd) {
  const sid = sd.signerInfos[0]?.sid;
  const cert = (sd.certificates || []).find((c) => c instanceof pkijs.Certificate && sid &&
    sid instanceof pkijs.IssuerAndSerialNumber &&
    c.serialNumber.isEqual(sid.serialNumber) && c.issuer.isEqual(sid.issuer)) || sd.certificates?.[0];
  if (!cert) return null;
  const s = subjectOf(cert);
  return s.organization || s.person;
}

/**
 * @param {Uint8Array} p7s receipt.p7s (DER)
 * @param {Uint8Array | null} tst receipt.tst (DER), or null when it could not be fetched
 * @returns {Promise<{receipt: object | null, signed: boolean, signer: string | null,
 *   stamped: boolean, time: Date | null}>}
 *   `receipt` is the JSON the platform signed (null when the signature does not hold or does
 *   not wrap JSON); `stamped` says the token's signature holds and its imprint is SHA-256 of
 *   exactly these receipt.p7s bytes; `time` is the token's genTime.
 */
export async function verifyReceipt(p7s, tst) {
  const out = { receipt: null, signed: false, signer: null, stamped: false, time: null };
  const sd = signedData(p7s);
  if (sd) {
    out.signer = signerName(sd);
    out.signed = await holds(sd);
    const body = out.signed ? content(sd) : null;
    if (body) {
      try {
        out.receipt = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
      } catch {
        out.signed = false;
      }
    }
  }
  const token = tst && signedData(tst);
  if (token) {
    try {
      const info = pkijs.TSTInfo.fromBER(buffer(content(token)));
      const imprint = info.messageImprint;
      out.time = info.genTime;
      out.stamped = imprint.hashAlgorithm.algorithmId === SHA256 &&
        equal(new Uint8Array(imprint.hashedMessage.valueBlock.valueHexView), await sha256(bytes(p7s))) &&
        await holds(token, p7s);
    } catch {
      out.stamped = false;
    }
  }
  return out;
}
