// qcompiler report: sortable and filterable tables. No network, no dependencies.
(function () {
  "use strict";
  function cellValue(td, numeric) {
    var t = td.getAttribute("data-v");
    if (t === null) { t = td.textContent; }
    if (!numeric) { return t.toLowerCase(); }
    t = t.trim();
    if (t === "inf") { return Infinity; }
    if (t === "-inf") { return -Infinity; }
    var v = parseFloat(t.replace(/,/g, ""));
    return isNaN(v) ? -Infinity : v;
  }
  function sortBy(table, col, th) {
    var numeric = th.classList.contains("num");
    var asc = th.getAttribute("aria-sort") !== "ascending";
    var ths = table.tHead.rows[0].cells;
    for (var i = 0; i < ths.length; i++) { ths[i].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var keyed = rows.map(function (r, i) { return [cellValue(r.cells[col], numeric), i, r]; });
    keyed.sort(function (a, b) {
      if (a[0] < b[0]) { return asc ? -1 : 1; }
      if (a[0] > b[0]) { return asc ? 1 : -1; }
      return a[1] - b[1];
    });
    var frag = document.createDocumentFragment();
    keyed.forEach(function (k) { frag.appendChild(k[2]); });
    body.appendChild(frag);
  }
  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table) {
    var ths = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(ths, function (th, col) {
      th.classList.add("sortable");
      th.addEventListener("click", function () { sortBy(table, col, th); });
    });
  });
  var filters = document.querySelectorAll("input.filter");
  Array.prototype.forEach.call(filters, function (input) {
    var table = document.getElementById(input.getAttribute("data-table"));
    input.addEventListener("input", function () {
      var q = input.value.toLowerCase();
      Array.prototype.forEach.call(table.tBodies[0].rows, function (r) {
        r.style.display = !q || r.textContent.toLowerCase().indexOf(q) >= 0 ? "" : "none";
      });
    });
  });
  document.documentElement.setAttribute("data-ready", "1");
})();
