// Keyboard-first step labeling (docs/concepts.md §1 Label, §2 ProcessBench first error).
//
//   j / ↓, k / ↑   move to the next / previous step (the current step is highlighted)
//   1 / 2 / 3      rate the current step −1 / 0 / +1, then move on
//   f              flag or unflag the current step
//   a              accept the step's best automatic suggestion, then move on
//   e              first-error mode: this step is the first error
//   E (shift+e)    no error: every step +1
//   u              undo your last change of this trace
//   n              go to the next trace you have not labeled; in a queue (?queue=<id>), submit
//                  this item and go to your next item of the queue
//   ?              show or hide the help
//
// Each key that changes labels is one htmx POST (the CSRF header comes from base.html's
// hx-headers); the answer swaps the status line, which brings the label cells that changed in a
// hidden holder: each is moved into its step (600 cells of first-error mode take milliseconds).
// Requests go one at a time, in key order, so that a quick "3 3 u" saves in that order.
// Steps the page does not show yet sit behind rows that load them (traces/views/windows.py): keys
// move over the steps on the page, which are collected again after each such load.
// Buttons with data-label-key="<key>" do what the key does. The current step is kept in the
// address (#step-N) once moving stops, so a refresh comes back to it. No inline handlers (the
// CSP forbids them).
(function () {
  "use strict";

  var root = document.getElementById("labeling");
  if (!root) {
    return;
  }
  var steps = [];
  var stepById = {};
  var status = document.getElementById("label-status");
  var help = document.getElementById("label-help");
  var position = -1;
  var queue = Promise.resolve();
  var pending = 0;

  function isTyping(event) {
    var target = event.target;
    return (
      target instanceof HTMLElement &&
      (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))
    );
  }

  function select(index) {
    if (steps.length === 0) {
      return;
    }
    index = Math.max(0, Math.min(steps.length - 1, index));
    if (position >= 0) {
      steps[position].classList.remove("is-current");
      steps[position].removeAttribute("aria-current");
    }
    position = index;
    var step = steps[position];
    step.classList.add("is-current");
    step.setAttribute("aria-current", "step");
    step.focus({ preventScroll: true });
    step.scrollIntoView({ block: "nearest" });
    rememberStep(step);
  }

  // Keep the current step in the address once the moving stops (browsers throttle history updates).
  var addressTimer = null;
  function rememberStep(step) {
    clearTimeout(addressTimer);
    addressTimer = setTimeout(function () { history.replaceState(null, "", "#" + step.id); }, 250);
  }

  // The steps on the page, in order: rows of hidden steps load more of them (step-windows.js).
  function collectSteps() {
    var current = steps[position];
    steps = Array.prototype.slice.call(root.querySelectorAll("[data-label-step]"));
    stepById = {};
    steps.forEach(function (step) { stepById[step.getAttribute("data-step-id")] = step; });
    position = current ? steps.indexOf(current) : -1;
  }

  function isRated(step) {
    var cell = document.getElementById("my-label-" + step.getAttribute("data-step-id"));
    return cell !== null && cell.getAttribute("data-value") !== "";
  }

  function startIndex() {
    var fromAddress = /^#step-\d+$/.test(window.location.hash) && document.getElementById(window.location.hash.slice(1));
    if (fromAddress && steps.indexOf(fromAddress) !== -1) {
      return steps.indexOf(fromAddress);
    }
    var firstUnrated = steps.findIndex(function (step) { return !isRated(step); });
    return firstUnrated === -1 ? 0 : firstUnrated;
  }

  function showError(text) {
    status.textContent = "";
    var message = document.createElement("span");
    message.className = "label-status-error";
    message.textContent = text;
    status.appendChild(message);
  }

  // Move the changed cells of the last answer from their holder into their steps.
  function placeChangedCells() {
    var holder = status.querySelector("[data-label-cells]");
    if (!holder) {
      return;
    }
    Array.prototype.slice.call(holder.children).forEach(function (cell) {
      var step = stepById[cell.id.replace("my-label-", "")];
      var old = step && step.querySelector(".my-label");
      if (old) {
        old.replaceWith(cell);
      }
    });
    holder.remove();
  }

  // The steps on the page as ranges of step numbers ("1-4,2187-2336"): an answer brings the
  // changed cells of these steps only; steps loaded later come with their labels.
  function shownRanges() {
    var ranges = [];
    steps.forEach(function (step) {
      var number = parseInt(step.id.replace("step-", ""), 10);
      var last = ranges[ranges.length - 1];
      if (last && last[1] === number - 1) {
        last[1] = number;
      } else {
        ranges.push([number, number]);
      }
    });
    return ranges.map(function (range) { return range[0] + "-" + range[1]; }).join(",");
  }

  // One request at a time, in the order of the keys.
  function post(url, values) {
    values.shown = shownRanges();
    pending += 1;
    queue = queue.then(function () {
      return htmx.ajax("POST", url, { source: root, target: "#label-status", swap: "innerHTML", values: values });
    }).then(placeChangedCells, function () {
      showError("Not saved: the server could not be reached. Press the key again.");
    }).then(function () {
      pending -= 1;
      root.toggleAttribute("data-saving", pending > 0);
    });
    root.toggleAttribute("data-saving", true);
  }

  function onStep(action, values) {
    var step = steps[position];
    if (!step) {
      return;
    }
    values = values || {};
    values.action = action;
    values.step = step.getAttribute("data-step-id");
    if (root.hasAttribute("data-queue")) {
      values.queue = root.getAttribute("data-queue");  // the queue's gold labels are no suggestions
    }
    post(root.getAttribute("data-step-url"), values);
  }

  function rate(value) {
    return function () {
      onStep("rate", { value: value });
      select(position + 1);
    };
  }

  function accept() {
    var step = steps[position];
    onStep("accept");
    if (step && step.hasAttribute("data-suggestion")) {
      select(position + 1);
    }
  }

  // Once every label is saved: in a queue, submit the item (a POST form); else the next trace.
  function nextTrace() {
    var queueForm = document.getElementById("queue-next-form");
    if (queueForm) {
      queue.then(function () { queueForm.submit(); });
      return;
    }
    var url = root.getAttribute("data-next-url");
    queue.then(function () { window.location.assign(url); });
  }

  function toggleHelp() {
    if (help.open) {
      help.close();
    } else {
      help.showModal();
    }
  }

  var KEYS = {
    j: function () { select(position + 1); },
    ArrowDown: function () { select(position + 1); },
    k: function () { select(position - 1); },
    ArrowUp: function () { select(position - 1); },
    1: rate(-1),
    2: rate(0),
    3: rate(1),
    f: function () { onStep("flag"); },
    a: accept,
    e: function () { onStep("first_error"); },
    E: function () { post(root.getAttribute("data-step-url"), { action: "no_error" }); },
    u: function () { post(root.getAttribute("data-undo-url"), {}); },
    n: nextTrace,
    "?": toggleHelp,
  };

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (isTyping(event)) {
      if (event.key === "Escape") {
        event.target.blur();
      }
      return;
    }
    var action = KEYS[event.key];
    if (action && (!help.open || event.key === "?")) {
      event.preventDefault();
      action();
    }
  });

  document.addEventListener("click", function (event) {
    if (!(event.target instanceof Element)) {
      return;
    }
    var button = event.target.closest("[data-label-key]");
    if (button) {
      KEYS[button.getAttribute("data-label-key")]();
      return;
    }
    var next = event.target.closest("[data-next-link]");
    if (next) {
      event.preventDefault();
      nextTrace();
      return;
    }
    var step = event.target.closest("[data-label-step]");
    if (step && window.getSelection().toString() === "" && !event.target.closest("a, summary, button")) {
      select(steps.indexOf(step));
    }
  });

  document.body.addEventListener("htmx:responseError", function (event) {
    if (event.detail.elt === root) {
      var xhr = event.detail.xhr;
      showError("Not saved (" + xhr.status + "): " + (xhr.responseText || xhr.statusText));
    }
  });

  document.body.addEventListener("htmx:afterSettle", collectSteps);

  collectSteps();
  select(startIndex());
})();
