// Every page: the top bar's menu button at phone width, and tables and code blocks that
// scroll within themselves instead of widening the page. Loaded by templates/base.html, so
// pages added later get the same behaviour without doing anything.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function setupMenu() {
    const button = document.querySelector(".menu-button");
    const nav = document.getElementById("site-nav");
    if (!button || !nav) return;
    button.hidden = false;
    const close = () => { nav.classList.remove("open"); button.setAttribute("aria-expanded", "false"); };
    button.addEventListener("click", () => {
      const open = !nav.classList.contains("open");
      nav.classList.toggle("open", open);
      button.setAttribute("aria-expanded", String(open));
      if (open) {
        const first = nav.querySelector("a, button");
        if (first) first.focus();
      }
    });
    document.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape" && nav.classList.contains("open")) { close(); button.focus(); }
    });
  }

  // A region that scrolls must be reachable by keyboard (so a keyboard user can scroll it)
  // and named (so a screen reader says what it is): only while it actually overflows.
  function markScrollable(box) {
    const overflows = box.scrollWidth > box.clientWidth + 1;
    if (overflows) {
      box.tabIndex = 0;
      if (!box.hasAttribute("aria-label") && box.classList.contains("table-scroll")) {
        const caption = box.querySelector("caption");
        box.setAttribute("role", "region");
        box.setAttribute("aria-label", caption ? caption.textContent.trim()
          : (document.documentElement.lang.startsWith("en") ? "Table, scrolls sideways" : "表格（可左右滚动）"));
      }
    } else if (box.tabIndex === 0 && !box.matches("a, button, input, select, textarea")) {
      box.removeAttribute("tabindex");
    }
  }

  function wrapTables() {
    document.querySelectorAll("main table").forEach((table) => {
      if (table.parentElement.classList.contains("table-scroll")) return;
      const box = document.createElement("div");
      box.className = "table-scroll";
      table.parentNode.insertBefore(box, table);
      box.appendChild(table);
    });
  }

  function refresh() {
    document.querySelectorAll(".table-scroll, main pre").forEach(markScrollable);
  }

  function start() {
    setupMenu();
    wrapTables();
    refresh();
    let pending = 0;
    window.addEventListener("resize", () => {
      cancelAnimationFrame(pending);
      pending = requestAnimationFrame(refresh);
    });
    // live pages (the hall) add rows and tables after load
    new MutationObserver(() => {
      cancelAnimationFrame(pending);
      pending = requestAnimationFrame(() => { wrapTables(); refresh(); });
    }).observe(document.querySelector("main") || document.body, { childList: true, subtree: true });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
