"use strict";
// entityscan report: filter, sort and deep-link the records table.  Reads only the DOM the
// page already holds (never inserts HTML); state lives in the URL fragment, e.g.
// #verdict=flagged,review&maker=Hikvision&site=10.0.1.0%2F24&q=ds-2cd&sort=score&dir=desc
(function () {
  var table = document.getElementById("records");
  var form = document.getElementById("controls");
  if (!table || !form) { return; }
  var records = Array.prototype.slice.call(table.tBodies);
  var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var keys = headers.map(function (th) {
    return th.textContent.trim().toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
  });
  var q = document.getElementById("f-q");
  var maker = document.getElementById("f-maker");
  var site = document.getElementById("f-site");
  var verdictBoxes = Array.prototype.slice.call(form.querySelectorAll("input[name=verdict]"));
  var shown = document.getElementById("shown");
  var state = { sort: null, dir: "asc" };

  function selectValue(select, value) {
    var found = Array.prototype.some.call(select.options, function (o) { return o.value === value; });
    select.value = found ? value : "";
  }

  function readHash() {
    var params = new URLSearchParams(window.location.hash.replace(/^#/, ""));
    var verdicts = (params.get("verdict") || "").split(",").filter(Boolean);
    verdictBoxes.forEach(function (box) {
      box.checked = verdicts.length === 0 || verdicts.indexOf(box.value) >= 0;
    });
    q.value = params.get("q") || "";
    selectValue(maker, params.get("maker") || "");
    selectValue(site, params.get("site") || "");
    var sort = params.get("sort");
    state.sort = sort && keys.indexOf(sort) >= 0 ? sort : null;
    state.dir = params.get("dir") === "desc" ? "desc" : "asc";
  }

  function writeHash() {
    var params = new URLSearchParams();
    var checked = verdictBoxes.filter(function (b) { return b.checked; }).map(function (b) { return b.value; });
    if (checked.length !== verdictBoxes.length) { params.set("verdict", checked.join(",")); }
    if (maker.value) { params.set("maker", maker.value); }
    if (site.value) { params.set("site", site.value); }
    if (q.value.trim()) { params.set("q", q.value.trim()); }
    if (state.sort) { params.set("sort", state.sort); params.set("dir", state.dir); }
    var text = params.toString();
    try {
      window.history.replaceState(null, "", text ? "#" + text : window.location.pathname + window.location.search);
    } catch (e) { /* some viewers forbid history changes on file: pages; filtering still works */ }
  }

  function applyFilter() {
    var wanted = {};
    verdictBoxes.forEach(function (b) { wanted[b.value] = b.checked; });
    var words = q.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    var count = 0;
    records.forEach(function (body) {
      var d = body.dataset;
      var ok = wanted[d.verdict] !== false &&
        (!maker.value || d.maker === maker.value) &&
        (!site.value || d.site === site.value) &&
        words.every(function (w) { return d.search.indexOf(w) >= 0; });
      body.hidden = !ok;
      if (ok) { count += 1; }
    });
    shown.textContent = "Showing " + count + " of " + records.length;
    document.body.dataset.shown = String(count);
  }

  function compare(a, b, index, type) {
    var x = a.rows[0].cells[index].dataset.sort || "";
    var y = b.rows[0].cells[index].dataset.sort || "";
    if (type === "number" || type === "verdict") {
      return (parseFloat(x) || 0) - (parseFloat(y) || 0);
    }
    return x.localeCompare(y, undefined, { numeric: true });
  }

  function applySort() {
    headers.forEach(function (th) { th.setAttribute("aria-sort", "none"); });
    if (!state.sort) { return; }
    var index = keys.indexOf(state.sort);
    var type = headers[index].dataset.type;
    var sign = state.dir === "desc" ? -1 : 1;
    var order = records.map(function (body, i) { return [body, i]; });
    order.sort(function (a, b) { return sign * compare(a[0], b[0], index, type) || a[1] - b[1]; });
    order.forEach(function (pair) { table.appendChild(pair[0]); });
    headers[index].setAttribute("aria-sort", state.dir === "desc" ? "descending" : "ascending");
    document.body.dataset.sorted = state.sort + ":" + state.dir;
  }

  function update() { applyFilter(); applySort(); writeHash(); }

  headers.forEach(function (th, index) {
    th.querySelector("button").addEventListener("click", function () {
      var key = keys[index];
      if (state.sort === key) {
        state.dir = state.dir === "asc" ? "desc" : "asc";
      } else {
        state.sort = key;
        state.dir = th.dataset.type === "text" ? "asc" : "desc";
      }
      update();
    });
  });
  [q, maker, site].concat(verdictBoxes).forEach(function (el) {
    el.addEventListener("input", update);
    el.addEventListener("change", update);
  });
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  document.getElementById("f-reset").addEventListener("click", function () {
    verdictBoxes.forEach(function (b) { b.checked = true; });
    q.value = ""; maker.value = ""; site.value = "";
    update();
  });
  function openAll(open) {
    records.forEach(function (body) {
      if (!body.hidden) { body.querySelector("details").open = open; }
    });
  }
  document.getElementById("f-expand").addEventListener("click", function () { openAll(true); });
  document.getElementById("f-collapse").addEventListener("click", function () { openAll(false); });
  // A printed or PDF copy is what reaches the auditor: print every shown record opened.
  var closedBeforePrint = [];
  window.addEventListener("beforeprint", function () {
    closedBeforePrint = records.filter(function (body) {
      var details = body.querySelector("details");
      return !body.hidden && !details.open;
    });
    closedBeforePrint.forEach(function (body) { body.querySelector("details").open = true; });
  });
  window.addEventListener("afterprint", function () {
    closedBeforePrint.forEach(function (body) { body.querySelector("details").open = false; });
    closedBeforePrint = [];
  });
  window.addEventListener("hashchange", function () { readHash(); applyFilter(); applySort(); });

  form.hidden = false;
  readHash();
  applyFilter();
  applySort();
  document.body.dataset.ready = "1";
})();
