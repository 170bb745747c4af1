/* mlstack pages: draw the charts with uPlot (static/vendor/, pinned; see infra/ui/).
 *
 * The page embeds every chart's data as JSON (#mlstack-chart-data, decided by
 * mlstack.ui.charts) and marks where each goes (<figure data-chart="id"><div class="plot">).
 * Per chart: the champion's line, the challenger's, the alert threshold and the retrain bar
 * (dashed), the alert days as red points; a time axis in UTC days, hover values in the
 * legend, drag across to zoom into days (double-click zooms out). Charts of one use case
 * share the cursor and the zoom. Colours come from the page's CSS variables, so the charts
 * are redrawn when Airflow's colour mode changes. The drawn charts are in
 * window.mlstackCharts (id -> uPlot), for tests and the console.
 */
(function () {
  "use strict";
  var DAY = 86400;
  var plots = {};
  var source = document.getElementById("mlstack-chart-data");
  var specs = source ? JSON.parse(source.textContent) : {};
  window.mlstackCharts = plots;

  function colour(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function number(v) {
    if (v == null) return "–";
    return Math.abs(v) >= 1000 ? Math.round(v).toLocaleString("en") : String(+v.toPrecision(4));
  }

  function day(ts) {
    return ts == null ? "–" : new Date(ts * 1000).toISOString().slice(0, 10);
  }

  function group(id) {
    return id.split("-")[0];
  }

  function build(figure, spec) {
    var target = figure.querySelector(".plot");
    var small = figure.classList.contains("small");
    var data = [spec.days.map(function (d) { return Date.parse(d + "T00:00:00Z") / 1000; })];
    var series = [{ label: "day", value: function (u, ts) { return day(ts); } }];
    function add(values, options) {
      if (!values) return;
      data.push(values);
      series.push(Object.assign({ spanGaps: true, value: function (u, v) { return number(v); } }, options));
    }
    var dashed = { width: 1.5, dash: [6, 4], points: { show: false } };
    add(spec.champion, { label: "champion", stroke: colour("--chart-champion"), width: 2 });
    add(spec.challenger, { label: "challenger", stroke: colour("--chart-challenger"), width: 2 });
    add(spec.threshold, Object.assign({ label: "threshold", stroke: colour("--chart-threshold") }, dashed));
    add(spec.retrain, Object.assign({ label: "retrain bar", stroke: colour("--chart-retrain") }, dashed));
    var red = colour("--chart-alert");
    add(spec.alerts, {
      label: "alert",
      stroke: red,
      spanGaps: false,
      paths: function () { return null; },
      points: { show: true, size: 9, width: 1, fill: red, stroke: red },
    });
    var muted = colour("--fg-muted");
    var border = colour("--border");
    var font = "11px " + colour("--font-body");
    function axis(extra) {
      return Object.assign(
        { stroke: muted, font: font, grid: { stroke: border, width: 1 }, ticks: { stroke: border, width: 1 } },
        extra
      );
    }
    var options = {
      width: Math.max(200, target.clientWidth),
      height: small ? 130 : 170,
      series: series,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      scales: {
        x: {
          time: true,
          range: function (u, min, max) { return min === max ? [min - DAY, max + DAY] : [min, max]; },
        },
      },
      axes: [axis({ space: 60 }), axis({ size: 48, values: function (u, ticks) { return ticks.map(number); } })],
      cursor: { drag: { x: true, y: false }, sync: { key: group(spec.id) } },
      legend: { live: true },
      hooks: { setScale: [function (u, key) { if (key === "x") zoomTogether(u, spec.id); }] },
    };
    return new uPlot(options, data, target);
  }

  /* zoom every chart of the use case to the days one was zoomed to */
  var zooming = false;
  function zoomTogether(u, id) {
    if (zooming) return;
    zooming = true;
    var x = u.scales.x;
    Object.keys(plots).forEach(function (other) {
      var p = plots[other];
      if (other !== id && group(other) === group(id) && p.scales.x.min !== x.min) {
        p.setScale("x", { min: x.min, max: x.max });
      }
    });
    zooming = false;
  }

  function drawAll() {
    Object.keys(plots).forEach(function (id) {
      plots[id].destroy();
      delete plots[id];
    });
    document.querySelectorAll("figure.chart[data-chart]").forEach(function (figure) {
      var spec = specs[figure.dataset.chart];
      if (spec) plots[spec.id] = build(figure, spec);
    });
  }

  var resize = new ResizeObserver(function (entries) {
    entries.forEach(function (entry) {
      var figure = entry.target;
      var plot = plots[figure.dataset.chart];
      var width = Math.max(200, figure.querySelector(".plot").clientWidth);
      if (plot && Math.abs(plot.width - width) > 1) plot.setSize({ width: width, height: plot.height });
    });
  });

  drawAll();
  document.querySelectorAll("figure.chart[data-chart]").forEach(function (f) { resize.observe(f); });
  window.addEventListener("mlstack-theme", drawAll);
})();
