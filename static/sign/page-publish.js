// The agency's manage page: sign the announcement, a clarification and each document in the
// page with the organization's signing certificate (detached CMS over the exact bytes), instead
// of signing on a computer and uploading the .p7s.

import { pick, toBase64 } from "./holder.js";
import { sign } from "./cms.js";
import { ApiError, T, api, say, withHolder } from "./page.js";

async function signBytes(holder, content) {
  const entry = await pick(holder, "signing");
  return sign(holder, entry.id, content, { detached: true });
}

for (const box of document.querySelectorAll("[data-sign-publish]")) {
  const status = box.querySelector("[data-status]");
  box.querySelector("[data-start]").addEventListener("click", async () => {
    status.hidden = true;
    const done = await withHolder(box.querySelector("[data-picker]"), status,
      { purpose: "signing", action: T("签名并发布", "Sign and publish"),
        description: T("签署发布内容：", "signing for publication: ") + box.dataset.what }, async (holder) => {
        // the exact bytes the platform will check, fetched now: an edit since would show as outdated
        const r = await fetch(box.dataset.contentUrl);
        if (!r.ok) throw new ApiError(r.status, await r.json().catch(() => ({})));
        const signature = await signBytes(holder, new Uint8Array(await r.arrayBuffer()));
        return api(box.dataset.publishUrl, { method: "POST", body: { signature: toBase64(signature) } });
      });
    if (done) {
      say(status, T("已发布，正在刷新…", "Published; reloading…"));
      window.location.reload();
    }
  });
}

for (const button of document.querySelectorAll("[data-sign-upload]")) {
  const form = button.closest("form");
  const status = form.querySelector("[data-status]");
  button.addEventListener("click", async () => {
    status.hidden = true;
    const file = form.querySelector("input[name=file]").files[0];
    if (!file) {
      say(status, T("请先选择要上传的文件", "Choose the file to upload first"), false);
      return;
    }
    const done = await withHolder(form.querySelector("[data-picker]"), status,
      { purpose: "signing", action: T("签名并上传", "Sign and upload"),
        description: T("签署招标文件：", "signing the tender document: ") + file.name }, async (holder) => {
        const signature = await signBytes(holder, new Uint8Array(await file.arrayBuffer()));
        const body = new FormData();
        body.append("file", file, file.name);
        body.append("signature", new Blob([signature], { type: "application/pkcs7-signature" }), `${file.name}.p7s`);
        const r = await fetch(form.dataset.api, { method: "POST", body, headers: { accept: "application/json" } });
        if (!r.ok) throw new ApiError(r.status, await r.json().catch(() => ({})));
        return true;
      });
    if (done) {
      say(status, T("已签名并上传，正在刷新…", "Signed and uploaded; reloading…"));
      window.location.reload();
    }
  });
}
