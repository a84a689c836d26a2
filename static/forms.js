// Forms marked data-api send their fields to the JSON API. The API's error body (a stable
// code, Chinese and English messages, the fields in `detail`) becomes a message next to each
// field it names, in plain words in the page's language, and one line for the form; what was
// typed stays. A person never sees the body itself or the validation library's English.
// After a save the page says so. Nothing here decides a rule: the API does.
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

  const T = (zh, en) => (EN ? en : zh);

  // The validation library's English, said plainly; anything not recognised gets a general
  // message, never the library's own words.
  const PLAIN = [
    [/missing required field/, () => T("此项为必填项", "This is required")],
    [/`str` of length >= (\d+)/, (n) => T(`请至少填写 ${n} 个字符`, `Enter at least ${n} characters`)],
    [/`str` of length <= (\d+)/, (n) => T(`最多 ${n} 个字符`, `At most ${n} characters`)],
    [/`array` of length >= (\d+)/, (n) => T(`请至少选择 ${n} 项`, `Choose at least ${n}`)],
    [/`array` of length <= (\d+)/, (n) => T(`最多选择 ${n} 项`, `Choose at most ${n}`)],
    [/>= (-?[\d.]+)/, (n) => T(`不能小于 ${n}`, `Must be at least ${n}`)],
    [/> (-?[\d.]+)/, (n) => T(`必须大于 ${n}`, `Must be more than ${n}`)],
    [/<= (-?[\d.]+)/, (n) => T(`不能大于 ${n}`, `Must be at most ${n}`)],
    [/< (-?[\d.]+)/, (n) => T(`必须小于 ${n}`, `Must be less than ${n}`)],
    [/`int`/, () => T("请填写整数", "Enter a whole number")],
    [/`(decimal|float|number)`/, () => T("请填写数字（金额最多保留两位小数）", "Enter a number (amounts: at most 2 decimals)")],
    [/`(datetime|date|time)`/, () => T("请填写有效的日期和时间", "Enter a valid date and time")],
    [/`uuid`|[Ii]nvalid enum value/, () => T("请从列表中选择", "Choose from the list")],
    [/pattern|regex/, () => T("格式不正确", "Not in the expected format")],
    [/`bool`/, () => T("请选择是或否", "Choose yes or no")],
  ];

  function plain(message) {
    for (const [pattern, say] of PLAIN) {
      const m = pattern.exec(message || "");
      if (m) return say(m[1]);
    }
    return T("此项填写有误，请检查", "This value is not valid; please check it");
  }

  // "lots[0].title", "weights.price", "lots.number", "file.name": the form's own element
  function fieldFor(form, key) {
    if (!key || key === "data") return null;
    const row = /^(\w+)\[(\d+)\]\.(\w+)$/.exec(key) || /^(\w+)\.(\w+)$/.exec(key);
    if (row) {
      const box = form.querySelector(`[data-rows="${row[1]}"]`);
      if (box) {
        const rows = box.querySelectorAll("[data-row]");
        const index = row.length === 4 ? Number(row[2]) : 0;
        const item = rows[Math.min(index, rows.length - 1)];
        const el = item && item.querySelector(`[data-field="${row[row.length - 1]}"]`);
        if (el) return el;
      }
    }
    const list = form.querySelector(`[data-list="${key}"]`);
    if (list) return list;
    for (const name of [key, key.split(".")[0], key.split("[")[0]]) {
      const el = form.elements.namedItem(name);
      if (el) return el instanceof RadioNodeList ? el[0] : el;
    }
    return null;
  }

  let ids = 0;
  function markField(el, message) {
    const holder = el.closest("label") || el;
    let note = holder.querySelector(":scope > .field-error");
    if (!note) {
      note = document.createElement("span");
      note.className = "field-error";
      note.id = "field-error-" + ++ids;
      note.dataset.testid = "field-error";
      if (holder === el) el.insertAdjacentElement("afterend", note);
      else holder.appendChild(note);
    }
    note.textContent = message;
    el.setAttribute("aria-invalid", "true");
    el.setAttribute("aria-describedby", note.id);
    return el;
  }

  function clearFields(form) {
    form.querySelectorAll(".field-error").forEach((n) => n.remove());
    form.querySelectorAll("[aria-invalid]").forEach((el) => {
      el.removeAttribute("aria-invalid");
      el.removeAttribute("aria-describedby");
    });
  }

  // The API's error body -> messages next to the fields it names, and one line for the form.
  function explain(form, status, err) {
    const marked = [];
    const mark = (key, message) => {
      const el = fieldFor(form, key);
      if (el) marked.push(markField(el, message));
      return Boolean(el);
    };
    let summary = (EN ? err.message_en : err.message) || "";
    if (err.code === "validation_error" && Array.isArray(err.detail)) {
      let unplaced = false;
      err.detail.forEach((item) => {
        const missing = /missing required field `([^`]+)`/.exec(item.message || "");
        let key = item.key;
        if (missing) key = !key || key === "data" ? missing[1] : key + "." + missing[1];
        if (!mark(key, plain(item.message))) unplaced = true;
      });
      summary = marked.length && !unplaced
        ? T("请按提示修改标出的项目，其余内容已保留。", "Please correct the marked fields; everything else is kept.")
        : T("表单内容有误，请检查后重试；如仍出错，请刷新页面。", "Something in the form is not valid; check it and try again, or reload the page.");
    } else if (err.detail && typeof err.detail === "object") {
      const keys = [].concat(err.detail.field || [], err.detail.fields || []);
      keys.forEach((key) => mark(key, (EN ? err.message_en : err.message) || plain("")));
      if (marked.length) summary = T("请按提示修改标出的项目，其余内容已保留。", "Please correct the marked fields; everything else is kept.") + " " + summary;
    }
    if (status === 401) {
      summary = T("登录已过期或尚未登录，未保存任何内容。请在新窗口登录后再提交（本页内容会保留）。",
        "You are not signed in (or the session ended); nothing was saved. Sign in in a new tab, then submit again (this page keeps what you typed).");
    }
    if (marked.length) marked[0].focus();
    return summary;
  }

  function showError(form, status, text) {
    const box = form.querySelector("[data-error]");
    clearFields(form);
    let message = status === 0
      ? T("网络连接中断，未保存任何更改。请检查网络后重试。", "The connection failed; nothing was changed. Check the network and try again.")
      : status === 413 ? T("提交的文件过大。", "The file is too large.")
      : status >= 500 ? T("服务器暂时无法处理，未保存任何更改，请稍后重试。", "The server could not handle this just now; nothing was changed. Please try again shortly.")
      : T("提交未成功，未做任何更改。", "The request failed; nothing was changed.");
    let code = status ? "http_" + status : "network_error";
    try {
      const err = JSON.parse(text);
      if (err && typeof err === "object" && err.code) {
        message = explain(form, status, err) || message;
        code = err.code;
      }
    } catch (_) { /* not JSON: the general message stands */ }
    if (!box) return;
    box.textContent = message + " ";
    const ref = document.createElement("span");
    ref.className = "muted small";
    ref.textContent = "[" + code + "]";
    ref.title = T("错误代码，联系平台时请提供", "Error code, to quote when asking for help");
    box.appendChild(ref);
    if (status === 401) {
      const link = document.createElement("a");
      link.href = "/login?next=" + encodeURIComponent(location.pathname + location.search) + "&reason=expired";
      link.target = "_blank";
      link.rel = "noopener";
      link.textContent = " " + T("在新窗口登录", "Sign in in a new tab");
      box.appendChild(link);
    }
    box.dataset.code = code;
    box.hidden = false;
  }

  // After a save the page reloads: say so on the page that comes back.
  const SAVED = "th-saved";
  function remember(form, submitter) {
    const what = form.dataset.saved || (submitter && submitter.textContent.trim()) || "";
    try {
      sessionStorage.setItem(SAVED, what ? T("已完成：", "Done: ") + what : T("已保存。", "Saved."));
    } catch (_) { /* private mode: no confirmation, the page shows the result anyway */ }
  }

  function confirmSaved() {
    let text = null;
    try { text = sessionStorage.getItem(SAVED); sessionStorage.removeItem(SAVED); } catch (_) { return; }
    if (!text) return;
    const note = document.createElement("p");
    note.className = "saved";
    note.setAttribute("role", "status");
    note.dataset.testid = "saved";
    note.textContent = text;
    const main = document.querySelector("main");
    if (main) main.insertBefore(note, main.firstChild);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", confirmSaved);
  else confirmSaved();

  // a field that was marked loses its mark once it is changed
  document.addEventListener("input", (ev) => {
    const el = ev.target;
    if (!(el instanceof Element) || !el.hasAttribute("aria-invalid")) return;
    const note = document.getElementById(el.getAttribute("aria-describedby") || "");
    if (note) note.remove();
    el.removeAttribute("aria-invalid");
    el.removeAttribute("aria-describedby");
  });

  document.addEventListener("submit", async (ev) => {
    const form = ev.target.closest("form[data-api]");
    if (!form) return;
    ev.preventDefault();
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    const box = form.querySelector("[data-error]");
    if (box) box.hidden = true;
    clearFields(form);
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
      remember(form, ev.submitter);
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
