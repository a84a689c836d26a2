// The hall's signing actions, in the page: a bidder signs in with its login certificate and
// decrypts its bid (the content key is unwrapped here from the envelope's head and only that key
// is handed over); an officer unseals its share of the lot's opening key here and hands it over.
// The live table (hall.js) shows the results as the hall's events arrive.

import { fromBase64, toBase64 } from "./holder.js";
import { envelopeHead, openEnvelope, unwrapContentKey } from "./cms.js";
import { ApiError, T, api, say, signedNonce, withHolder } from "./page.js";

const signin = document.querySelector("[data-cert-signin]");
if (signin) {
  const status = signin.querySelector("[data-status]");
  const button = signin.querySelector("[data-start]");
  button.addEventListener("click", async () => {
    status.hidden = true;
    const result = await withHolder(signin.querySelector("[data-picker]"), status,
      { purpose: "login", action: T("签名并签到", "Sign and sign in"),
        description: T("开标大厅签到", "signing in to the opening hall") }, async (holder) =>
        api(`/api/lots/${signin.dataset.lot}/hall/signin`, { method: "POST", body: await signedNonce(holder) }));
    if (result) {
      button.disabled = true;
      button.textContent = T("已签到", "Signed in");
      say(status, T(`签到成功（大厅共 ${result.count} 人）`, `Signed in (${result.count} in the hall)`));
    }
  });
}

/** The envelope's head from the platform: its recipients, read by envelopeHead(). */
async function headOf(bidId) {
  const r = await fetch(`/api/bids/${bidId}/envelope-head`);
  if (!r.ok) throw new ApiError(r.status, await r.json().catch(() => ({})));
  return envelopeHead(new Uint8Array(await r.arrayBuffer()));
}

const decrypt = document.querySelector("[data-decrypt]");
if (decrypt && decrypt.querySelector("[data-start]")) {
  const status = decrypt.querySelector("[data-status]");
  const button = decrypt.querySelector("[data-start]");
  const bidId = decrypt.dataset.bid;
  button.addEventListener("click", async () => {
    status.hidden = true;
    const opened = await withHolder(decrypt.querySelector("[data-picker]"), status,
      { purpose: "encryption", action: T("解出内容密钥并解密", "Unwrap the key and decrypt") }, async (holder) => {
        const head = await headOf(bidId);
        holder.description = T("开标解密投标文件（解出内容密钥）", "decrypting the bid at the opening (content key)");
        const cek = await unwrapContentKey(holder, null, head.recipientInfos);
        say(status, T("已在本机解出内容密钥，平台正在解密…", "Content key unwrapped here; the platform is decrypting…"));
        try {
          return await api(`/api/bids/${bidId}/open`, { method: "POST", body: { content_key: toBase64(cek) } });
        } finally {
          cek.fill(0);
        }
      });
    if (opened) {
      button.disabled = true;
      const total = Number(opened.total_price).toLocaleString("zh-CN", { minimumFractionDigits: 2 });
      say(status, T(`解密成功：投标总价 ${total} 元`, `Decrypted: total price ${total} yuan`));
    }
  });
}

const share = document.querySelector("[data-share]");
if (share) {
  const status = share.querySelector("[data-status]");
  const button = share.querySelector("[data-start]");
  const lot = share.dataset.lot;
  button.addEventListener("click", async () => {
    status.hidden = true;
    const result = await withHolder(share.querySelector("[data-picker]"), status,
      { purpose: "encryption", action: T("解封并交出", "Unseal and hand over") }, async (holder) => {
        const mine = await api(`/api/lots/${lot}/shares/mine`);
        holder.description = T("解封开标密钥分片", "unsealing the opening key share");
        const raw = await openEnvelope(holder, null, fromBase64(mine.envelope));
        try {
          return await api(`/api/lots/${lot}/shares`, { method: "POST", body: { share: toBase64(raw) } });
        } finally {
          raw.fill(0);
        }
      });
    if (result) {
      button.disabled = true;
      say(status, T(`第 ${result.index} 号分片已交出（已有 ${result.have}/${result.need}）`,
        `Share ${result.index} handed over (${result.have} of ${result.need})`));
    }
  });
}
