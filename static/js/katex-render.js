// Render LaTeX in model text with KaTeX's auto-render (SPEC §4: "LaTeX rendered").
//
// Only elements with the class "tex" are rendered: the server has already escaped their text, and
// auto-render only replaces the text between delimiters with KaTeX's own markup (trust is off, so
// \href, \url and \html* commands cannot produce links or attributes). Runs on page load and on
// every fragment htmx swaps in. An element with more text than MAX_TEX_CHARS is left as plain text:
// auto-render scans text node by node, and a 1 MB single-line trace froze the page for minutes.
(function () {
  "use strict";

  var MAX_TEX_CHARS = 50000;

  var OPTIONS = {
    delimiters: [
      { left: "$$", right: "$$", display: true },
      { left: "\\[", right: "\\]", display: true },
      { left: "\\(", right: "\\)", display: false },
      { left: "$", right: "$", display: false },
    ],
    throwOnError: false,
    trust: false,
    strict: "ignore",
    ignoredTags: ["script", "noscript", "style", "textarea", "pre", "code", "option"],
    // The tags of analysis marks are the viewer's own words, never TeX.
    ignoredClasses: ["mark-tag"],
  };

  function texElements(root) {
    var found = Array.prototype.slice.call(root.querySelectorAll(".tex:not([data-tex-rendered])"));
    if (root.matches && root.matches(".tex:not([data-tex-rendered])")) {
      found.unshift(root);
    }
    return found;
  }

  function renderTex(root) {
    if (typeof window.renderMathInElement !== "function") {
      return;
    }
    texElements(root).forEach(function (element) {
      element.setAttribute("data-tex-rendered", "");
      if (element.textContent.length > MAX_TEX_CHARS) {
        element.title = "Shown as plain text: too long to typeset its LaTeX";
        return;
      }
      window.renderMathInElement(element, OPTIONS);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    renderTex(document.body);
  });
  document.addEventListener("htmx:load", function (event) {
    renderTex(event.target);
  });
})();
