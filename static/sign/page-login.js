// /login: sign in with a certificate. The page signs a fresh server nonce with the login key
// (CMS, detached) and sends the nonce and the signature; nothing else leaves the page.

import { api, say, signedNonce, withHolder, T } from "./page.js";

const box = document.querySelector("[data-cert-login]");
if (box) {
  const status = box.querySelector("[data-status]");
  const next = box.dataset.next && box.dataset.next.startsWith("/") && !box.dataset.next.startsWith("//")
    ? box.dataset.next : "/";
  box.querySelector("[data-start]").addEventListener("click", async () => {
    status.hidden = true;
    const done = await withHolder(box.querySelector("[data-picker]"), status,
      { purpose: "login", action: T("签名并登录", "Sign and sign in"),
        description: T("以证书登录交易平台", "signing in to the trading platform") }, async (holder) => {
        await api("/api/auth/cert/login", { method: "POST", body: await signedNonce(holder) });
        return true;
      });
    if (done) {
      say(status, T("登录成功，正在跳转…", "Signed in, redirecting…"));
      window.location.assign(next);
    }
  });
}
