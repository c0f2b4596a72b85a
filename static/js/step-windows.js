// Steps a trace page does not show yet (traces/views/windows.py): the page shows a window of each
// part's steps, and rows standing for the others load them through htmx. A link to a step that is
// not on the page ("#step-N", from a badge, another page or a bookmark) opens the page again at that
// step (?start=N-1#step-N), so no step is ever out of reach of a link. No inline handlers (the CSP
// forbids them).
(function () {
  "use strict";

  function openAtLinkedStep() {
    var linked = /^#step-(\d+)$/.exec(window.location.hash);
    if (!linked || document.getElementById("step-" + linked[1])) {
      return;
    }
    var url = new URL(window.location.href);
    var start = String(parseInt(linked[1], 10) - 1);
    if (url.searchParams.get("start") === start) {
      return;  // opened at it already: the trace has no such step
    }
    url.searchParams.set("start", start);
    window.location.replace(url.toString());
  }

  document.addEventListener("DOMContentLoaded", openAtLinkedStep);
  window.addEventListener("hashchange", openAtLinkedStep);
})();
