// stoplist's own JavaScript: a few lines of progressive enhancement, no build step.
// Every page works without it. It is a file (not inline) so that the Content-Security-Policy
// can forbid inline scripts.
(function () {
  "use strict";

  // Controls marked data-requires="ID" are enabled only while checkbox #ID is checked
  // (Settings: "Recipient Opt Out removes user from all groups?" needs "Automatically
  // delete Opt Outs from Contacts"). The server renders the same state.
  function syncDependents() {
    document.querySelectorAll("[data-requires]").forEach(function (el) {
      var ctrl = document.getElementById(el.getAttribute("data-requires"));
      if (!ctrl) return;
      el.disabled = !ctrl.checked;
      var wrap = el.closest("[data-dependent]");
      if (wrap) wrap.classList.toggle("inactive", !ctrl.checked);
    });
  }

  document.addEventListener("change", function (e) {
    if (e.target instanceof HTMLInputElement && e.target.type === "checkbox") syncDependents();
  });

  // Forms marked data-confirm="question" ask before they submit (deleting a group…).
  document.addEventListener("submit", function (e) {
    var form = e.target;
    var question = form instanceof HTMLFormElement ? form.getAttribute("data-confirm") : null;
    if (question && !window.confirm(question)) e.preventDefault();
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", syncDependents);
  } else {
    syncDependents();
  }
})();
