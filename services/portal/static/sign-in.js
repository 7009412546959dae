// The seat card's QR code opens /vote/sign-in#token=…: the token stays in the
// fragment (never sent in a URL, never logged) and is posted as the form.
(function () {
  "use strict";
  function signIn() {
    var match = /(?:^|[#&])token=([^&]+)/.exec(window.location.hash);
    if (!match) { return; }
    document.getElementById("token").value = decodeURIComponent(match[1]);
    history.replaceState(null, "", window.location.pathname + window.location.search);
    document.getElementById("sign-in").submit();
  }
  window.addEventListener("hashchange", signIn);
  signIn();
})();
