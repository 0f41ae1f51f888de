/* Gradient Flow explorers (vxglib/explorer.py writes the data): each .vx-explorer figure holds an
 * experiment's results precomputed over a grid of its controls; Plotly's own dropdowns and sliders
 * pick a grid point and Plotly.react swaps in its traces. No kernel, no network. */
(function () {
  "use strict";

  function merge(base, extra) {
    const out = Object.assign({}, base);
    for (const [key, value] of Object.entries(extra)) {
      const both = value && typeof value === "object" && !Array.isArray(value) &&
        out[key] && typeof out[key] === "object" && !Array.isArray(out[key]);
      out[key] = both ? merge(out[key], value) : value;
    }
    return out;
  }

  // From the top: a row of dropdowns (if any), the title and its message line, the subplot titles,
  // the plot, the x-axis titles, then one row per slider; `rows` gives each row's pixels (explorer.py).
  function controlsLayout(controls, state, height, rows) {
    const hasMenus = controls.some((c) => c.kind === "dropdown");
    const nSliders = controls.filter((c) => c.kind === "slider").length;
    const top = rows.title + (hasMenus ? rows.menus : 0);
    const bottom = rows.axis + rows.slider * nSliders;
    const area = Math.max(height - top - bottom, 100);
    const updatemenus = [];
    const sliders = [];
    controls.forEach((control, index) => {
      if (control.kind === "dropdown") {
        updatemenus.push({
          type: "dropdown", active: state[index], showactive: true, direction: "down",
          x: 0.36 * updatemenus.length, xanchor: "left", y: 1 + top / area, yanchor: "top",
          buttons: control.values.map((v) => ({label: `${control.label}: ${v}`, method: "skip"})),
        });
      } else {
        sliders.push({
          active: state[index], x: 0.05, len: 0.9, y: -(rows.axis + rows.slider * sliders.length) / area, yanchor: "top",
          currentvalue: {prefix: `${control.label}: `, font: {size: 13}}, pad: {t: 10},
          steps: control.values.map((v) => ({label: v, method: "skip"})),
        });
      }
    });
    return {height, margin: {t: top, b: bottom, l: 70, r: 20}, updatemenus, sliders,
            title: {x: 0.5, y: 1 - (hasMenus ? rows.menus + 8 : 12) / height, yref: "container", yanchor: "top",
                    font: {size: 14}},
            template: {layout: {paper_bgcolor: "white", plot_bgcolor: "white"}},
            hovermode: "closest"};
  }

  function setup(figure) {
    const data = JSON.parse(figure.querySelector(".vx-explorer-data").textContent);
    const rows = JSON.parse(figure.dataset.rows);
    const plot = figure.querySelector(".vx-explorer-plot");
    const state = data.controls.map((c) => c.default);
    const menuControl = [];
    const sliderControl = [];
    data.controls.forEach((c, i) => (c.kind === "dropdown" ? menuControl : sliderControl).push(i));
    const axis = {gridcolor: "#e5e5e5", zeroline: false, showline: true, linecolor: "#444"};

    function draw() {
      const key = state.join("-");
      if (plot.dataset.key === key) return Promise.resolve();
      const run = data.runs[key];
      let layout = merge(controlsLayout(data.controls, state, plot.clientHeight, rows), data.layouts[run.layout]);
      for (const name of Object.keys(layout)) {
        if (/^[xy]axis\d*$/.test(name)) layout[name] = merge(axis, layout[name]);
      }
      plot.dataset.key = key;
      return Plotly.react(plot, run.traces.map((i) => data.traces[i]), layout,
                          {responsive: true, displaylogo: false});
    }

    draw().then(() => {
      plot.on("plotly_buttonclicked", (event) => {
        state[menuControl[event.menu._index]] = event.button._index;
        window.requestAnimationFrame(draw);
      });
      plot.on("plotly_sliderchange", (event) => {
        state[sliderControl[event.slider._index]] = event.step._index;
        window.requestAnimationFrame(draw);
      });
      figure.classList.add("vx-explorer-ready");
    });
  }

  function start() {
    document.querySelectorAll("figure.vx-explorer").forEach(setup);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
