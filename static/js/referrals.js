// "Copy link" on the Refer a friend page: shown only where the browser can copy (progressive enhancement).
(function () {
  "use strict";
  document.querySelectorAll(".js-copy").forEach(function (button) {
    if (!navigator.clipboard) { return; }
    var input = document.getElementById(button.dataset.copyTarget);
    var status = document.getElementById("copy-status");
    if (!input) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(input.value).then(function () {
        if (status) { status.textContent = button.dataset.copied; }
      }, function () {
        input.select();
      });
    });
  });
  document.querySelectorAll("#referral-url").forEach(function (input) {
    input.addEventListener("focus", function () { input.select(); });
  });
})();
