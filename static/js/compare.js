// Side-by-side comparison (templates/traces/compare.html).
//
// Synchronized scrolling: each column ([data-compare-column]) scrolls on its own. Its cells carry
// data-rows="<first>-<last>", the aligned rows they cover (the same row numbers in every column):
// a step covers one row; a row of steps not shown yet (a loop's collapsed repeats, the steps past
// the page's window) and the gap above a column's first step cover several. A cell is as tall as
// its content, so a row sits at a different height in each column. When a person scrolls one
// column, the aligned row at its top edge is read as a number with a fraction (how far the edge is
// into its cell, spread over the rows the cell covers), and every other column is scrolled to show
// that row at that fraction. Scroll events that this file caused are recognised by the position
// it set, so columns never chase each other. Cells loaded in place of a hidden row carry their
// own rows, so the scrolling keeps working after a load.
//
// Keys (not while typing in a field):
//   j / k   scroll every column to the next / previous aligned row (past a block all have collapsed)
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

  function cellsOf(column) {
    return column.querySelectorAll(":scope > [data-rows]");
  }

  function rowsOf(cell) {
    var rows = cell.getAttribute("data-rows").split("-");
    return { first: parseInt(rows[0], 10), last: parseInt(rows[1], 10) };
  }

  // The index of the last of ``cells`` for which ``before(cell)`` holds (they hold in page order), else 0.
  function lastWhere(cells, before) {
    var low = 0;
    var high = cells.length - 1;
    while (low < high) {
      var middle = (low + high + 1) >> 1;
      if (before(cells[middle])) {
        low = middle;
      } else {
        high = middle - 1;
      }
    }
    return low;
  }

  // The cell at the top edge of the column, and the aligned row there (with its fraction).
  function positionOf(column) {
    var cells = cellsOf(column);
    if (cells.length === 0) {
      return null;
    }
    var top = column.scrollTop;
    var index = lastWhere(cells, function (cell) { return cell.offsetTop <= top + 0.5; });
    var cell = cells[index];
    var rows = rowsOf(cell);
    var into = cell.offsetHeight ? Math.min(1, Math.max(0, (top - cell.offsetTop) / cell.offsetHeight)) : 0;
    var span = rows.last - rows.first + 1;
    return { row: rows.first + into * span, span: span };
  }

  function scrollColumnTo(column, row) {
    var cells = cellsOf(column);
    if (cells.length === 0) {
      return;
    }
    var cell = cells[lastWhere(cells, function (each) { return rowsOf(each).first <= row; })];
    var rows = rowsOf(cell);
    var into = Math.min(1, Math.max(0, (row - rows.first) / (rows.last - rows.first + 1)));
    var limit = column.scrollHeight - column.clientHeight;
    var target = Math.round(Math.max(0, Math.min(limit, cell.offsetTop + into * cell.offsetHeight)));
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
    document.querySelectorAll("[data-compare-column] > [data-rows]").forEach(function (cell) {
      var rows = rowsOf(cell);
      if (rows.first <= row && row <= rows.last) {
        cell.classList.add(CURRENT_ROW);
      }
    });
  }

  function follow(leader) {
    var position = positionOf(leader);
    if (!position) {
      return;
    }
    columns().forEach(function (column) {
      if (column !== leader) {
        scrollColumnTo(column, position.row);
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
    columns().forEach(function (column) {
      scrollColumnTo(column, row);
    });
    markCurrentRow(row);
  }

  // To the next (previous) row where a cell of any column begins: one aligned row on, or past a
  // block that every column has collapsed. The current row is read from the column whose top cell
  // covers the fewest rows (a gap of many rows locates it only to a pixel's worth of rows).
  function stepRows(delta) {
    var all = columns();
    var position = all.map(positionOf).filter(Boolean).reduce(function (best, each) {
      return best === null || each.span < best.span ? each : best;
    }, null);
    if (!position) {
      return;
    }
    var starts = [];
    all.forEach(function (column) {
      cellsOf(column).forEach(function (cell) { starts.push(rowsOf(cell).first); });
    });
    var ahead = starts.filter(function (first) { return first > position.row + 0.01; });
    var behind = starts.filter(function (first) { return first < position.row - 0.01; });
    var target = delta > 0 ? Math.min.apply(null, ahead) : Math.max.apply(null, behind);
    if (isFinite(target)) {
      scrollAllToRow(target);
    }
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
