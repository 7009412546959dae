// Live updates for a server-rendered region: poll its fragment URL with the
// ETag last seen; a 304 changes nothing, a 200 replaces the region's content.
(function () {
  "use strict";
  document.querySelectorAll("[data-live]").forEach(function (region) {
    var url = region.getAttribute("data-live");
    var interval = parseInt(region.getAttribute("data-interval") || "1000", 10);
    var etag = null;
    function poll() {
      var headers = etag ? { "If-None-Match": etag } : {};
      fetch(url, { headers: headers, cache: "no-store", credentials: "same-origin" })
        .then(function (response) {
          if (response.status === 200) {
            etag = response.headers.get("ETag");
            return response.text().then(function (html) { region.innerHTML = html; });
          }
        })
        .catch(function () { /* the next poll tries again */ })
        .then(function () { window.setTimeout(poll, interval); });
    }
    window.setTimeout(poll, interval);
  });
})();
