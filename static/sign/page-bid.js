// The bid page: withdraw with a signed statement. The page fetches the platform's statement,
// signs its exact bytes with the signing certificate (detached CMS) and sends the signature.

import { pick, toBase64 } from "./holder.js";
import { sign } from "./cms.js";
import { T, api, say, withHolder } from "./page.js";

const box = document.querySelector("[data-sign-withdraw]");
if (box) {
  const status = box.querySelector("[data-status]");
  const bidId = box.dataset.bid;
  box.querySelector("[data-start]").addEventListener("click", async () => {
    status.hidden = true;
    if (!window.confirm(box.dataset.confirm)) return;
    const done = await withHolder(box.querySelector("[data-picker]"), status,
      { purpose: "signing", action: T("签名并撤回", "Sign and withdraw"),
        description: T(`签署撤回投标声明（投标 ${bidId}）`, `signing the withdrawal of bid ${bidId}`) }, async (holder) => {
        const r = await fetch(`/api/bids/${bidId}/withdrawal`);
        if (!r.ok) throw new Error(T("无法取得撤回声明", "Could not fetch the statement"));
        const statement = new Uint8Array(await r.arrayBuffer());
        const entry = await pick(holder, "signing");
        const signature = await sign(holder, entry.id, statement, { detached: true });
        return api(`/api/bids/${bidId}/withdraw`, { method: "POST", body: { signature: toBase64(signature) } });
      });
    if (done) {
      say(status, T("已撤回，正在刷新…", "Withdrawn; reloading…"));
      window.location.reload();
    }
  });
}
