/* The Menu button of narrow screens (base.html): shows and hides the left navigation, says so
   with aria-expanded, closes on Escape (focus back on the button). Without script the button
   is a link to #sidenav, which panel.css shows as the :target. No inline script (the CSP).

   Also: a data table's cells without a data-label get their column's heading as one, so that
   under 52rem, where panel.css shows each row as a card of "label value" lines, every value is
   named (templates set data-label themselves; this covers the ones that do not). */
(function () {
  "use strict";

  var tables = document.querySelectorAll("table.table");
  for (var t = 0; t < tables.length; t++) {
    var heads = tables[t].querySelectorAll("thead tr:first-child th");
    if (!heads.length) { continue; }
    var names = [];
    for (var h = 0; h < heads.length; h++) {
      for (var span = heads[h].colSpan || 1; span > 0; span--) { names.push(heads[h].textContent.trim()); }
    }
    var rows = tables[t].tBodies.length ? tables[t].querySelectorAll("tbody tr") : [];
    for (var r = 0; r < rows.length; r++) {
      var column = 0;
      for (var c = 0; c < rows[r].cells.length; c++) {
        var cell = rows[r].cells[c];
        if (!cell.hasAttribute("data-label") && names[column]) { cell.setAttribute("data-label", names[column]); }
        column += cell.colSpan || 1;
      }
    }
  }

  var button = document.getElementById("nav-toggle");
  var nav = document.getElementById("sidenav");
  if (!button || !nav) { return; }

  function show(open) {
    nav.classList.toggle("open", open);
    button.setAttribute("aria-expanded", open ? "true" : "false");
  }

  button.addEventListener("click", function (event) {
    event.preventDefault();
    show(button.getAttribute("aria-expanded") !== "true");
  });
  // a link with role="button": Space presses it too, as it would a button
  button.addEventListener("keydown", function (event) {
    if (event.key === " ") {
      event.preventDefault();
      show(button.getAttribute("aria-expanded") !== "true");
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && button.getAttribute("aria-expanded") === "true") {
      show(false);
      button.focus();
    }
  });
}());
