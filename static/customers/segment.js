// Live member count for the segment form: re-count whenever a criterion changes.
(function () {
  "use strict";
  var form = document.querySelector("[data-segment-count]");
  if (!form) return;
  var target = document.querySelector(form.getAttribute("data-count-target"));
  var timer;
  var ticket = 0;
  function refresh() {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var url = new URL(form.getAttribute("data-segment-count"), window.location.href);
      new FormData(form).forEach(function (value, key) {
        if (key !== "csrfmiddlewaretoken" && key !== "name" && key !== "description") {
          url.searchParams.append(key, value);
        }
      });
      var mine = ++ticket;
      fetch(url, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
        .then(function (response) { return response.text(); })
        .then(function (html) { if (mine === ticket) target.innerHTML = html; });
    }, 250);
  }
  form.addEventListener("change", refresh);
  form.addEventListener("input", refresh);
})();
