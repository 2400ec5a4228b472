// Campaign form: show only the fields the chosen audience and schedule use, and keep the
// audience size and the message preview current as the form changes (server-rendered parts).
(function () {
  "use strict";
  var form = document.querySelector("[data-campaign-form]");
  if (!form) return;
  var audience = document.getElementById("audience-count");
  var preview = document.getElementById("message-preview");
  var member = document.getElementById("preview-member");
  var timer;
  var tickets = { audience: 0, preview: 0 };

  function chosen(name) {
    var checked = form.querySelector('input[name="' + name + '"]:checked');
    return checked ? checked.value : "";
  }

  function toggle() {
    form.querySelectorAll("[data-show-when]").forEach(function (element) {
      var rule = element.getAttribute("data-show-when").split("=");
      element.hidden = rule[1].split(",").indexOf(chosen(rule[0])) === -1;
    });
  }

  function load(kind, url, target) {
    var mine = ++tickets[kind];
    fetch(url, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
      .then(function (response) { return response.text(); })
      .then(function (html) { if (mine === tickets[kind]) target.innerHTML = html; });
  }

  function refresh() {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var counts = new URL(form.getAttribute("data-audience-url"), window.location.href);
      var shown = new URL(form.getAttribute("data-preview-url"), window.location.href);
      new FormData(form).forEach(function (value, key) {
        if (key === "csrfmiddlewaretoken") return;
        shown.searchParams.append(key, value);
        if (key !== "template" && key !== "name") counts.searchParams.append(key, value);
      });
      shown.searchParams.set("member_q", member ? member.value : "");
      load("audience", counts, audience);
      load("preview", shown, preview);
    }, 250);
  }

  form.addEventListener("change", function () { toggle(); refresh(); });
  form.addEventListener("input", refresh);
  if (member) member.addEventListener("input", refresh);
  toggle();
  refresh();
})();
