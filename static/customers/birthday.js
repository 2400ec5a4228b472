// Enrol and edit forms: show the solar or the lunar birthday fields, as the calendar choice
// (公历/农历) says. Without JavaScript both sets stay visible and the choice still decides.
(function () {
  "use strict";
  document.querySelectorAll("[data-birthday-form]").forEach(function (form) {
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
    form.addEventListener("change", toggle);
    toggle();
  });
})();
