// The adjudication page: a refused save (409: someone adjudicated this
// trace since the page was opened; 400: a bad value) answers with a notice that replaces the page's
// notice (the server retargets it there). htmx does not swap error answers by default: let these
// two through. No inline handlers (the CSP forbids them).
(function () {
  "use strict";

  document.body.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (status === 409 || status === 400) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
