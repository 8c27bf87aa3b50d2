// The dashboard's little JavaScript: charts (plotly.js from this service), filters
// that apply on change, and an activation's progress. Every page works without it.
"use strict";

function drawCharts() {
  if (!window.Plotly) return;
  for (const box of document.querySelectorAll(".chart")) {
    const data = box.querySelector('script[type="application/json"]');
    if (!data || box.dataset.drawn) continue;
    const figure = JSON.parse(data.textContent);
    box.dataset.drawn = "1";
    window.Plotly.newPlot(box, figure.data, figure.layout, {
      responsive: true, displaylogo: false, modeBarButtonsToRemove: ["toImage"],
    });
  }
}

function autosubmit() {
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.requestSubmit());
  }
}

function followJob() {
  const box = document.querySelector("[data-job]");
  if (!box) return;
  const bar = box.querySelector("progress");
  const text = box.querySelector(".job-state");
  const tick = async () => {
    const answer = await fetch(`/jobs/${encodeURIComponent(box.dataset.job)}.json`, { cache: "no-store" });
    if (!answer.ok) return;
    const job = await answer.json();
    bar.max = job.total || 1;
    bar.value = job.done;
    text.textContent = `${job.state}: ${job.done} of ${job.total} leads rescored` + (job.error ? ` (${job.error})` : "");
    box.dataset.state = job.state;
    if (job.state === "done") {
      text.textContent = `done: version ${job.version} of ${job.model} is active (${job.total} leads rescored). Reload to see it.`;
    } else if (job.state !== "failed") setTimeout(tick, 500);
  };
  tick();
}

window.addEventListener("load", drawCharts);
document.addEventListener("DOMContentLoaded", () => { autosubmit(); followJob(); });
