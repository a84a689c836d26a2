// Forms marked data-api send their fields to the JSON API; the API's own error (stable code,
// Chinese and English message) is shown in the form, in the page's language. Nothing here
// decides a rule: the API does.
(function () {
  "use strict";
  const EN = document.documentElement.lang.startsWith("en");

  function setPath(obj, path, value) {
    const parts = path.split(".");
    let cur = obj;
    parts.forEach((part, i) => {
      if (i === parts.length - 1) { cur[part] = value; return; }
      if (!(part in cur)) cur[part] = {};
      cur = cur[part];
    });
  }

  function value(el) {
    const type = el.dataset.type || "";
    if (type === "bool") return el.checked;
    const raw = el.value.trim();
    if (raw === "") return undefined;
    if (type === "int") return Number.parseInt(raw, 10);
    // datetime-local is a wall-clock time in Asia/Shanghai, where every rule is evaluated
    if (type === "datetime") return raw.length === 16 ? raw + ":00+08:00" : raw + "+08:00";
    return raw; // text, and decimals as strings (money never passes through a float)
  }

  function collect(form) {
    const out = {};
    form.querySelectorAll("[data-rows]").forEach((box) => {
      out[box.dataset.rows] = Array.from(box.querySelectorAll("[data-row]")).map((row) => {
        const item = {};
        row.querySelectorAll("[data-field]").forEach((el) => {
          const v = value(el);
          if (v !== undefined) item[el.dataset.field] = v;
        });
        return item;
      });
    });
    form.querySelectorAll("[data-list]").forEach((el) => { out[el.dataset.list] = []; });
    for (const el of form.elements) {
      if (!el.name || el.disabled || el.closest("[data-rows]")) continue;
      if (el.dataset.type === "list") {
        if (el.checked) out[el.name].push(el.value);
        continue;
      }
      if (el.type === "radio" && !el.checked) continue;
      if (el.type === "checkbox" && el.dataset.type !== "bool") continue;
      const v = value(el);
      if (v !== undefined) setPath(out, el.name, v);
    }
    return out;
  }

  function toBase64(buffer) {
    const bytes = new Uint8Array(buffer);
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(text);
  }

  async function signatureBody(form) {
    const file = form.querySelector("input[type=file]").files[0];
    if (!file) return null;
    const buffer = await file.arrayBuffer();
    const head = new TextDecoder().decode(buffer.slice(0, 11));
    const signature = head === "-----BEGIN " ? new TextDecoder().decode(buffer) : toBase64(buffer);
    return JSON.stringify({ signature });
  }

  function send(form, method, url, body, json) {
    // XMLHttpRequest rather than fetch: uploads report their progress
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open(method, url);
      xhr.setRequestHeader("accept", "application/json");
      if (json) xhr.setRequestHeader("content-type", "application/json");
      const bar = form.querySelector("progress");
      if (bar && body instanceof FormData) {
        bar.hidden = false;
        bar.value = 0;
        xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = e.loaded / e.total; };
      }
      xhr.onload = () => resolve({ status: xhr.status, text: xhr.responseText });
      xhr.onerror = () => resolve({ status: 0, text: "" });
      xhr.send(body);
    });
  }

  function showError(form, status, text) {
    const box = form.querySelector("[data-error]");
    let message = EN ? "The request failed; nothing was changed." : "请求失败，未做任何更改。";
    let code = status ? "http_" + status : "network_error";
    try {
      const err = JSON.parse(text);
      message = (EN ? err.message_en : err.message) || message;
      code = err.code || code;
      if (err.detail && typeof err.detail === "object") {
        const detail = Object.entries(err.detail)
          .map(([k, v]) => k + ": " + (typeof v === "object" ? JSON.stringify(v) : v)).join("; ");
        if (detail) message += " (" + detail + ")";
      }
    } catch (_) { /* not JSON: the generic message stands */ }
    box.textContent = message + " [" + code + "]";
    box.dataset.code = code;
    box.hidden = false;
  }

  document.addEventListener("submit", async (ev) => {
    const form = ev.target.closest("form[data-api]");
    if (!form) return;
    ev.preventDefault();
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    const box = form.querySelector("[data-error]");
    if (box) box.hidden = true;
    const method = form.dataset.method || "POST";
    let body = null;
    let json = false;
    if (form.dataset.kind === "multipart") {
      body = new FormData(form);
    } else if (form.dataset.kind === "signature") {
      body = await signatureBody(form);
      json = true;
      if (body === null) { showError(form, 400, JSON.stringify({ code: "signature_missing",
        message: "请选择签名文件（.p7s）", message_en: "Choose the signature file (.p7s)" })); return; }
    } else if (method !== "DELETE") {
      body = JSON.stringify(collect(form));
      json = true;
    }
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    const res = await send(form, method, form.dataset.api, body, json);
    buttons.forEach((b) => { b.disabled = false; });
    if (res.status >= 200 && res.status < 300) {
      let data = {};
      try { data = JSON.parse(res.text || "{}"); } catch (_) { data = {}; }
      const next = form.dataset.redirect;
      if (next) window.location.assign(next.replace("{id}", data.id || ""));
      else window.location.reload();
      return;
    }
    showError(form, res.status, res.text);
  });

  // rows (lots): add a copy of the last row, renumbered; remove any but the last one
  document.addEventListener("click", (ev) => {
    const add = ev.target.closest("[data-add-row]");
    if (add) {
      const box = document.querySelector(`[data-rows="${add.dataset.addRow}"]`);
      const rows = box.querySelectorAll("[data-row]");
      const copy = rows[rows.length - 1].cloneNode(true);
      copy.querySelectorAll("[data-field]").forEach((el) => {
        el.value = el.dataset.field === "number" ? String(rows.length + 1) : "";
      });
      box.appendChild(copy);
      return;
    }
    const remove = ev.target.closest("[data-remove-row]");
    if (remove) {
      const row = remove.closest("[data-row]");
      if (row.parentElement.querySelectorAll("[data-row]").length > 1) row.remove();
    }
  });
})();
