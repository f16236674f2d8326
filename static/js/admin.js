/* Small admin behaviours without inline handlers (a Content-Security-Policy forbids them):
   - <select data-autosubmit> submits its form when it changes (the charity totals' year; without JavaScript
     the form's own button does the same);
   - <input data-select-on-click> selects its text when clicked (the API key shown once, to copy). */
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target instanceof HTMLSelectElement && target.hasAttribute("data-autosubmit") && target.form) {
      target.form.submit();
    }
  });
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target instanceof HTMLInputElement && target.hasAttribute("data-select-on-click")) {
      target.select();
    }
  });
})();
