// Side-by-side comparison (issue 6 item 4; templates/traces/compare.html).
//
// Synchronized scrolling: each column ([data-compare-column]) scrolls on its own. Its cells carry
// data-row="<aligned row>", the same row numbers in every column, but a row is as tall as its
// step's text, so it sits at a different height in each column. When a person scrolls one column,
// the row at its top edge and how far into it the edge is are read, and every other column is
// scrolled to show the same row at the same fraction. Scroll events that this file caused are
// recognised by the position it set, so columns never chase each other.
//
// Keys (not while typing in a field):
//   j / k   scroll every column to the next / previous aligned row
//   s       scroll every column to the t* row (the button [data-jump-row])
//   a/b/t   press the preference button with data-choice-key="a" / "b" / "t" (htmx saves it)
//   Esc     in a field (the reason), leave it so that the keys above work again
//
// No inline handlers: the page works under a Content-Security-Policy without 'unsafe-inline'.
(function () {
  "use strict";

  var CURRENT_ROW = "is-current-row";
  var expected = new Map(); // column -> the scrollTop this file set and whose scroll event is pending

  function columns() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-compare-column]"));
  }

  function rowsOf(column) {
    return column.querySelectorAll(":scope > [data-row]");
  }

  // The aligned row at the top edge of the column, and how far (0..1) the edge is into it.
  function positionOf(column) {
    var rows = rowsOf(column);
    var top = column.scrollTop;
    var low = 0;
    var high = rows.length - 1;
    if (high < 0) {
      return null;
    }
    while (low < high) {
      var middle = (low + high + 1) >> 1;
      if (rows[middle].offsetTop <= top + 0.5) {
        low = middle;
      } else {
        high = middle - 1;
      }
    }
    var row = rows[low];
    var fraction = row.offsetHeight ? Math.min(1, Math.max(0, (top - row.offsetTop) / row.offsetHeight)) : 0;
    return { row: low, fraction: fraction };
  }

  function scrollColumnTo(column, position) {
    var rows = rowsOf(column);
    var row = rows[Math.min(position.row, rows.length - 1)];
    if (!row) {
      return;
    }
    var limit = column.scrollHeight - column.clientHeight;
    var target = Math.round(Math.max(0, Math.min(limit, row.offsetTop + position.fraction * row.offsetHeight)));
    if (Math.abs(column.scrollTop - target) < 1) {
      return; // no scroll event will come
    }
    expected.set(column, target);
    column.scrollTop = target;
  }

  function markCurrentRow(row) {
    document.querySelectorAll("." + CURRENT_ROW).forEach(function (cell) {
      cell.classList.remove(CURRENT_ROW);
    });
    document.querySelectorAll('[data-compare-column] > [data-row="' + row + '"]').forEach(function (cell) {
      cell.classList.add(CURRENT_ROW);
    });
  }

  function follow(leader) {
    var position = positionOf(leader);
    if (!position) {
      return;
    }
    columns().forEach(function (column) {
      if (column !== leader) {
        scrollColumnTo(column, position);
      }
    });
  }

  function onScroll(event) {
    var column = event.currentTarget;
    if (expected.has(column)) {
      var target = expected.get(column);
      expected.delete(column);
      if (Math.abs(column.scrollTop - target) <= 1) {
        return; // the echo of a scroll this file made
      }
    }
    follow(column);
  }

  function scrollAllToRow(row) {
    var position = { row: row, fraction: 0 };
    columns().forEach(function (column) {
      scrollColumnTo(column, position);
    });
    markCurrentRow(row);
  }

  function stepRows(delta) {
    var all = columns();
    if (all.length === 0) {
      return;
    }
    var position = positionOf(all[0]);
    if (!position) {
      return;
    }
    var last = rowsOf(all[0]).length - 1;
    var next = delta > 0 || position.fraction > 0.01 ? position.row + (delta > 0 ? 1 : 0) : position.row - 1;
    scrollAllToRow(Math.max(0, Math.min(last, next)));
  }

  function jumpToAnchor() {
    var button = document.querySelector("[data-jump-row]");
    if (button) {
      scrollAllToRow(parseInt(button.getAttribute("data-jump-row"), 10));
    }
  }

  function isTyping(event) {
    var target = event.target;
    return (
      target instanceof HTMLElement &&
      (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))
    );
  }

  function choose(key) {
    var button = document.querySelector('[data-choice-key="' + key + '"]');
    if (button && !button.disabled) {
      button.click();
    }
  }

  var KEYS = {
    j: function () { stepRows(1); },
    k: function () { stepRows(-1); },
    s: jumpToAnchor,
    a: function () { choose("a"); },
    b: function () { choose("b"); },
    t: function () { choose("t"); },
  };

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && isTyping(event)) {
      event.target.blur();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || isTyping(event)) {
      return;
    }
    var action = KEYS[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
  });

  document.addEventListener("click", function (event) {
    var jump = event.target instanceof Element && event.target.closest("[data-jump-row]");
    if (jump) {
      jumpToAnchor();
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    columns().forEach(function (column) {
      column.addEventListener("scroll", onScroll, { passive: true });
    });
  });
})();
