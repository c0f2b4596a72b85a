// Render LaTeX in model text with KaTeX's auto-render (docs/concepts.md §4: "LaTeX rendered").
//
// Only elements with the class "tex" are rendered: the server has already escaped their text, and
// auto-render only replaces the text between delimiters with KaTeX's own markup (trust is off, so
// \href, \url and \html* commands cannot produce links or attributes). An element with more text
// than MAX_TEX_CHARS is left as plain text: auto-render scans text node by node, and a 1 MB
// single-line trace froze the page for minutes.
//
// When. KaTeX's markup is most of a trace page's elements (a 60-step trace: ~5,800 of ~6,400) and
// typesetting all of it was one long task before the first paint. So the page is painted with the
// formulas as text, and an element is typeset only once it comes within half a screen of the viewport
// (an IntersectionObserver), in slices of at most SLICE_MS between frames (requestIdleCallback);
// an element whose text has no delimiter is never handed to KaTeX. Fragments htmx swaps in are
// treated the same way. Printing typesets every element first (beforeprint). KaTeX's own scripts
// (~270 KB, named by this script's data-katex and data-auto-render attributes) load with the first
// formula to typeset: a page without one never loads them, and none is compiled before the first paint.
// Each .tex element says where it stands in data-tex: "pending" (looked at, to be typeset soon),
// "offscreen" (holds math, typeset when it comes near) or "done" (typeset, or nothing to typeset).
// The page has settled when no .tex element lacks data-tex or is pending (the browser tests wait
// for that); window.thinkscopeTex.typesetAll() typesets the offscreen ones too.
//
// A single "$" is a dollar sign unless it pairs up as inline math by pandoc's rule: an opening "$"
// has a non-space right after it, a closing one a non-space right before it and no digit after it.
// "pens at $2 each and $3 each" is money, "$x + 1$" is math. auto-render has no such rule, so each
// money sign is moved into an element of its own (class tex-money, ignored) that nothing can pair
// with. window.thinkscopeTex.render(element) is what the pages run (the browser tests call it too).
//
// Budgets of one formula. KaTeX bounds macro expansion (maxExpand) and sizes a formula asks for
// (maxSize, in em), but not how deeply groups nest: chromium's layout crashed the tab on about 75
// nested \underbrace or 150 nested \frac, a 1.5 KB formula. So each formula is checked before
// KaTeX sees it, and one over budget is left as its plain text inside an element of class
// tex-refused whose title says why (no words are added to the text). The figures come from the
// 22,410 distinct formulas of the sample data: they nest at most 8 groups deep
// (99.9 % at most 3), are at most ~1,000 characters long (longer "formulas" are money signs
// mistaken for delimiters), need at most 150 macro expansions (built-ins such as \implies count),
// ask for no size above 4pt and define no macro. Each limit leaves at least twice that room, and
// nesting stays well below where chromium breaks. A formula that defines macros is refused
// whatever its size: doubling macros nest 128 deep in 170 characters, past any nesting its source
// shows.
(function () {
  "use strict";

  var MAX_TEX_CHARS = 50000;
  var MAX_FORMULA_CHARS = 2000;
  var MAX_FORMULA_NESTING = 20;

  // Opening and closing groups (braces, \left…\right, \begin…\end) and escaped characters ("\{" is
  // a brace character, not a group; "\leftarrow" is no \left).
  var GROUP_TOKEN = /\\(?:left|right|begin|end)(?![A-Za-z])|\\[\s\S]|[{}]/g;
  var OPENS = { "{": 1, "\\left": 1, "\\begin": 1 };
  var CLOSES = { "}": 1, "\\right": 1, "\\end": 1 };
  var MACRO_DEFINITION = /\\(?:[gex]?def|let|futurelet|global|newcommand|renewcommand|providecommand)(?![A-Za-z])/;

  var OPTIONS = {
    delimiters: [
      { left: "$$", right: "$$", display: true },
      { left: "\\[", right: "\\]", display: true },
      { left: "\\(", right: "\\)", display: false },
      { left: "$", right: "$", display: false },
    ],
    throwOnError: false,
    trust: false,
    maxExpand: 300,
    maxSize: 10,
    strict: "ignore",
    ignoredTags: ["script", "noscript", "style", "textarea", "pre", "code", "option"],
    // The tags of analysis marks are the viewer's own words, never TeX; money signs are not TeX.
    ignoredClasses: ["mark-tag", "tex-money", "tex-refused"],
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

  // How deeply the groups of a formula nest.
  function nesting(tex) {
    var depth = 0;
    var deepest = 0;
    var token;
    GROUP_TOKEN.lastIndex = 0;
    while ((token = GROUP_TOKEN.exec(tex)) !== null) {
      if (OPENS[token[0]]) {
        depth += 1;
        deepest = Math.max(deepest, depth);
      } else if (CLOSES[token[0]]) {
        depth -= 1;
      }
    }
    return deepest;
  }

  // Why a formula is not typeset, or "" when it is within budget.
  function overBudget(tex) {
    if (tex.length > MAX_FORMULA_CHARS) {
      return tex.length + " characters long (the limit is " + MAX_FORMULA_CHARS + ")";
    }
    if (MACRO_DEFINITION.test(tex)) {
      return "it defines macros";
    }
    var depth = nesting(tex);
    if (depth > MAX_FORMULA_NESTING) {
      return "groups nested " + depth + " deep (the limit is " + MAX_FORMULA_NESTING + ")";
    }
    return "";
  }

  // Wrap each text node auto-render left for a refused formula (its delimiters around it) in a
  // tex-refused element that says why.
  function markRefused(element, refused) {
    var walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
    var nodes = [];
    while (walker.nextNode()) {
      nodes.push(walker.currentNode);
    }
    nodes.forEach(function (node) {
      var match = refused.find(function (formula) {
        return node.data.length <= formula.tex.length + 4 && node.data.indexOf(formula.tex) !== -1;
      });
      if (match && !node.parentNode.classList.contains("tex-refused")) {
        var wrapper = document.createElement("span");
        wrapper.className = "tex-refused";
        wrapper.title = "LaTeX shown as text, not typeset: " + match.reason;
        node.parentNode.replaceChild(wrapper, node);
        wrapper.appendChild(node);
      }
    });
  }

  // auto-render leaves a formula as its text when preProcess throws a KaTeX ParseError.
  function renderElement(element) {
    isolateMoneySigns(element);
    var refused = [];
    window.renderMathInElement(element, Object.assign({}, OPTIONS, {
      preProcess: function (tex) {
        var reason = overBudget(tex);
        if (reason) {
          refused.push({ tex: tex, reason: reason });
          throw new window.katex.ParseError(reason);
        }
        return tex;
      },
      errorCallback: function () {},  // the refusal is shown on the formula itself
    }));
    if (refused.length > 0) {
      markRefused(element, refused);
    }
  }

  var SLICE_MS = 12;
  var KATEX_SOURCES = document.currentScript
    ? [document.currentScript.getAttribute("data-katex"), document.currentScript.getAttribute("data-auto-render")]
    : [];
  var katexLoaded = null;

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = function () { reject(new Error("could not load " + src)); };
      document.head.appendChild(script);
    });
  }

  // KaTeX, then its auto-render (which needs it); once.
  function loadKatex() {
    if (!katexLoaded) {
      katexLoaded = typeof window.renderMathInElement === "function"
        ? Promise.resolve()
        : KATEX_SOURCES.reduce(function (loaded, src) {
          return loaded.then(function () { return loadScript(src); });
        }, Promise.resolve());
    }
    return katexLoaded;
  }
  // "$", "\(" or "\[": where auto-render's delimiters start; an element without one has no formula.
  var MAY_HOLD_MATH = /\$|\\\(|\\\[/;
  var queue = [];
  var scheduled = false;

  function typeset(element) {
    element.setAttribute("data-tex", "done");
    renderElement(element);
  }

  var nextIdle = window.requestIdleCallback
    ? function (work) { window.requestIdleCallback(work, { timeout: 200 }); }
    : function (work) { window.setTimeout(work, 1); };

  function typesetQueued() {
    scheduled = false;
    var started = performance.now();
    while (queue.length > 0 && performance.now() - started < SLICE_MS) {
      var element = queue.shift();
      if (element.isConnected && element.getAttribute("data-tex") === "pending") {
        typeset(element);
      }
    }
    if (queue.length > 0) {
      schedule();
    }
  }

  // Without KaTeX (its files could not be loaded) the formulas stay as their text.
  function giveUp() {
    queue.forEach(function (element) { element.setAttribute("data-tex", "done"); });
    queue = [];
  }

  function schedule() {
    if (!scheduled) {
      scheduled = true;
      loadKatex().then(function () { nextIdle(typesetQueued); }, giveUp);
    }
  }

  function enqueue(element) {
    element.setAttribute("data-tex", "pending");
    queue.push(element);
    schedule();
  }

  var nearScreen = window.IntersectionObserver
    ? new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (entry.isIntersecting) {
          nearScreen.unobserve(entry.target);
          enqueue(entry.target);
        } else {
          entry.target.setAttribute("data-tex", "offscreen");
        }
      });
    }, { rootMargin: "50% 0px" })
    : null;

  function texElements(root) {
    var found = Array.prototype.slice.call(root.querySelectorAll(".tex:not([data-tex])"));
    if (root.matches && root.matches(".tex:not([data-tex])")) {
      found.unshift(root);
    }
    return found;
  }

  function lookAt(root) {
    texElements(root).forEach(function (element) {
      var text = element.textContent;
      if (text.length > MAX_TEX_CHARS) {
        element.setAttribute("data-tex", "done");
        element.title = "Shown as plain text: too long to typeset its LaTeX";
      } else if (!MAY_HOLD_MATH.test(text)) {
        element.setAttribute("data-tex", "done");
      } else if (nearScreen) {
        element.setAttribute("data-tex", "pending");  // until the observer says where it is
        nearScreen.observe(element);
      } else {
        enqueue(element);
      }
    });
  }

  // A promise, resolved once every formula of the page is typeset.
  function typesetAll() {
    return loadKatex().then(function () {
      document.querySelectorAll(".tex[data-tex=offscreen], .tex[data-tex=pending]").forEach(function (element) {
        if (nearScreen) {
          nearScreen.unobserve(element);
        }
        typeset(element);
      });
    });
  }

  window.thinkscopeTex = { render: renderElement, typesetAll: typesetAll };

  document.addEventListener("DOMContentLoaded", function () {
    lookAt(document.body);
  });
  document.addEventListener("htmx:load", function (event) {
    lookAt(event.target);
  });
  window.addEventListener("beforeprint", typesetAll);
})();
