// Deadline countdowns. The time left is the server's clock when the page was made plus the time
// elapsed since on this page, so a wrong clock on this computer cannot make a deadline look
// further away than it is. The platform's database clock alone decides whether a bid is in time.
(function () {
  "use strict";
  const EN = document.documentElement.lang.startsWith("en");
  const loaded = performance.now();
  const pad = (n) => String(n).padStart(2, "0");

  function render(el) {
    const gap = Date.parse(el.dataset.deadline) - Date.parse(el.dataset.now);
    const left = Math.floor((gap - (performance.now() - loaded)) / 1000);
    if (Number.isNaN(left)) return;
    if (left <= 0) {
      el.textContent = EN ? "closed" : "已截止";
      el.classList.add("closed");
      return;
    }
    const days = Math.floor(left / 86400);
    const clock = pad(Math.floor((left % 86400) / 3600)) + ":" + pad(Math.floor((left % 3600) / 60)) +
      ":" + pad(left % 60);
    el.textContent = EN ? days + " d " + clock + " left" : "剩余 " + days + " 天 " + clock;
    el.classList.toggle("soon", left < 3600);
  }

  function tick() { document.querySelectorAll("[data-deadline]").forEach(render); }
  tick();
  setInterval(tick, 1000);
})();
