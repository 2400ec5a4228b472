// Store CRM behaviour: small, dependency-free progressive enhancements.
(function () {
  "use strict";

  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-autosubmit]")) {
      event.target.form.submit();
    }
  });

  // Navigation menus: one open at a time; a click elsewhere or Escape folds them.
  function foldMenus(except) {
    document.querySelectorAll("[data-nav-menu][open]").forEach(function (menu) {
      if (menu !== except) menu.removeAttribute("open");
    });
  }
  document.addEventListener("click", function (event) {
    foldMenus(event.target.closest("[data-nav-menu]"));
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var open = document.querySelector("[data-nav-menu][open]");
    if (!open) return;
    open.removeAttribute("open");
    open.querySelector("summary").focus();
  });

  document.addEventListener("click", function (event) {
    var toggle = event.target.closest("[data-nav-toggle]");
    if (!toggle) return;
    var nav = document.getElementById(toggle.getAttribute("aria-controls"));
    var open = nav.classList.toggle("open");
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  });

  // Live search: <input data-live-search="URL" data-live-target="#results"> fetches a
  // server-rendered partial as the user types, keeping only the newest answer.
  var timers = new WeakMap();
  var latest = new WeakMap();
  document.addEventListener("input", function (event) {
    var input = event.target;
    if (!input.matches("[data-live-search]")) return;
    clearTimeout(timers.get(input));
    timers.set(input, setTimeout(function () {
      var url = new URL(input.getAttribute("data-live-search"), window.location.href);
      url.searchParams.set(input.name, input.value);
      var target = document.querySelector(input.getAttribute("data-live-target"));
      var ticket = {};
      latest.set(input, ticket);
      fetch(url, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
        .then(function (response) { return response.text(); })
        .then(function (html) {
          if (latest.get(input) === ticket && target) target.innerHTML = html;
        });
    }, 150));
  });

  // Confirm destructive actions: <button data-confirm="text">.
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    if (button && button.dataset.confirm && !window.confirm(button.dataset.confirm)) {
      event.preventDefault();
    }
  });
})();
