// proxmo show: lays out the embedded page data (see proxmo_analysis/show/data.py); no external code.
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("proxmo-data").textContent);
  var METHODS = D.methods, COLORS = D.styles.map(function (s) { return s.color; });
  var LABELS = D.styles.map(function (s) { return s.label; });
  var CHUNK = 40;            // step rows rendered at a time (lazy: more on scroll)
  var SHORT = 90;            // characters of an observation shown before a click
  var state = { gid: null, rendered: 0, sel: null, scale: [] };
  var $ = function (id) { return document.getElementById(id); };
  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; }
  function fmt(x) { return (x >= 0 ? "+" : "") + x.toFixed(3); }
  function mix(g) { return g.n ? g.wins / g.n : 0; }

  function fillPicker() {
    var by = $("sortby").value, groups = D.groups.slice();
    groups.sort(function (a, b) {
      if (by === "mix") return Math.abs(mix(a) - 0.5) - Math.abs(mix(b) - 0.5) || a.task.localeCompare(b.task);
      if (by === "size") return b.rows - a.rows || a.task.localeCompare(b.task);
      return a.task.localeCompare(b.task) || a.id.localeCompare(b.id);
    });
    var pick = $("group"), keep = state.gid;
    pick.innerHTML = "";
    groups.forEach(function (g) {
      var o = el("option", null, g.task + " \u00b7 " + g.wins + "/" + g.n + " won \u00b7 " + g.rows + " steps");
      o.value = g.id; pick.appendChild(o);
    });
    if (keep) pick.value = keep;
  }

  function showGroup(gid) {
    state.gid = gid; state.rendered = 0; state.sel = null;
    var G = D.data[gid], T = G.trajectories, grid = $("grid");
    var maxSteps = 0;
    state.scale = METHODS.map(function () { return 1e-9; });
    T.forEach(function (t) {
      maxSteps = Math.max(maxSteps, t.steps.length);
      t.steps.forEach(function (s) { METHODS.forEach(function (m, k) { state.scale[k] = Math.max(state.scale[k], Math.abs(s[4 + k])); }); });
    });
    state.maxSteps = maxSteps;
    grid.innerHTML = "";
    grid.style.gridTemplateColumns = "34px repeat(" + T.length + ", minmax(190px, 1fr))";
    grid.appendChild(el("div", "colhead", "step"));
    T.forEach(function (t, k) {
      var h = el("div", "colhead", "#" + t.rollout_index);
      h.appendChild(el("span", "badge " + (t.won ? "won" : "lost"), t.won ? "won" : "lost"));
      h.appendChild(el("span", "rew", "return " + t.return.toFixed(2) + " \u00b7 " + t.steps.length + " steps"));
      h.title = t.episode_id; grid.appendChild(h);
    });
    var wins = T.filter(function (t) { return t.won; }).length;
    $("summary").textContent = D.run.name + " \u00b7 " + D.run.env_id + " \u00b7 task " + G.task_id + " \u00b7 iteration " + G.iteration +
      " \u00b7 " + T.length + " trajectories (" + wins + " won)";
    $("panel").innerHTML = "<h2>Step details</h2><p class='hint'>Click a step to see its PSA neighbours (the states ProxMO pooled, with their weights) and its GiGPO exact-match group.</p>";
    renderMore();
  }

  function bar(k, v) {
    var b = el("div", "bar"), tr = el("div", "track"), f = el("div", "fill");
    var w = Math.min(50, 50 * Math.abs(v) / state.scale[k]);
    f.style.width = w + "%"; f.style.left = (v >= 0 ? 50 : 50 - w) + "%";
    f.style.background = COLORS[k]; f.style.opacity = v >= 0 ? "1" : "0.45";
    tr.appendChild(f); b.appendChild(el("span", "m", LABELS[k])); b.appendChild(tr); b.appendChild(el("span", "v", fmt(v)));
    return b;
  }

  function cell(ti, si, s) {
    var c = el("div", "cell"); c.dataset.traj = ti; c.dataset.step = si;
    var r = el("span", "rew" + (s[2] > 0 ? " pos" : ""), "r " + s[2]);
    c.appendChild(r); c.appendChild(el("div", "act", s[1] || "(empty)"));
    var o = el("div", "obs", s[0].length > SHORT ? s[0].slice(0, SHORT) + "\u2026" : s[0]);
    o.title = "click to show the whole observation";
    o.addEventListener("click", function (ev) {
      ev.stopPropagation();
      var full = o.classList.toggle("full");
      o.textContent = full || s[0].length <= SHORT ? s[0] : s[0].slice(0, SHORT) + "\u2026";
    });
    c.appendChild(o);
    METHODS.forEach(function (m, k) { c.appendChild(bar(k, s[4 + k])); });
    c.addEventListener("click", function () { select(ti, si, c); });
    return c;
  }

  function renderMore() {
    var G = D.data[state.gid], T = G.trajectories, grid = $("grid");
    var old = grid.querySelector(".more"); if (old) old.remove();
    var end = Math.min(state.maxSteps, state.rendered + CHUNK), frag = document.createDocumentFragment();
    for (var si = state.rendered; si < end; si++) {
      frag.appendChild(el("div", "stepno", String(si)));
      for (var ti = 0; ti < T.length; ti++) {
        var s = T[ti].steps[si];
        frag.appendChild(s ? cell(ti, si, s) : el("div", "cell empty"));
      }
    }
    grid.appendChild(frag);
    state.rendered = end;
    if (end < state.maxSteps) {
      var more = el("div", "more", "steps " + end + "\u2013" + (state.maxSteps - 1) + " load as you scroll");
      grid.appendChild(more);
      var io = new IntersectionObserver(function (es) { if (es[0].isIntersecting) { io.disconnect(); renderMore(); } }, { root: $("gridwrap") });
      io.observe(more);
    }
  }

  function select(ti, si, c) {
    var G = D.data[state.gid], T = G.trajectories, s = T[ti].steps[si];
    var prev = document.querySelector(".cell.sel"); if (prev) prev.classList.remove("sel");
    c.classList.add("sel"); state.sel = [ti, si];
    var p = $("panel"); p.innerHTML = "";
    p.appendChild(el("h2", null, "Trajectory #" + T[ti].rollout_index + ", step " + si));
    p.appendChild(el("div", "act", s[1]));
    p.appendChild(el("div", "obs full", s[0]));
    p.appendChild(el("div", "hint", "return-to-go R = " + s[3].toFixed(4) + " \u00b7 " + METHODS.map(function (m, k) { return LABELS[k] + " " + fmt(s[4 + k]); }).join(" \u00b7 ")));
    var psa = G.psa[ti + ":" + si];
    p.appendChild(el("h3", null, "PSA neighbours (\u03c4 = " + D.psa.tau + ", " + D.psa.candidates + ")"));
    var tab = el("table", "psa"); tab.id = "psa-table";
    var hr = el("tr"); ["traj", "step", "weight", "R", "observation"].forEach(function (h) { hr.appendChild(el("th", null, h)); }); tab.appendChild(hr);
    var baseline = 0;
    if (psa && psa.n.length) {
      psa.n.forEach(function (nb) {
        var t = T[nb[0]], st = t.steps[nb[1]], tr = el("tr", nb[0] === ti && nb[1] === si ? "self" : null);
        baseline += nb[2] * st[3];
        tr.appendChild(el("td", null, "#" + t.rollout_index + (t.won ? " \u2713" : ""))); tr.appendChild(el("td", null, String(nb[1])));
        var wt = el("td", "w"); var wb = el("div", "wbar"); wb.style.width = Math.max(2, 60 * nb[2]) + "px";
        wt.appendChild(wb); wt.appendChild(el("span", "wv", nb[2].toFixed(3))); tr.appendChild(wt);
        tr.appendChild(el("td", null, st[3].toFixed(3)));
        tr.appendChild(el("td", null, st[0].length > 60 ? st[0].slice(0, 60) + "\u2026" : st[0]));
        tab.appendChild(tr);
      });
      p.appendChild(tab);
      p.appendChild(el("div", "hint", (psa.rest > 1e-6 ? "other candidates: weight " + psa.rest.toFixed(3) + " \u00b7 " : "") +
        "baseline \u03a3 w\u00b7R = " + baseline.toFixed(4) + (psa.rest > 1e-6 ? " (listed neighbours)" : "")));
    } else {
      p.appendChild(el("div", "hint", psa && psa.skipped ? "candidate block of " + psa.skipped + " rows: too large to list" : "no PSA candidates"));
    }
    var anchor = G.anchors[s[s.length - 1]];
    p.appendChild(el("h3", null, "GiGPO exact-match group (" + anchor.length + " step" + (anchor.length === 1 ? "" : "s") + ")"));
    var at = el("table"); var ah = el("tr"); ["traj", "step", "R"].forEach(function (h) { ah.appendChild(el("th", null, h)); }); at.appendChild(ah);
    var sum = 0;
    anchor.forEach(function (a) {
      var t = T[a[0]], st = t.steps[a[1]], tr = el("tr", a[0] === ti && a[1] === si ? "self" : null); sum += st[3];
      tr.appendChild(el("td", null, "#" + t.rollout_index + (t.won ? " \u2713" : ""))); tr.appendChild(el("td", null, String(a[1]))); tr.appendChild(el("td", null, st[3].toFixed(3)));
      at.appendChild(tr);
    });
    p.appendChild(at);
    p.appendChild(el("div", "hint", anchor.length === 1 ? "a singleton: GiGPO gives this step no step advantage" : "mean R of the group = " + (sum / anchor.length).toFixed(4)));
  }

  function legend() {
    var lg = $("legend");
    METHODS.forEach(function (m, k) {
      var s = el("span"); var sw = el("span", "sw"); sw.style.background = COLORS[k];
      s.appendChild(sw); s.appendChild(document.createTextNode(LABELS[k] + " advantage")); lg.appendChild(s);
    });
    lg.appendChild(el("span", null, "bars grow right of the centre line for a positive advantage, left (paler) for a negative one, scaled per method to the group's largest |advantage|; click an observation for its full text, a step for its PSA weights"));
  }

  $("sortby").addEventListener("change", fillPicker);
  $("group").addEventListener("change", function () { showGroup(this.value); });
  legend(); fillPicker();
  var first = D.initial && D.data[D.initial] ? D.initial : $("group").value;
  $("group").value = first; showGroup(first);
  document.body.dataset.ready = "1";
})();
