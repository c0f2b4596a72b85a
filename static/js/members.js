// The Members page. A role change the server refuses (400: the last owner, a bad value) answers with
// the member's row and the reason: htmx does not swap error answers by default, so let those through.
// "Copy link" copies the new account's set-password link. No inline handlers (the CSP forbids them).
(function () {
  "use strict";

  document.body.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr.status === 400 && event.detail.elt.closest(".role-form")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.body.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) {
      return;
    }
    var field = document.getElementById(button.dataset.copy);
    field.select();
    var copied = navigator.clipboard ? navigator.clipboard.writeText(field.value) : Promise.reject();
    copied.then(
      function () { button.textContent = "Copied"; },
      function () { button.textContent = "Selected: press Ctrl+C"; }
    );
  });
})();
