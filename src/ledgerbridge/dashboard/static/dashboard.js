// LedgerBridge dashboard: small progressive enhancements. Every page works without this script.
(function () {
  "use strict";

  // Dead letters: "select all" checkbox.
  var all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll('input[name="ids"][form="retry-many"]:not([disabled])').forEach(function (box) {
        box.checked = all.checked;
      });
    });
  }

  // JSON payload editor: check as you type, refuse to submit invalid JSON, offer formatting.
  document.querySelectorAll("textarea[data-json]").forEach(function (area) {
    var error = document.getElementById(area.id + "-error");
    function check() {
      try {
        var value = JSON.parse(area.value);
        if (value === null || typeof value !== "object" || Array.isArray(value)) {
          throw new Error("the payload must be a JSON object ({...})");
        }
        area.classList.remove("invalid");
        if (error) { error.hidden = true; error.textContent = ""; }
        return true;
      } catch (e) {
        area.classList.add("invalid");
        if (error) { error.hidden = false; error.textContent = "Invalid JSON: " + e.message; }
        return false;
      }
    }
    area.addEventListener("input", check);
    if (area.form) {
      area.form.addEventListener("submit", function (event) {
        if (!check()) { event.preventDefault(); area.focus(); }
      });
    }
  });
  document.querySelectorAll("button[data-format]").forEach(function (button) {
    button.addEventListener("click", function () {
      var area = document.getElementById(button.getAttribute("data-format"));
      try { area.value = JSON.stringify(JSON.parse(area.value), null, 2); } catch (e) { /* check() reports it */ }
      area.dispatchEvent(new Event("input"));
    });
  });

  // Conflicts: typing a value selects the "other" choice of that field.
  document.querySelectorAll("input.typed[data-for]").forEach(function (input) {
    input.addEventListener("input", function () {
      var radio = document.querySelector('input[type="radio"][name="' + input.getAttribute("data-for") +
        '"][value="value"]');
      if (radio) { radio.checked = true; }
    });
  });

  // Overview: optional auto-refresh, remembered in this browser.
  var refresh = document.getElementById("autorefresh");
  if (refresh) {
    var key = "ledgerbridge.autorefresh";
    refresh.checked = window.localStorage.getItem(key) === "1";
    var timer = null;
    function arm() {
      if (timer) { window.clearTimeout(timer); timer = null; }
      if (refresh.checked) { timer = window.setTimeout(function () { window.location.reload(); }, 15000); }
    }
    refresh.addEventListener("change", function () {
      window.localStorage.setItem(key, refresh.checked ? "1" : "0");
      arm();
    });
    arm();
  }
})();
