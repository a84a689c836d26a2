// The agency's manage page: sign the announcement, a clarification, each document and each
// answer to an objection in the page with the organization's signing certificate (detached CMS
// over the exact bytes), instead of signing on a computer and uploading the .p7s.

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

// An answer to an objection: the platform returns the exact bytes for the typed text (nothing is
// stored), the page signs them, and text and signature go together; a text edited after the
// bytes were fetched is refused by the platform (answer_signature_mismatch).
for (const box of document.querySelectorAll("[data-sign-answer]")) {
  const status = box.querySelector("[data-status]");
  const text = box.querySelector("textarea[name=answer]");
  const fieldError = box.querySelector("[data-field-error]");
  const showField = (message) => {
    fieldError.textContent = message || "";
    fieldError.hidden = !message;
    text.setAttribute("aria-invalid", message ? "true" : "false");
  };
  text.addEventListener("input", () => showField(null));
  box.querySelector("[data-start]").addEventListener("click", async () => {
    status.hidden = true;
    const answer = text.value.trim();
    if (answer.length < 2) {
      showField(T("请填写答复，至少 2 个字", "Write the answer, at least 2 characters"));
      text.focus();
      return;
    }
    showField(null);
    const done = await withHolder(box.querySelector("[data-picker]"), status,
      { purpose: "signing", action: T("签名并答复", "Sign and answer"),
        description: T("签署对招标文件异议的答复", "signing the answer to an objection") }, async (holder) => {
        const r = await fetch(box.dataset.contentUrl, {
          method: "POST", body: JSON.stringify({ answer }),
          headers: { "content-type": "application/json", accept: "application/json" } });
        if (!r.ok) throw new ApiError(r.status, await r.json().catch(() => ({})));
        const signature = await signBytes(holder, new Uint8Array(await r.arrayBuffer()));
        return api(box.dataset.answerUrl, { method: "POST", body: { answer, signature: toBase64(signature) } });
      });
    if (done) {
      say(status, T("答复已签名提交，正在刷新…", "Answer signed and sent; reloading…"));
      window.location.reload();
    }
  });
}
