// The one widget where a person chooses what holds their key: a PKCS#12 file with its password,
// or a USB key (CA锁) through the local signing agent. Pages call `await pickHolder(element)` and
// get a holder (holder.js); they never see the file or the password. The password field sits in
// no form, has no name, and is emptied as soon as the file is opened or refused.
//
// The agent holder comes from static/sign/agent.js, which exports `openAgent(): Promise<Holder>`;
// when that module or the agent is missing, the choice says so and the file stays available.

import { SignError } from "./holder.js";
import { openPkcs12 } from "./soft.js";

const EN = document.documentElement.lang.startsWith("en");
const T = (zh, en) => (EN ? en : zh);

/** The message of an error in the page's language. */
export function messageOf(error) {
  if (error instanceof SignError) return T(error.zh, error.en);
  return T("操作失败：", "Failed: ") + (error && error.message ? error.message : String(error));
}

let seq = 0;

/**
 * Show the choice in `element` and resolve with a holder once the person has opened one.
 * Rejects with SignError code "cancelled" when the person cancels.
 * @param {HTMLElement} element an empty container the page reserves for the widget
 * @param {{purpose?: 'signing'|'encryption'|'login', action?: string}} [options]
 * @returns {Promise<import('./holder.js').Holder>}
 */
export function pickHolder(element, options = {}) {
  const n = ++seq;
  const purpose = {
    signing: T("签名证书", "signing certificate"),
    encryption: T("加密证书", "encryption certificate"),
    login: T("登录证书", "login certificate"),
  }[options.purpose || "signing"];
  element.innerHTML = `
    <fieldset class="picker" data-testid="picker">
      <legend>${T("选择", "Choose your ")}${purpose}</legend>
      <label class="choice"><input type="radio" name="holder-${n}" value="soft" checked data-testid="picker-soft"> ${T("证书文件（PKCS#12：.p12 / .pfx）", "Certificate file (PKCS#12: .p12 / .pfx)")}</label>
      <label class="choice"><input type="radio" name="holder-${n}" value="agent" data-testid="picker-agent"> ${T("USB key（CA锁，经本机签名代理）", "USB key (CA锁) via the signing agent")}</label>
      <div data-soft>
        <label>${T("证书文件", "Certificate file")} <input type="file" accept=".p12,.pfx,application/x-pkcs12" data-testid="p12-file"></label>
        <label>${T("证书密码", "Password")} <input type="password" autocomplete="off" data-testid="p12-password"></label>
        <p class="small muted">${T("证书与私钥只在本页面中使用，不会上传。", "The certificate's key is used in this page only and is never uploaded.")}</p>
      </div>
      <p class="error" role="alert" data-error data-testid="picker-error" hidden></p>
      <button type="button" data-use data-testid="picker-use">${options.action || T("使用此证书", "Use this certificate")}</button>
      <button type="button" class="secondary" data-cancel data-testid="picker-cancel">${T("取消", "Cancel")}</button>
    </fieldset>`;
  element.hidden = false;
  const $ = (sel) => element.querySelector(sel);
  const soft = $("[data-soft]");
  for (const radio of element.querySelectorAll("input[type=radio]")) {
    radio.addEventListener("change", () => { soft.hidden = radio.value !== "soft" || !radio.checked; });
  }
  const fail = (error) => {
    const box = $("[data-error]");
    box.textContent = messageOf(error);
    box.hidden = false;
  };
  return new Promise((resolve, reject) => {
    const done = (holder) => {
      element.innerHTML = "";
      element.hidden = true;
      resolve(holder);
    };
    $("[data-cancel]").addEventListener("click", () => {
      element.innerHTML = "";
      element.hidden = true;
      reject(new SignError("cancelled", "已取消", "Cancelled"));
    });
    $("[data-use]").addEventListener("click", async () => {
      const use = $("[data-use]");
      use.disabled = true;
      $("[data-error]").hidden = true;
      try {
        if (element.querySelector("input[value=agent]").checked) {
          let agent;
          try {
            agent = await import("./agent.js");
          } catch {
            throw new SignError("agent_missing", "本平台尚未提供签名代理，请使用证书文件",
              "The signing agent is not available here; use a certificate file");
          }
          done(await agent.openAgent());
          return;
        }
        const file = $("[data-testid=p12-file]").files[0];
        const password = $("[data-testid=p12-password]");
        if (!file) throw new SignError("no_file", "请选择证书文件", "Choose a certificate file");
        const secret = password.value;
        password.value = "";
        done(await openPkcs12(new Uint8Array(await file.arrayBuffer()), secret));
      } catch (error) {
        fail(error);
        use.disabled = false;
      }
    });
  });
}
