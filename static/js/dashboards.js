// Dashboards: draw every chart of data.json with Chart.js, with its legend as a list
// under the plot, write its numbers as a table under it, link its CSV, and open the trace list
// filtered to a bar or point on click.
// No inline script: the page gives the URLs in data-* attributes of #dashboard.
(function () {
  "use strict";

  // 20 colours at least 27 CIELAB units apart from each other, none too pale on white: a dashboard
  // compares at most 20 models, each keeping its colour in every chart (data.series gives the order).
  var PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#f032e6", "#a6761d", "#637939", "#fb9a99", "#dcbeff", "#1b9e77", "#911eb4", "#393b79", "#800000", "#e6ab02"
  ];

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function columnOf(chart, key) {
    return chart.columns.find(function (c) { return c.key === key; }) || { key: key, percent: false };
  }

  function format(value, column) {
    if (value === null || value === undefined || value === "") return "—";
    if (typeof value !== "number") return String(value);
    if (column.percent) return (value * 100).toFixed(1) + "%";
    if (Number.isInteger(value) || Math.abs(value) >= 100) return Math.round(value).toLocaleString("en");
    return value.toFixed(3);
  }

  function uniq(values) {
    var seen = [];
    values.forEach(function (v) { if (seen.indexOf(v) < 0) seen.push(v); });
    return seen;
  }

  // Whiskers of a 95% CI from the rows' low/high columns (Chart.js has no error bars of its own).
  var errorBars = {
    id: "errorBars",
    afterDatasetsDraw: function (chart) {
      var spec = chart.options.plugins.errorBars;
      if (!spec || !spec.enabled) return;
      var ctx = chart.ctx;
      var yScale = chart.scales.y;
      ctx.save();
      ctx.strokeStyle = "#222";
      ctx.lineWidth = 1.2;
      chart.data.datasets.forEach(function (dataset, d) {
        var meta = chart.getDatasetMeta(d);
        if (meta.hidden) return;
        meta.data.forEach(function (element, i) {
          var bounds = dataset.bounds[i];
          if (!bounds || bounds[0] === null || bounds[1] === null) return;
          var x = element.x, top = yScale.getPixelForValue(bounds[1]), bottom = yScale.getPixelForValue(bounds[0]);
          ctx.beginPath();
          ctx.moveTo(x, top); ctx.lineTo(x, bottom);
          ctx.moveTo(x - 4, top); ctx.lineTo(x + 4, top);
          ctx.moveTo(x - 4, bottom); ctx.lineTo(x + 4, bottom);
          ctx.stroke();
        });
      });
      ctx.restore();
    }
  };

  // The colour of a series: its place in the dashboard's series order, else in the chart's own.
  function colorOf(group, g, order) {
    var i = order.indexOf(String(group));
    return PALETTE[(i >= 0 ? i : g) % PALETTE.length];
  }

  // Whole-number ticks on an axis of counts (a non-percent column whose values are all integers).
  function isCountAxis(chart, column) {
    return !column.percent && chart.rows.every(function (r) {
      var v = r[column.key];
      return v === null || v === undefined || Number.isInteger(v);
    });
  }

  function chartConfig(chart, traceList, order) {
    var labels = uniq(chart.rows.map(function (r) { return r[chart.x]; }));
    var groups = chart.series ? uniq(chart.rows.map(function (r) { return r[chart.series]; })) : [chart.title];
    var yColumn = columnOf(chart, chart.y);
    var datasets = groups.map(function (group, g) {
      var rowIndex = labels.map(function (x) {
        return chart.rows.findIndex(function (r) { return r[chart.x] === x && (!chart.series || r[chart.series] === group); });
      });
      // A chart of one value per model colours each bar as the model's series elsewhere.
      var color = chart.series ? colorOf(group, g, order)
        : chart.x === "model" ? labels.map(function (name, i) { return colorOf(name, i, order); }) : PALETTE[0];
      return {
        label: String(group),
        data: rowIndex.map(function (i) { return i < 0 ? null : chart.rows[i][chart.y]; }),
        bounds: rowIndex.map(function (i) {
          return i < 0 || !chart.low ? null : [chart.rows[i][chart.low], chart.rows[i][chart.high]];
        }),
        rowIndex: rowIndex,
        backgroundColor: color,
        borderColor: color,
        spanGaps: true,
        pointRadius: 3
      };
    });
    return {
      type: chart.kind,
      data: { labels: labels.map(String), datasets: datasets },
      plugins: [errorBars],
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: {
          // A line over a single period sits in the middle of the plot, not on its left edge.
          x: { offset: chart.kind === "bar" || labels.length === 1, title: { display: !!chart.x_label, text: chart.x_label } },
          y: {
            beginAtZero: true,
            max: chart.y_max === null ? undefined : chart.y_max,
            title: { display: !!chart.y_label, text: chart.y_label },
            ticks: { precision: isCountAxis(chart, yColumn) ? 0 : undefined, callback: function (v) { return format(v, yColumn); } }
          }
        },
        plugins: {
          legend: { display: false }, // drawn outside the plot by legend()
          errorBars: { enabled: !!chart.low },
          tooltip: { callbacks: { label: function (item) {
            return item.dataset.label + ": " + format(item.raw, yColumn);
          } } }
        },
        onHover: function (event, elements) {
          var clickable = elements.length && linkOf(chart, elements[0], this);
          event.native.target.style.cursor = clickable ? "pointer" : "default";
        },
        onClick: function (event, elements) {
          if (!elements.length) return;
          var link = linkOf(chart, elements[0], this);
          if (link) window.location.assign(traceList + "?" + link);
        }
      }
    };
  }

  function linkOf(chart, element, instance) {
    var row = instance.data.datasets[element.datasetIndex].rowIndex[element.index];
    return row >= 0 ? chart.links[row] : null;
  }

  // The chart's legend as a list under the plot: one button per series, pressing it hides or shows it.
  function legend(chartConfig) {
    var list = el("ul", { class: "chart-legend", "aria-label": "Legend" });
    chartConfig.data.datasets.forEach(function (dataset, d) {
      var button = el("button", { type: "button", "aria-pressed": "true", "data-dataset": String(d), title: dataset.label });
      var swatch = button.appendChild(el("span", { class: "swatch", "aria-hidden": "true" }));
      swatch.style.backgroundColor = dataset.backgroundColor;
      button.appendChild(el("span", { class: "legend-name" }, dataset.label));
      list.appendChild(el("li")).appendChild(button);
    });
    return list;
  }

  function toggleSeries(event) {
    var button = event.target instanceof Element && event.target.closest(".chart-legend button");
    if (!button) return;
    var canvas = button.closest(".chart-card").querySelector("canvas");
    var instance = window.Chart.getChart(canvas);
    var d = parseInt(button.dataset.dataset, 10);
    var visible = instance.isDatasetVisible(d);
    instance.setDatasetVisibility(d, !visible);
    instance.update();
    button.setAttribute("aria-pressed", visible ? "false" : "true");
  }

  function table(chart, traceList) {
    var t = el("table", { class: "table", "data-chart": chart.id });
    var head = el("tr");
    chart.columns.forEach(function (c) {
      var numeric = chart.rows.some(function (r) { return typeof r[c.key] === "number"; });
      head.appendChild(el("th", { scope: "col", class: numeric ? "num" : "" }, c.label));
    });
    if (chart.links.some(Boolean)) head.appendChild(el("th", { scope: "col" }, "Traces"));
    t.appendChild(el("thead")).appendChild(head);
    var body = t.appendChild(el("tbody"));
    chart.rows.forEach(function (row, i) {
      var tr = body.appendChild(el("tr"));
      chart.columns.forEach(function (c) {
        var value = row[c.key];
        var cell = el("td", { class: typeof value === "number" ? "num" : "", "data-key": c.key }, format(value, c));
        if (typeof value === "string" && chart.keys[value]) cell.setAttribute("title", chart.keys[value]);
        tr.appendChild(cell);
      });
      if (chart.links.some(Boolean)) {
        var cell = tr.appendChild(el("td"));
        if (chart.links[i]) cell.appendChild(el("a", { href: traceList + "?" + chart.links[i] }, "open"));
      }
    });
    return t;
  }

  function card(chart, root, order) {
    var traceList = root.dataset.traceList;
    var section = el("section", { class: "card chart-card" + (chart.kind === "table" ? " wide" : ""), id: "chart-" + chart.id });
    section.appendChild(el("h2", {}, chart.title));
    if (chart.note) section.appendChild(el("p", { class: "muted chart-note" }, chart.note));
    if (!chart.rows.length) {
      section.appendChild(el("p", { class: "empty" }, "No data for this chart under these filters."));
      return section;
    }
    if (chart.kind !== "table") {
      var box = section.appendChild(el("div", { class: "chart-box" }));
      var canvas = box.appendChild(el("canvas", { role: "img", "aria-label": chart.title }));
      var config = chartConfig(chart, traceList, order);
      section.chartConfig = [canvas, config];
      if (chart.series) section.appendChild(legend(config));
    }
    var details = section.appendChild(el("details", chart.kind === "table" || chart.rows.length <= 12 ? { open: "" } : {}));
    var rowCount = chart.rows.length;
    details.appendChild(el("summary", {}, "Numbers (" + rowCount + (rowCount === 1 ? " row)" : " rows)")));
    details.appendChild(el("div", { class: "table-wrap" })).appendChild(table(chart, traceList));
    var query = root.dataset.query;
    var csv = root.dataset.csv + "?" + (query ? query + "&" : "") + "chart=" + encodeURIComponent(chart.id);
    var actions = section.appendChild(el("div", { class: "chart-actions" }));
    actions.appendChild(el("a", { href: csv, download: "" }, "Download CSV"));
    if (chart.links.some(Boolean)) actions.appendChild(el("span", { class: "muted" }, "Click a bar or point to open its traces."));
    return section;
  }

  function render(root, data) {
    root.textContent = "";
    root.setAttribute("aria-busy", "false");
    if (data.empty) {
      root.appendChild(el("p", { class: "empty", id: "dashboard-empty" }, data.empty));
      return;
    }
    if (data.note) root.appendChild(el("p", { class: "dashboard-note", id: "dashboard-note" }, data.note));
    data.charts.forEach(function (chart) {
      var section = root.appendChild(card(chart, root, data.series || []));
      if (section.chartConfig) new window.Chart(section.chartConfig[0], section.chartConfig[1]);
    });
    root.dataset.ready = "true";
  }

  function load() {
    var root = document.getElementById("dashboard");
    if (!root) return;
    fetch(root.dataset.src, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error(JSON.stringify(body.errors || body));
          return body;
        });
      })
      .then(function (data) { render(root, data); })
      .catch(function (error) {
        root.textContent = "";
        root.appendChild(el("p", { class: "form-errors", role: "alert" }, "Could not load the dashboard: " + error.message));
      });
  }

  document.addEventListener("DOMContentLoaded", load);
  document.addEventListener("click", toggleSeries);
})();
