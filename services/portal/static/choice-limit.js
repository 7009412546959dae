// A ballot with a choice limit (差额票决, the public vote): once the limit is
// reached the other boxes are disabled; the server checks the same limit.
(function () {
  "use strict";
  document.querySelectorAll("form[data-limit]").forEach(function (form) {
    var limit = parseInt(form.getAttribute("data-limit"), 10);
    var boxes = form.querySelectorAll("input[type=checkbox]");
    var counter = form.querySelector("[data-count]");
    function update() {
      var chosen = Array.prototype.filter.call(boxes, function (b) { return b.checked; }).length;
      Array.prototype.forEach.call(boxes, function (b) { b.disabled = !b.checked && chosen >= limit; });
      if (counter) { counter.textContent = "已选 " + chosen + " 个，最多 " + limit + " 个"; }
    }
    Array.prototype.forEach.call(boxes, function (b) { b.addEventListener("change", update); });
    update();
  });
})();
