// fireassay view: draws the plots from the page's JSON block and keeps live figures current.
// Everything from the server is set with textContent (never parsed as HTML).
(function () {
  "use strict";
  function pct(x) { return (x === null || x === undefined) ? "–" : (100 * x).toFixed(1) + "%"; }

  function drawPlots() {
    var block = document.getElementById("plots");
    if (!block || typeof Plotly === "undefined") return;
    var plots = JSON.parse(block.textContent);
    plots.forEach(function (p) {
      var div = document.getElementById(p.div);
      if (div && p.data.length) {
        Plotly.newPlot(div, p.data, p.layout, {displaylogo: false, responsive: true});
      }
    });
    window.fireassayPlotsDrawn = plots.length;
  }

  function setText(root, field, value) {
    root.querySelectorAll('[data-live="' + field + '"]').forEach(function (el) { el.textContent = value; });
  }

  function update(root, d) {
    var st = d.status || {};
    setText(root, "state", st.state);
    root.querySelectorAll('[data-live="state"]').forEach(function (el) { el.className = "state state-" + st.state; });
    setText(root, "candidates", String(st.candidates));
    setText(root, "judged", String(st.judged));
    setText(root, "trajectories", String(st.trajectories));
    setText(root, "problems_judged", String(d.problems_judged));
    setText(root, "coverage", pct(d.coverage));
    Object.keys(d.selectors || {}).forEach(function (s) { setText(root, "sel:" + s, pct(d.selectors[s])); });
    if (st.progress !== null && st.progress !== undefined) {
      root.querySelectorAll('[data-live="progress-bar"]').forEach(function (el) {
        el.style.width = (100 * st.progress).toFixed(1) + "%";
      });
    }
    return st.state === "running";
  }

  // every 2 s while the run is being written, every 15 s otherwise (a resumed run comes alive)
  function live(root) {
    var url = root.getAttribute("data-live-url");
    var state = root.querySelector('[data-live="state"]');
    var running = state && state.textContent === "running";
    function poll() {
      fetch(url, {cache: "no-store"}).then(function (r) { return r.json(); }).then(function (d) {
        running = update(root, d);
        window.fireassayLiveUpdates = (window.fireassayLiveUpdates || 0) + 1;
        setTimeout(poll, running ? 2000 : 15000);
      }).catch(function () { setTimeout(poll, 15000); });
    }
    setTimeout(poll, running ? 2000 : 15000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawPlots();
    document.querySelectorAll("[data-live-url]").forEach(live);
  });
})();
