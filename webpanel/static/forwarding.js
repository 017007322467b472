/* Advanced Forwarding Option: grey out (and disable) the parts that do not apply, refresh the
   plain-language summary from the server as the form changes, fill the form from a preset.
   Without this script the page still works: parts are marked, the summary is the saved one,
   presets are submit buttons the server answers. */
(function () {
  "use strict";
  var form = document.getElementById("fwd-form");
  if (!form) {
    return;
  }
  var summary = document.getElementById("fwd-summary");
  var url = form.getAttribute("data-summary-url");

  function value(name) {
    var checked = form.querySelector('input[name="' + name + '"]:checked');
    return checked ? checked.value : "";
  }
  function on(name) {
    var box = form.querySelector('input[type="checkbox"][name="' + name + '"]');
    return !!(box && box.checked);
  }
  function setOff(id, off) {
    var part = document.getElementById(id);
    if (!part) {
      return;
    }
    part.disabled = off;
    part.setAttribute("data-off", off ? "true" : "false");
    if (off) {
      part.setAttribute("aria-disabled", "true");
    } else {
      part.removeAttribute("aria-disabled");
    }
    var why = document.getElementById(part.getAttribute("aria-describedby"));
    if (why) {
      why.hidden = !off;
    }
  }
  function applyState() {
    var step1 = value("step1");
    var hours = on("hours_enabled");
    var after = value("after_hours_step1");
    var step2 = step1 === "none" || (hours && after === "none");
    setOff("step1-list", step1 !== "ring_list");
    setOff("device-part", !step2);
    setOff("step2", !step2);
    var step2Why = document.getElementById("step2-why");
    if (step2Why) {
      step2Why.hidden = step2;
    }
    setOff("hours", !hours);
    var hoursWhy = document.getElementById("hours-why");
    if (hoursWhy) {
      hoursWhy.hidden = hours;
    }
    setOff("after-list", !(hours && after === "ring_list"));
    var dndWhy = document.getElementById("dnd-why");
    if (dndWhy) {
      dndWhy.hidden = !on("dnd");
    }
  }

  var timer = null;
  var asked = 0;
  function refresh() {
    if (!summary || !url || !window.fetch) {
      return;
    }
    var ticket = ++asked;
    fetch(url, { method: "POST", body: new FormData(form), credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html !== null && ticket === asked) {
          summary.innerHTML = html;
          summary.setAttribute("data-refreshed", String(ticket));
        }
      })
      .catch(function () {});
  }
  function changed() {
    applyState();
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 250);
  }

  function fill(values) {
    Object.keys(values).forEach(function (name) {
      var v = values[name];
      var fields = form.querySelectorAll('[name="' + name + '"]');
      fields.forEach(function (el) {
        if (el.type === "radio") {
          el.checked = el.value === String(v);
        } else if (el.type === "checkbox") {
          el.checked = !!v;
        } else {
          el.value = String(v);
        }
      });
    });
  }

  form.querySelectorAll("button[data-preset]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      event.preventDefault();
      fill(JSON.parse(button.getAttribute("data-preset")));
      if (button.value !== "vacation") {
        fill({ hours_enabled: false });
      }
      var note = document.getElementById("preset-note");
      if (note) {
        note.hidden = false;
      }
      changed();
      if (button.getAttribute("data-needs-cell") === "true") {
        var cell = document.getElementById("step1_numbers");
        if (cell) {
          cell.focus();
        }
      }
    });
  });

  form.addEventListener("change", changed);
  form.addEventListener("input", changed);
  applyState();
})();
