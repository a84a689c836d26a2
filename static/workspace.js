// The workspace forms that static/forms.js cannot send as they stand: a certificate read
// from a PEM file into the JSON body (binding a certificate, adding a CA), a calendar day
// whose date is part of the URL, and a new API key shown once. The API decides every rule;
// its error (Chinese and English message, stable code) is shown in the form.
(function () {
  "use strict";
  const EN = document.documentElement.lang.startsWith("en");

  function showError(form, status, text) {
    const box = form.querySelector("[data-error]");
    let message = EN ? "The request failed; nothing was changed." : "请求失败，未做任何更改。";
    let code = status ? "http_" + status : "network_error";
    try {
      const err = JSON.parse(text);
      message = (EN ? err.message_en : err.message) || message;
      code = err.code || code;
    } catch (_) { /* not JSON: the generic message stands */ }
    box.textContent = message + " [" + code + "]";
    box.dataset.code = code;
    box.hidden = false;
  }

  async function send(form, method, url, body) {
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const res = await fetch(url, {
        method, body: JSON.stringify(body), credentials: "same-origin",
        headers: { "content-type": "application/json", accept: "application/json" },
      });
      const text = await res.text();
      if (!res.ok) { showError(form, res.status, text); return null; }
      return text ? JSON.parse(text) : {};
    } catch (_) {
      showError(form, 0, "");
      return null;
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  function fields(form) {
    const out = {};
    for (const el of form.elements) {
      if (!el.name || el.type === "file") continue;
      const raw = el.value.trim();
      if (raw === "") continue;
      out[el.name] = el.dataset.type === "int" ? Number.parseInt(raw, 10) : raw;
    }
    return out;
  }

  document.addEventListener("submit", async (ev) => {
    const form = ev.target.closest("form[data-pem-api], form[data-calendar], form[data-new-key]");
    if (!form) return;
    ev.preventDefault();
    const box = form.querySelector("[data-error]");
    if (box) box.hidden = true;
    const body = fields(form);
    if (form.dataset.pemApi) {
      const input = form.querySelector("input[type=file]");
      const file = input.files[0];
      if (!file) return;
      body[input.name] = await file.text();
      if (await send(form, "POST", form.dataset.pemApi, body)) window.location.reload();
    } else if (form.dataset.calendar) {
      const day = body.day;
      delete body.day;
      if (await send(form, "PUT", form.dataset.calendar + encodeURIComponent(day), body)) {
        window.location.reload();
      }
    } else {
      const made = await send(form, "POST", form.dataset.newKey, body);
      if (made) {
        const out = form.querySelector("[data-new-key-out]");
        out.querySelector("code").textContent = made.key;
        out.hidden = false;
      }
    }
  });
})();
