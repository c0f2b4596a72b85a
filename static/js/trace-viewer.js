// Keyboard shortcuts of the trace viewer (SPEC §4: keyboard-first).
//
//   j / k   focus the next / previous visible step
//   t       collapse or expand the thinking (<details id="think">)
//   m       show or hide the analysis marks in the text (the class "marks-hidden" on <body>)
//   ?       show or hide the shortcut help (<dialog id="shortcut-help">)
//
// Buttons with data-open-dialog="<id>" open that dialog; a button with data-toggle-marks does what m
// does and shows the state in aria-pressed. No inline handlers: this file is loaded
// from static files so the page works under a Content-Security-Policy without 'unsafe-inline'.
(function () {
  "use strict";

  var CURRENT = "is-current";
  var MARKS_HIDDEN = "marks-hidden";

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
    var step = event.target instanceof Element && event.target.closest("[data-step]");
    var selecting = window.getSelection().toString() !== "";
    if (step && !selecting && !event.target.closest("a, summary, button")) {
      focusStep(step);
    }
  });
})();
