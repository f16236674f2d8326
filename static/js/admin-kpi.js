/* The KPI dashboard's chart: points issued, redeemed and expired per month. The figures come from the
   page's JSON script element (json_script "kpi-data"); the same figures are in the table below the chart. */
(function () {
  "use strict";

  function draw() {
    var element = document.getElementById("kpi-data");
    var canvas = document.getElementById("kpi-chart");
    if (!element || !canvas || typeof window.Chart === "undefined") {
      return;
    }
    var data = JSON.parse(element.textContent);
    var colours = ["#2f6f4e", "#b5651d", "#8a8f98"];
    var style = window.getComputedStyle(document.body);
    var text = style.getPropertyValue("--body-fg").trim() || "#333";
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: data.series.map(function (series, index) {
          return {
            label: series.label,
            data: series.data,
            backgroundColor: colours[index % colours.length],
            borderWidth: 0
          };
        })
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: { legend: { position: "bottom", labels: { color: text } } },
        scales: {
          x: { ticks: { color: text, autoSkip: true, maxRotation: 0 } },
          y: { beginAtZero: true, ticks: { color: text, precision: 0 } }
        }
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
