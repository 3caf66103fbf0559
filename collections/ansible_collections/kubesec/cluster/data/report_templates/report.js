(function () {
  "use strict";
  // Progressive enhancement only: every table reads the same without this script. Click or press Enter on a
  // column header to sort; type in the box above a table to filter its rows. No network, no storage.
  var NUMBER = /^[-+]?\d+(\.\d+)?$/;
  function value(row, index) {
    var cell = row.cells[index];
    if (!cell) { return ""; }
    var sort = cell.getAttribute("data-sort");
    return sort !== null ? sort : cell.textContent.replace(/\s+/g, " ").trim();
  }
  function compare(a, b) {
    if (NUMBER.test(a) && NUMBER.test(b)) { return parseFloat(a) - parseFloat(b); }
    return a.localeCompare(b, undefined, {numeric: true, sensitivity: "base"});
  }
  function sortBy(table, header, index) {
    var body = table.tBodies[0];
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    var headers = header.parentNode.cells;
    for (var i = 0; i < headers.length; i++) { headers[i].removeAttribute("aria-sort"); }
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r1, r2) {
      var result = compare(value(r1, index), value(r2, index));
      return ascending ? result : -result;
    });
    for (var j = 0; j < rows.length; j++) { body.appendChild(rows[j]); }
  }
  function addFilter(table) {
    var rows = Array.prototype.slice.call(table.tBodies[0].rows);
    var box = document.createElement("div");
    box.className = "filter";
    var input = document.createElement("input");
    input.type = "search";
    input.placeholder = "Filter " + rows.length + " rows";
    input.setAttribute("aria-label", "Filter the rows of the next table");
    var count = document.createElement("span");
    count.className = "filter-count";
    count.setAttribute("aria-live", "polite");
    box.appendChild(input);
    box.appendChild(count);
    table.parentNode.insertBefore(box, table);
    input.addEventListener("input", function () {
      var query = input.value.toLowerCase().trim();
      var shown = 0;
      for (var i = 0; i < rows.length; i++) {
        var hit = !query || rows[i].textContent.toLowerCase().indexOf(query) !== -1;
        rows[i].hidden = !hit;
        if (hit) { shown++; }
      }
      count.textContent = query ? shown + " of " + rows.length + " rows" : "";
    });
  }
  var tables = document.querySelectorAll("table.js-table");
  Array.prototype.forEach.call(tables, function (table) {
    if (!table.tHead || !table.tBodies.length) { return; }
    var headRow = table.tHead.rows[table.tHead.rows.length - 1];
    Array.prototype.forEach.call(headRow.cells, function (header, index) {
      header.tabIndex = 0;
      header.classList.add("sortable");
      header.title = "Sort by this column";
      header.addEventListener("click", function () { sortBy(table, header, index); });
      header.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sortBy(table, header, index); }
      });
    });
    if (table.tBodies[0].rows.length > 8) { addFilter(table); }
  });
  document.documentElement.classList.add("js");
})();
