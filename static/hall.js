// The opening hall, live. The page loads the hall's state, then follows its event stream from
// the state's last event on; the browser resumes a broken stream with Last-Event-ID by itself.
// Frequent events (a sign-in, a bid decrypted or refused, a message) are applied here; a change
// of phase reloads the state. The server's clock drives the countdowns, not this computer's.
(function () {
  "use strict";
  const root = document.getElementById("hall");
  if (!root) return;
  const EN = document.documentElement.lang.startsWith("en");
  const lotId = root.dataset.lot;
  const T = (zh, en) => (EN ? en : zh);
  const PHASES = {
    waiting: T("等待开标", "Waiting for the opening"), starting: T("开标中", "Opening"),
    decrypting: T("解密中", "Decrypting"), officers: T("开标人解密中", "Officers decrypting"),
    read: T("唱标完成", "Prices read"), closed: T("开标结束", "Opening closed"), failed: T("流标（有效投标不足）", "Failed: too few bids"),
    cancelled: T("项目已终止", "Tender cancelled"),
  };
  const STATUS = {
    waiting: T("待解密", "Waiting"), refused: T("解密未成功", "Not yet decrypted"),
    opened: T("已解密", "Decrypted"), not_opened: T("未解密", "Not decrypted"),
  };
  const FAULT = { bidder: T("投标人原因（视为截标后撤回）", "bidder's fault (withdrawn after the deadline)"),
    platform: T("平台原因（视为截标前撤回）", "platform's fault (withdrawn before the deadline)") };
  const ROLES = { bidder: T("投标人", "Bidder"), host: T("主持人", "Host"), officer: T("开标人", "Officer"),
    supervisor: T("监督", "Supervisor") };
  let state = null;
  let loadedAt = 0;
  let source = null;

  const $ = (sel) => root.querySelector(sel);
  const esc = (v) => String(v === null || v === undefined ? "" : v)
    .replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const money = (v) => Number(v).toLocaleString("zh-CN", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const beijing = (iso) => new Date(iso).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false });

  const FORM = { guarantee_insurance: T("保证保险", "Guarantee insurance"),
    bank_guarantee: T("银行保函", "Bank guarantee"), e_guarantee: T("电子保函", "E-guarantee") };

  /** The bid's security: form, issuer, amount, and whether the platform's checks passed. */
  function securityCell(s) {
    if (!s) return `<td class="small muted" data-testid="security">${T("无保函记录", "none on record")}</td>`;
    const mark = s.verified ? `<span class="tag tag-opened">${T("已核验", "verified")}</span>` :
      s.status !== "issued" ? `<span class="tag tag-waiting">${T("未出具", "not issued")}</span>` :
      `<span class="tag tag-refused" title="${esc(s.problems.join(", "))}">${T("核验未通过", "checks failed")}</span>`;
    return `<td class="small" data-testid="security">${esc(FORM[s.form] || s.form)} · ${esc(s.issuer)} · ${money(s.amount)} ${mark}</td>`;
  }

  function row(b) {
    const r = b.reading || {};
    const note = b.status === "not_opened" ? FAULT[b.fault] || "" :
      b.status === "refused" ? esc(b.last_code) + " ×" + b.attempts :
      b.status === "opened" && r.by === "officers" ? T("由开标人密钥分片解密", "opened by the officers' shares") : "";
    return `<tr data-bid="${esc(b.bid_id)}" data-status="${esc(b.status)}">
      <td>${esc(b.bidder)}</td>
      <td><span class="tag tag-${esc(b.status)}">${esc(STATUS[b.status] || b.status)}</span></td>
      <td class="num" data-testid="price">${r.total_price ? money(r.total_price) : "—"}</td>
      <td class="num">${r.duration_days || "—"}</td>
      <td>${esc(r.quality || "—")}</td>
      ${securityCell(b.security)}
      <td class="small muted">${note}</td></tr>`;
  }

  function renderBids() {
    const body = $("[data-bids]");
    body.innerHTML = state.bids.length ? state.bids.map(row).join("") :
      `<tr><td colspan="7" class="empty">${state.phase === "waiting" ?
        T("开标前不公布投标人", "Bidders are not shown before the opening") : T("无", "None")}</td></tr>`;
    const opened = state.bids.filter((b) => b.status === "opened").length;
    $("[data-progress]").textContent = state.bids.length ?
      T(`已解密 ${opened} / ${state.bids.length}`, `${opened} of ${state.bids.length} decrypted`) : "";
    const bar = $("[data-progress-bar]");
    bar.max = state.bids.length || 1;
    bar.value = opened;
  }

  function renderSignins() {
    const s = state.signins;
    $("[data-signin-count]").textContent = s.count;
    $("[data-signins]").innerHTML = s.people.map((p) =>
      `<li>${esc(p.name)} <span class="muted small">${esc(p.organization || "")} · ${esc(ROLES[p.role] || p.role)}</span></li>`).join("");
  }

  function renderMessages() {
    $("[data-messages]").innerHTML = state.messages.map((m) =>
      `<li><span class="muted small">${beijing(m.at)}</span> <b>${esc(m.from)}</b>: ${esc(m.text)}</li>`).join("");
  }

  function renderOfficers() {
    const box = $("[data-officers]");
    box.hidden = state.phase !== "officers" && !state.officers.some((o) => o.submitted_at);
    box.querySelector("ul").innerHTML = state.officers.map((o) =>
      `<li>${esc(o.officer)} · ${o.submitted_at ? T("已提交分片", "share handed over") : T("未提交", "not yet")}</li>`).join("");
  }

  function renderWords() {
    const recs = $("[data-records]");
    recs.hidden = !state.records.length;
    recs.querySelector("ul").innerHTML = state.records.map((r) =>
      `<li><a href="/api/lots/${lotId}/opening-records/${r.version}" target="_blank" data-testid="record-link">${
        T("第 " + r.version + " 版", "Issue " + r.version)}</a> <span class="mono small muted">SHA-256 ${esc(r.sha256)}</span></li>`).join("");
    const box = $("[data-objections-box]");
    const o = state.opening || {};
    box.hidden = !o.read_at;
    $("[data-confirm-until]").textContent = o.confirm_until && state.phase === "read" ?
      T("截止 ", "until ") + beijing(o.confirm_until) : "";
    const host = ["host", "officer"].includes(root.dataset.role);
    $("[data-objections]").innerHTML = [
      ...state.confirmations.map((c) => `<li>${esc(c.bidder)}: ${T("确认", "confirmed")}</li>`),
      ...state.objections.map((j) => `<li data-objection="${esc(j.id)}"><b>${esc(j.bidder)}</b> ${T("异议", "objects")}: ${esc(j.text)}<br>${
        j.answer ? `<span class="muted">${T("答复", "Answer")} (${esc(j.answered_by_name)}): ${esc(j.answer)}</span>` :
        host ? `<form data-answer="${esc(j.id)}" class="inline-form"><input name="text" required data-testid="answer-text">` +
          `<button type="submit" data-testid="answer-send">${T("答复", "Answer")}</button></form>` :
        `<span class="tag tag-refused">${T("待答复", "awaiting an answer")}</span>`}</li>`)].join("");
    const word = root.querySelector("[data-bidder-word]");
    if (word) word.hidden = state.phase !== "read" || Date.parse(o.confirm_until) <=
      Date.parse(state.now) + (performance.now() - loadedAt);
  }

  function render() {
    const phase = $("[data-phase]");
    phase.textContent = PHASES[state.phase] || state.phase;
    phase.dataset.phase = state.phase;
    const o = state.opening;
    $("[data-facts]").textContent = o ? T(
      `截标时有效投标 ${o.bids_at_deadline} 份（不少于 ${o.required_bids} 份方可开标）`,
      `${o.bids_at_deadline} valid bids at the deadline (${o.required_bids} needed to open)`) : "";
    renderBids();
    renderSignins();
    renderMessages();
    renderOfficers();
    renderWords();
    tick();
  }

  function tick() {
    if (!state) return;
    const el = $("[data-countdown]");
    const now = Date.parse(state.now) + (performance.now() - loadedAt);
    const target = state.phase === "waiting" ? state.lot.bid_deadline :
      state.phase === "decrypting" && state.opening ? state.opening.window_closes_at : null;
    if (!target) { el.textContent = ""; return; }
    const left = Math.max(0, Math.floor((Date.parse(target) - now) / 1000));
    const clock = [Math.floor(left / 3600), Math.floor((left % 3600) / 60), left % 60]
      .map((n) => String(n).padStart(2, "0")).join(":");
    el.textContent = state.phase === "waiting" ? T("距开标 ", "Opening in ") + clock :
      T("解密剩余 ", "Decryption closes in ") + clock;
  }

  let supervising = null;
  async function loadSupervision() {
    if (root.dataset.role !== "supervisor" || !state || state.phase === "waiting") return;
    const r = await fetch(`/api/lots/${lotId}/hall/supervision`);
    if (!r.ok) return;
    const s = await r.json();
    $("[data-flags]").innerHTML = s.flags.length ? s.flags.map((f) =>
      `<li class="flag" data-testid="flag"><b>${esc(f.indicator)}</b> ${esc(f.kind)} <span class="mono">${esc(f.value)}</span>: ${
        f.bidders.map(esc).join(T("、", ", "))}</li>`).join("") :
      `<li class="muted">${T("暂未发现相同 IP 或设备", "No shared address or device so far")}</li>`;
    $("[data-supervised]").innerHTML = s.bidders.map((b) => {
      const d = b.device || {};
      const device = ["host_id", "machine_code", "cpu_serial"].filter((k) => d[k]).map((k) => `${k}=${esc(d[k])}`)
        .concat((d.macs || []).map((m) => "mac=" + esc(m))).join(" ");
      return `<tr><td>${esc(b.bidder)}</td><td class="mono">${b.client_ips.map(esc).join(" ")}</td>` +
        `<td class="mono">${esc(b.signin_ip || "—")}</td><td class="mono small">${device || "—"}</td></tr>`;
    }).join("");
  }
  function superviseSoon() {
    clearTimeout(supervising);
    supervising = setTimeout(loadSupervision, 300);
  }

  async function load() {
    const r = await fetch(`/api/lots/${lotId}/hall`, { headers: { accept: "application/json" } });
    if (!r.ok) return;
    state = await r.json();
    loadedAt = performance.now();
    render();
    superviseSoon();
  }

  function apply(kind, ev) {
    const d = ev.data;
    root.dataset.lastEvent = ev.seq;
    if (kind === "hall.signin") {
      state.signins.count = d.count;
      if (d.name) state.signins.people.push({ name: d.name, role: d.role, organization: "" });
      renderSignins();
    } else if (kind === "hall.message") {
      state.messages.push({ from: d.from, text: d.text, at: ev.at });
      renderMessages();
    } else if (kind === "bid.opened" || kind === "bid.open_refused" || kind === "bid.not_opened") {
      const b = state.bids.find((x) => x.bid_id === d.bid_id);
      if (!b) return load();
      if (kind === "bid.opened") { b.status = "opened"; b.reading = d; }
      else if (kind === "bid.not_opened") { b.status = "not_opened"; b.fault = d.fault; }
      else if (b.status !== "opened") { b.status = "refused"; b.last_code = d.code; b.attempts += 1; }
      renderBids();
    } else {
      return load();  // a change of phase: read the whole state again
    }
  }

  function follow() {
    source = new EventSource(`/api/lots/${lotId}/hall/stream?after=${state.last_event}`);
    const live = $("[data-live]");
    source.onopen = () => { live.textContent = T("实时连接", "Live"); live.classList.add("on"); };
    source.onerror = () => { live.textContent = T("重新连接中…", "Reconnecting…"); live.classList.remove("on"); };
    const handler = (e) => { apply(e.type, JSON.parse(e.data)); superviseSoon(); };
    ["hall.signin", "hall.message", "bid.opened", "bid.open_refused", "bid.not_opened", "opening.started",
     "opening.read", "lot.failed", "officers.needed", "officers.share_submitted", "officers.done",
     "officers.rebuild_failed", "officers.share_resubmit", "record.issued", "opening.confirmed", "objection.raised",
     "objection.answered", "opening.closed"].forEach((k) => source.addEventListener(k, handler));
  }

  load().then(() => { if (state) follow(); });
  setInterval(tick, 1000);

  const form = root.querySelector("[data-message-form]");
  if (form) form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = form.querySelector("input");
    const r = await fetch(`/api/lots/${lotId}/hall/messages`, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ text: input.value }) });
    if (r.ok) input.value = "";
  });
  const post = (path, body) => fetch(path, { method: "POST",
    headers: { "content-type": "application/json" }, body: JSON.stringify(body || {}) });
  root.addEventListener("submit", async (e) => {
    const f = e.target;
    if (f.matches("[data-objection-form]")) {
      e.preventDefault();
      if ((await post(`/api/lots/${lotId}/objections`, { text: f.text.value })).ok) f.reset();
    } else if (f.dataset.answer) {
      e.preventDefault();
      await post(`/api/lots/${lotId}/objections/${f.dataset.answer}/answer`, { text: f.text.value });
    }
  });
  const confirmButton = root.querySelector("[data-confirm]");
  if (confirmButton) confirmButton.addEventListener("click", async () => {
    confirmButton.disabled = (await post(`/api/lots/${lotId}/opening/confirm`)).ok;
  });
  const signin = root.querySelector("[data-signin]");
  if (signin) signin.addEventListener("click", async () => {
    const r = await fetch(`/api/lots/${lotId}/hall/signin`, {
      method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    const body = await r.json();
    signin.disabled = r.ok;
    signin.textContent = r.ok ? T("已签到", "Signed in") : (EN ? body.message_en : body.message);
  });
})();
