// Plain-text toggle for the stories and a filter for the entity table; nothing else runs.
(function () {
  var plain = document.getElementById("plain");
  if (plain) {
    plain.addEventListener("change", function () {
      document.body.classList.toggle("plain", plain.checked);
    });
  }
  var filter = document.getElementById("entity-filter");
  if (filter) {
    filter.addEventListener("input", function () {
      var needle = filter.value.toLowerCase();
      document.querySelectorAll("table.entities tbody tr").forEach(function (row) {
        row.style.display = row.textContent.toLowerCase().indexOf(needle) >= 0 ? "" : "none";
      });
    });
  }
})();
