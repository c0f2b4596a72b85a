// Keyboard shortcuts of the trace viewer (docs/concepts.md §4: keyboard-first).
//
//   j / k   focus the next / previous visible step
//   t       collapse or expand the thinking (<details id="think">)
//   c       cycle the type of mark shown: all types, then each type of the legend in turn
//   m       show or hide the analysis marks in the text (the class "marks-hidden" on <body>)
//   ?       show or hide the shortcut help (<dialog id="shortcut-help">)
//
// Buttons with data-open-dialog="<id>" open that dialog; a button with data-toggle-marks does what m
// does and shows the state in aria-pressed.
//
// The legend's buttons (data-mark-type) pick one type of mark to show beside t* and the shading
// after it: <body data-marks-only="<type>"> (the stylesheet hides the other types), "all" removes
// it. The choice is kept per page in localStorage. Without one, a trace whose marks would cover
// more than DENSE_SHARE of its shown text starts with loops only, and a note says why.
// No inline handlers: this file is loaded
// from static files so the page works under a Content-Security-Policy without 'unsafe-inline'.
(function () {
  "use strict";

  var CURRENT = "is-current";
  var MARKS_HIDDEN = "marks-hidden";
  var ALL_TYPES = "all";
  var DENSE_SHARE = 0.3;
  var DENSE_DEFAULT = "loop";
  var KEY_READING = /(^|\s)mark-(t-star|after-t-star)(\s|$)/;
  var STORED_TYPE = "thinkscope.marks-only:" + window.location.pathname;

  function isTyping(event) {
    var target = event.target;
    return (
      target instanceof HTMLElement &&
      (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))
    );
  }

  function visibleSteps() {
    return Array.prototype.filter.call(document.querySelectorAll("[data-step]"), function (step) {
      return step.getClientRects().length > 0;
    });
  }

  function currentIndex(steps) {
    var current = document.querySelector("[data-step]." + CURRENT);
    return steps.indexOf(current);
  }

  function focusStep(step) {
    document.querySelectorAll("[data-step]." + CURRENT).forEach(function (other) {
      other.classList.remove(CURRENT);
    });
    step.classList.add(CURRENT);
    step.focus({ preventScroll: true });
    step.scrollIntoView({ block: "nearest" });
  }

  function moveStep(delta) {
    var steps = visibleSteps();
    if (steps.length === 0) {
      return;
    }
    var index = currentIndex(steps);
    var next = index === -1 ? (delta > 0 ? 0 : steps.length - 1) : index + delta;
    focusStep(steps[Math.max(0, Math.min(steps.length - 1, next))]);
  }

  function toggleThink() {
    var think = document.getElementById("think");
    if (think) {
      think.open = !think.open;
    }
  }

  function toggleMarks() {
    var hidden = document.body.classList.toggle(MARKS_HIDDEN);
    document.querySelectorAll("[data-toggle-marks]").forEach(function (button) {
      button.setAttribute("aria-pressed", hidden ? "false" : "true");
    });
  }

  function markTypeButtons() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-mark-type]"));
  }

  function readStoredType() {
    try {
      return window.localStorage.getItem(STORED_TYPE);
    } catch (error) {
      return null;
    }
  }

  function storeType(type) {
    try {
      window.localStorage.setItem(STORED_TYPE, type);
    } catch (error) {
      // Storage refused (private mode, quota): the choice lasts until the page is left.
    }
  }

  function showMarkType(type) {
    if (type === ALL_TYPES) {
      document.body.removeAttribute("data-marks-only");
    } else {
      document.body.setAttribute("data-marks-only", type);
    }
    markTypeButtons().forEach(function (button) {
      button.setAttribute("aria-pressed", button.getAttribute("data-mark-type") === type ? "true" : "false");
    });
  }

  function pickMarkType(type) {
    storeType(type);
    showMarkType(type);
    var note = document.querySelector("[data-marks-note]");
    if (note) {
      note.hidden = true;
    }
  }

  function cycleMarkType() {
    var types = markTypeButtons().map(function (button) {
      return button.getAttribute("data-mark-type");
    });
    if (types.length === 0) {
      return;
    }
    var current = document.body.getAttribute("data-marks-only") || ALL_TYPES;
    pickMarkType(types[(types.indexOf(current) + 1) % types.length]);
  }

  // The share of the shown step text that marks other than t* and its shading cover.
  function markedShare() {
    var total = 0;
    document.querySelectorAll(".part .step-text, .part .part-text").forEach(function (text) {
      total += text.textContent.length;
    });
    var marked = 0;
    document.querySelectorAll(".part .mark").forEach(function (mark) {
      if (mark.className.replace(KEY_READING, " ").trim() !== "mark") {
        marked += mark.textContent.length;
      }
    });
    return total === 0 ? 0 : marked / total;
  }

  // The most frequent type of the legend, by its count, for the note that explains the default.
  function busiestType() {
    return markTypeButtons().reduce(function (best, button) {
      var count = Number(button.getAttribute("data-mark-count") || 0);
      return best && best.count >= count ? best : { count: count, name: button.getAttribute("data-mark-name") };
    }, null);
  }

  function explainDenseDefault() {
    var note = document.querySelector("[data-marks-note]");
    var busiest = busiestType();
    if (!note || !busiest) {
      return;
    }
    note.textContent =
      "Showing loops only: " + busiest.count.toLocaleString("en-US") + " “" + busiest.name +
      "” marks would cover most of the text — pick a type above.";
    note.hidden = false;
  }

  function initialMarkType() {
    if (markTypeButtons().length === 0) {
      return;
    }
    var stored = readStoredType();
    if (stored) {
      showMarkType(stored);
    } else if (markedShare() > DENSE_SHARE) {
      showMarkType(DENSE_DEFAULT);
      explainDenseDefault();
    } else {
      showMarkType(ALL_TYPES);
    }
  }

  function toggleDialog(id) {
    var dialog = document.getElementById(id);
    if (!dialog) {
      return;
    }
    if (dialog.open) {
      dialog.close();
    } else {
      dialog.showModal();
    }
  }

  var KEYS = {
    j: function () { moveStep(1); },
    k: function () { moveStep(-1); },
    t: toggleThink,
    c: cycleMarkType,
    m: toggleMarks,
    "?": function () { toggleDialog("shortcut-help"); },
  };

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || isTyping(event)) {
      return;
    }
    var action = KEYS[event.key];
    var helpOpen = document.querySelector("dialog[open]") !== null;
    if (action && (!helpOpen || event.key === "?")) {
      event.preventDefault();
      action();
    }
  });

  document.addEventListener("click", function (event) {
    var opener = event.target instanceof Element && event.target.closest("[data-open-dialog]");
    if (opener) {
      toggleDialog(opener.getAttribute("data-open-dialog"));
    }
    if (event.target instanceof Element && event.target.closest("[data-toggle-marks]")) {
      toggleMarks();
    }
    var typeButton = event.target instanceof Element && event.target.closest("[data-mark-type]");
    if (typeButton) {
      pickMarkType(typeButton.getAttribute("data-mark-type"));
    }
    var step = event.target instanceof Element && event.target.closest("[data-step]");
    var selecting = window.getSelection().toString() !== "";
    if (step && !selecting && !event.target.closest("a, summary, button")) {
      focusStep(step);
    }
  });

  initialMarkType();
})();
