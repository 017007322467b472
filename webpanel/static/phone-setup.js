// Issue 16: Phone setup's copy buttons. A button copies its setting's text and says so in the
// page's polite live region (screen readers hear "Copied: Server"). Buttons are <button>s:
// Enter and Space work from the keyboard.
(function () {
  "use strict";
  var status = document.getElementById("copy-status");

  function announce(text) {
    if (!status) return;
    status.textContent = "";
    window.setTimeout(function () { status.textContent = text; }, 50);
  }

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok;
  }

  document.querySelectorAll(".copy-button").forEach(function (button) {
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      var label = document.getElementById(button.getAttribute("data-copy") + "-label");
      if (!source) return;
      var text = source.textContent.trim();
      var name = label ? label.textContent.trim() : "";
      var copied = button.getAttribute("data-copied") || "Copied";
      var failed = button.getAttribute("data-failed") || "Copy failed";
      function done() { announce(copied + (name ? ": " + name : "")); }
      function fail() { if (fallbackCopy(text)) { done(); } else { announce(failed); } }
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(done, fail);
      } else {
        fail();
      }
    });
  });
})();
