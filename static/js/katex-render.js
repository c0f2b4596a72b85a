// Render LaTeX in model text with KaTeX's auto-render (SPEC §4: "LaTeX rendered").
//
// Only elements with the class "tex" are rendered: the server has already escaped their text, and
// auto-render only replaces the text between delimiters with KaTeX's own markup (trust is off, so
// \href, \url and \html* commands cannot produce links or attributes). Runs on page load and on
// every fragment htmx swaps in. An element with more text than MAX_TEX_CHARS is left as plain text:
// auto-render scans text node by node, and a 1 MB single-line trace froze the page for minutes.
//
// A single "$" is a dollar sign unless it pairs up as inline math by pandoc's rule: an opening "$"
// has a non-space right after it, a closing one a non-space right before it and no digit after it.
// "pens at $2 each and $3 each" is money, "$x + 1$" is math. auto-render has no such rule, so each
// money sign is moved into an element of its own (class tex-money, ignored) that nothing can pair
// with. window.thinkscopeTex.render(element) is what the pages run (the browser tests call it too).
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
    // The tags of analysis marks are the viewer's own words, never TeX; money signs are not TeX.
    ignoredClasses: ["mark-tag", "tex-money"],
  };

  var SPACE = /\s/;
  var DIGIT = /[0-9]/;

  // Indexes of the "$" in text that are money, not inline-math delimiters ("$$" and "\$" are left alone).
  function moneySigns(text) {
    var money = [];
    var open = -1;
    for (var i = 0; i < text.length; i++) {
      if (text[i] !== "$" || text[i - 1] === "\\") {
        continue;
      }
      if (text[i + 1] === "$") {
        i++;
        continue;
      }
      var before = text[i - 1];
      var after = text[i + 1];
      if (open >= 0 && before !== undefined && !SPACE.test(before) && !(after && DIGIT.test(after))) {
        open = -1; // closes the pending "$"
      } else if (after !== undefined && !SPACE.test(after)) {
        if (open >= 0) {
          money.push(open); // the pending "$" never closed
        }
        open = i;
      } else {
        money.push(i);
      }
    }
    if (open >= 0) {
      money.push(open);
    }
    return money;
  }

  function isolateMoneySigns(element) {
    var walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
    var nodes = [];
    while (walker.nextNode()) {
      nodes.push(walker.currentNode);
    }
    nodes.forEach(function (node) {
      moneySigns(node.data).reverse().forEach(function (index) {
        var sign = node.splitText(index);
        sign.splitText(1);
        var wrapper = document.createElement("span");
        wrapper.className = "tex-money";
        sign.parentNode.replaceChild(wrapper, sign);
        wrapper.appendChild(sign);
      });
    });
  }

  function renderElement(element) {
    isolateMoneySigns(element);
    window.renderMathInElement(element, OPTIONS);
  }

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
      renderElement(element);
    });
  }

  window.thinkscopeTex = { render: renderElement };

  document.addEventListener("DOMContentLoaded", function () {
    renderTex(document.body);
  });
  document.addEventListener("htmx:load", function (event) {
    renderTex(event.target);
  });
})();
