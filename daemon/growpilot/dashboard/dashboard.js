/* Growpilot dashboard: draws the metrics (growpilot metrics --json) found in #growpilot-metrics with
 * Chart.js (the global `Chart`). Used as is by the self-contained report and by the extension's webview
 * (where #growpilot-options says interactive: the buttons post {command, version} to the extension).
 * Text from the data is only ever set as textContent: never parsed as HTML. */
(function () {
  "use strict";
  var root = document.getElementById("growpilot-dashboard");
  var data = JSON.parse(document.getElementById("growpilot-metrics").textContent || "{}");
  var options = JSON.parse(document.getElementById("growpilot-options").textContent || "{}");
  var vscode = options.interactive && typeof acquireVsCodeApi === "function" ? acquireVsCodeApi() : null;
  var charts = {};
  window.growpilotCharts = charts;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "className") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) {
      if (c !== null && c !== undefined) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }
  function num(v, digits) {
    if (v === null || v === undefined) return "–";
    var s = Number(v).toFixed(digits === undefined ? 2 : digits);
    return s.indexOf(".") < 0 ? s : s.replace(/0+$/, "").replace(/\.$/, "");
  }
  function pct(v) {
    return v === null || v === undefined ? "–" : (100 * v).toFixed(1) + "%";
  }
  function section(title, id) {
    var s = el("section", { id: id }, [el("h2", { text: title })]);
    root.appendChild(s);
    return s;
  }
  function color(i) {
    return ["#3b82f6", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#6b7280"][i % 6];
  }

  function chart(parent, id, title, config, empty) {
    var box = el("figure", { className: "chart" }, [el("figcaption", { text: title })]);
    parent.appendChild(box);
    if (empty) {
      box.appendChild(el("p", { className: "empty", text: empty }));
      return;
    }
    var canvas = el("canvas", { id: id, role: "img", "aria-label": title });
    box.appendChild(el("div", { className: "canvas" }, [canvas]));
    config.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false } }, config.options || {});
    if (config.type === "line") {  // a single day sits in the middle, not on the axis
      config.options.scales = config.options.scales || {};
      config.options.scales.x = Object.assign({ offset: true }, config.options.scales.x || {});
    }
    charts[id] = new Chart(canvas, config);
    var points = 0;
    config.data.datasets.forEach(function (d) { points += d.data.filter(function (v) { return v !== null; }).length; });
    canvas.setAttribute("data-points", String(points));
  }
  function line(label, values, i, extra) {
    return Object.assign({ label: label, data: values, borderColor: color(i), backgroundColor: color(i),
      spanGaps: true, tension: 0.2, pointRadius: 3 }, extra || {});
  }

  function cards() {
    var t = data.totals || {};
    var index = data.index;
    var items = [
      ["Suggestions shown", String(t.shown || 0)],
      ["Accepted", (t.accepted || 0) + " (" + pct(t.acceptance_rate) + ")"],
      ["Retained chars / shown", num(t.retained_per_shown)],
      ["👍 / 👎", (t.up || 0) + " / " + (t.down || 0)],
      ["Latency p50 / p95", num(t.latency_p50_ms, 0) + " / " + num(t.latency_p95_ms, 0) + " ms"],
      ["Serving", data.active || "base model"],
      ["Index", index ? index.files + " files, " + index.chunks + " chunks" : "not indexed"],
    ];
    root.appendChild(el("div", { className: "cards", id: "cards" }, items.map(function (it) {
      return el("div", { className: "card" }, [el("div", { className: "label", text: it[0] }), el("div", { className: "value", text: it[1] })]);
    })));
  }

  function overTime() {
    var s = section("Over time", "over-time");
    var days = data.days || [];
    var labels = days.map(function (d) { return d.day; });
    var none = days.length ? null : "No suggestions recorded yet: accept or reject a few and come back.";
    var grid = el("div", { className: "grid" });
    s.appendChild(grid);
    chart(grid, "chart-acceptance", "Acceptance rate per day (%)", {
      type: "line",
      data: { labels: labels, datasets: [line("acceptance rate", days.map(function (d) {
        return d.acceptance_rate === null ? null : +(100 * d.acceptance_rate).toFixed(2); }), 0)] },
      options: { scales: { y: { beginAtZero: true, suggestedMax: 100 } } },
    }, none);
    chart(grid, "chart-retained", "Accepted-and-retained characters per shown suggestion", {
      type: "line",
      data: { labels: labels, datasets: [line("retained chars / shown", days.map(function (d) { return d.retained_per_shown; }), 2)] },
      options: { scales: { y: { beginAtZero: true } } },
    }, none);
    chart(grid, "chart-ratings", "👍 / 👎 per day", {
      type: "bar",
      data: { labels: labels, datasets: [
        { label: "👍", data: days.map(function (d) { return d.up; }), backgroundColor: color(2) },
        { label: "👎", data: days.map(function (d) { return d.down; }), backgroundColor: color(3) },
      ] },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
    }, none);
    chart(grid, "chart-latency", "Latency per day (ms)", {
      type: "line",
      data: { labels: labels, datasets: [
        line("p50", days.map(function (d) { return d.latency_p50_ms; }), 0),
        line("p95", days.map(function (d) { return d.latency_p95_ms; }), 1),
      ] },
      options: { scales: { y: { beginAtZero: true } } },
    }, none);
  }

  function byAdapter() {
    var s = section("Adapters", "adapters");
    var grid = el("div", { className: "grid" });
    s.appendChild(grid);
    var versions = data.versions || [];
    var evaluated = versions.filter(function (v) { return v.nll && v.nll.candidate !== null && v.nll.candidate !== undefined; });
    chart(grid, "chart-nll", "Held-out NLL of each evaluated version (lower is better)", {
      type: "line",
      data: { labels: evaluated.map(function (v) { return v.version; }), datasets: [
        line("candidate", evaluated.map(function (v) { return v.nll.candidate; }), 0, {
          pointRadius: 5,
          pointBackgroundColor: evaluated.map(function (v) { return v.decision === "promoted" ? color(2) : color(3); }) }),
        line("what served then (base or active)", evaluated.map(function (v) {
          return v.nll.active !== null && v.nll.active !== undefined ? v.nll.active : v.nll.base; }), 5, { borderDash: [4, 4] }),
      ] },
    }, evaluated.length ? null : "No adapter evaluated yet: Retrain Now trains and evaluates one.");
    var served = data.adapters || [];
    chart(grid, "chart-by-adapter", "By the adapter that served the suggestion", {
      type: "bar",
      data: { labels: served.map(function (a) { return a.adapter; }), datasets: [
        { label: "acceptance rate (%)", yAxisID: "y", backgroundColor: color(0),
          data: served.map(function (a) { return a.acceptance_rate === null ? null : +(100 * a.acceptance_rate).toFixed(2); }) },
        { label: "retained chars / shown", yAxisID: "y1", backgroundColor: color(2),
          data: served.map(function (a) { return a.retained_per_shown; }) },
      ] },
      options: { scales: { y: { beginAtZero: true, position: "left" }, y1: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false } } } },
    }, served.length ? null : "No suggestions recorded yet.");
    historyTable(s, versions);
  }

  function button(label, message, title) {
    var b = el("button", { type: "button", title: title || label, text: label });
    b.addEventListener("click", function () {
      b.disabled = true;
      vscode.postMessage(message);
    });
    return b;
  }

  function historyTable(parent, versions) {
    parent.appendChild(el("h3", { text: "History" }));
    if (!versions.length) {
      parent.appendChild(el("p", { className: "empty", text: "No adapter trained yet." }));
    } else {
      var head = ["version", "created", "data (files / samples / feedback)", "held-out NLL", "decision", "why", "status"];
      if (vscode) head.push("");
      var rows = versions.slice().reverse().map(function (v) {
        var d = v.data || {};
        var ref = v.nll.active !== null && v.nll.active !== undefined ? v.nll.active : v.nll.base;
        var cells = [
          el("td", {}, [el("strong", { text: v.version })]),
          el("td", { text: v.created || "" }),
          el("td", { text: [d.files, d.samples, d.feedback].map(function (x) { return x === null || x === undefined ? "–" : String(x); }).join(" / ") }),
          el("td", { text: num(ref, 4) + " → " + num(v.nll.candidate, 4) }),
          el("td", { className: "decision " + (v.decision || ""), text: v.decision || "" }),
          el("td", { className: "why", text: v.reason || "" }),
          el("td", { text: (v.active ? "● serving" : v.status) || "" }),
        ];
        if (vscode) {
          cells.push(el("td", {}, [v.active ? button("Roll back", { command: "rollback" }, "Go back to the previously promoted version")
            : button("Promote", { command: "promote", version: v.version }, "Serve " + v.version + " from now on")]));
        }
        return el("tr", { "data-version": v.version }, cells);
      });
      parent.appendChild(el("table", { id: "history" }, [
        el("thead", {}, [el("tr", {}, head.map(function (h) { return el("th", { text: h }); }))]),
        el("tbody", {}, rows),
      ]));
    }
    var events = data.adapter_events || [];
    if (events.length) {
      parent.appendChild(el("h3", { text: "Promotions and rollbacks" }));
      parent.appendChild(el("ul", { id: "adapter-events" }, events.slice().reverse().map(function (e) {
        return el("li", { text: (e.time || "") + "  " + e.action + ": " + (e.from || "base") + " → " + (e.to || "base") + (e.reason ? " (" + e.reason + ")" : "") });
      })));
    }
  }

  function isObject(v) {
    return v !== null && typeof v === "object" && !Array.isArray(v);
  }
  function cell(v) {
    return v === null || v === undefined ? "–" : typeof v === "number" ? num(v, 4) : String(v);
  }
  function table(title, rows, keyName) {
    // rows: [{…}] or {name: {…}} (one row per name); only scalar columns are shown
    var list = Array.isArray(rows) ? rows : Object.keys(rows).map(function (k) {
      var r = {}; r[keyName] = k; return Object.assign(r, rows[k]);
    });
    if (!list.length || !isObject(list[0])) return null;
    var cols = Object.keys(list[0]).filter(function (c) { return !isObject(list[0][c]) && !Array.isArray(list[0][c]); });
    return el("div", {}, [el("h3", { text: title }), el("table", { className: "ab-table" }, [
      el("thead", {}, [el("tr", {}, cols.map(function (c) { return el("th", { text: c }); }))]),
      el("tbody", {}, list.map(function (r) { return el("tr", {}, cols.map(function (c) { return el("td", { text: cell(r[c]) }); })); })),
    ])]);
  }

  function abSection() {
    var s = section("A/B of adapters", "ab");
    var ab = data.ab;
    if (!isObject(ab) || ab.on === false || ab.enabled === false) {
      s.appendChild(el("p", { className: "empty", id: "ab-off", text: "A/B off" + (ab && ab.reason ? ": " + ab.reason : "") }));
      return;
    }
    // Scalars and small objects (experiment, tests, winner) as facts; objects of objects and lists of
    // objects (the arms) as tables: the A/B status object (learning/ab.py) as it is, whatever it adds.
    var facts = el("dl", { id: "ab-facts" });
    var tables = [];
    Object.keys(ab).forEach(function (k) {
      var v = ab[k];
      var values = isObject(v) ? Object.keys(v).map(function (x) { return v[x]; }) : [];
      if (Array.isArray(v) || (values.length && values.every(isObject))) {
        var t = table(k, v, k === "arms" ? "arm" : "name");
        if (t) tables.push(t);
      } else if (isObject(v)) {
        Object.keys(v).forEach(function (x) {
          if (!isObject(v[x]) && !Array.isArray(v[x])) facts.appendChild(el("div", {}, [el("dt", { text: k + "." + x }), el("dd", { text: cell(v[x]) })]));
        });
      } else {
        facts.appendChild(el("div", {}, [el("dt", { text: k }), el("dd", { text: cell(v) })]));
      }
    });
    s.appendChild(facts);
    tables.forEach(function (t) { s.appendChild(t); });
  }

  var style = getComputedStyle(document.body);
  if (typeof Chart === "undefined") {
    root.appendChild(el("p", { className: "error", text: "Chart.js did not load: the charts cannot be drawn." }));
  } else {
    Chart.defaults.color = style.color;
    Chart.defaults.font.family = style.fontFamily;
  }
  var bar = el("div", { className: "meta" }, [
    el("span", { text: (data.workspace || "") + " · " + (data.generated || "") }),
  ]);
  if (vscode) bar.appendChild(button("Refresh", { command: "refresh" }));
  root.appendChild(bar);
  cards();
  if (typeof Chart !== "undefined") {
    overTime();
    byAdapter();
  }
  abSection();
  root.setAttribute("aria-busy", "false");
  document.body.setAttribute("data-rendered", "true");
})();
