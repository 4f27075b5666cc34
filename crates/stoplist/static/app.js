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

  // Blocks marked data-shown-with="ID" show only while checkbox #ID is checked, and their
  // inputs are then required (Import: the reason of "Reset contacts that have previously
  // opted out?"). Without this script the block is always shown; the server checks it.
  function syncShown() {
    document.querySelectorAll("[data-shown-with]").forEach(function (block) {
      var ctrl = document.getElementById(block.getAttribute("data-shown-with"));
      if (!ctrl) return;
      block.hidden = !ctrl.checked;
      block.querySelectorAll("input, select, textarea").forEach(function (el) {
        el.required = ctrl.checked;
      });
    });
  }

  // Import preview: the column headings say which field each column is mapped to, and
  // follow the selects (select[data-map-field] names the field; th[data-col] the column).
  function syncMapTags() {
    var selects = document.querySelectorAll("select[data-map-field]");
    if (!selects.length) return;
    var tags = {};
    selects.forEach(function (sel) {
      if (sel.value === "") return;
      (tags[sel.value] = tags[sel.value] || []).push(sel.getAttribute("data-map-field"));
    });
    document.querySelectorAll("th[data-col]").forEach(function (th) {
      var tag = th.querySelector("[data-map-tag]");
      if (tag) tag.textContent = (tags[th.getAttribute("data-col")] || []).join(", ");
    });
  }

  document.addEventListener("change", function (e) {
    if (e.target instanceof HTMLInputElement && e.target.type === "checkbox") {
      syncDependents();
      syncShown();
    }
    if (e.target instanceof HTMLSelectElement && e.target.hasAttribute("data-map-field")) syncMapTags();
  });

  // Typing a new group's name (input[data-chooses="SELECT-ID"]) chooses "a new group" in
  // the group list, so the two never disagree.
  document.addEventListener("input", function (e) {
    var el = e.target;
    if (!(el instanceof HTMLInputElement) || !el.hasAttribute("data-chooses")) return;
    var sel = document.getElementById(el.getAttribute("data-chooses"));
    if (sel instanceof HTMLSelectElement && el.value.trim() !== "") sel.value = "new";
  });

  // Forms marked data-confirm="question" ask before they submit (deleting a group…).
  document.addEventListener("submit", function (e) {
    var form = e.target;
    var question = form instanceof HTMLFormElement ? form.getAttribute("data-confirm") : null;
    if (question && !window.confirm(question)) e.preventDefault();
  });

  function syncAll() {
    syncDependents();
    syncShown();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", syncAll);
  } else {
    syncAll();
  }
})();
