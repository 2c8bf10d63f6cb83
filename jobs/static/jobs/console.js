/* The console's live figures: every few seconds (the user picks; "paused" stops it), the page's live
   part is fetched again as a fragment of the same page (same login, same rights) and swapped in.
   Nothing is fetched while the tab is hidden, or while the user has something selected or focused
   in that part (a refresh would drop it). No inline script anywhere: this file is all there is. */
(function () {
  "use strict";

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.classList.contains("jobs-select-all")) {
      var table = target.closest("table");
      table.querySelectorAll("input[name=target]").forEach(function (box) { box.checked = target.checked; });
    } else if (target.classList.contains("jobs-autosubmit")) {
      target.form.submit();
    }
  });

  // A "run all" / "delete all" that shows how far it got goes on by itself, a request at a time,
  // until the user follows "Stop here" (a batch already sent is finished by the server, and logged).
  var going = document.querySelector("form.jobs-continue");
  if (going) {
    var next = window.setTimeout(function () { going.submit(); }, 300);
    document.getElementById("jobs-stop").addEventListener("click", function () { window.clearTimeout(next); });
  }

  var live = document.getElementById("jobs-live");
  var select = document.getElementById("jobs-refresh");
  var state = document.getElementById("jobs-refresh-state");
  if (!live || !select) {
    return;
  }
  var KEY = "jobs-console-refresh";
  var timer = null;
  var refreshed = 0;
  try {
    var saved = window.localStorage.getItem(KEY);
    if (saved !== null && select.querySelector("option[value='" + saved + "']")) {
      select.value = saved;
    }
  } catch (e) { /* storage refused: the default interval */ }

  function busy() {
    var focused = document.activeElement;
    return live.querySelector("input[type=checkbox]:checked") !== null ||
      (focused !== null && focused !== document.body && live.contains(focused));
  }

  function schedule() {
    window.clearTimeout(timer);
    var seconds = parseInt(select.value, 10) || 0;
    if (seconds > 0) {
      timer = window.setTimeout(tick, seconds * 1000);
    } else {
      state.textContent = "paused";
    }
  }

  function tick() {
    if (document.hidden || busy()) {
      schedule();
      return;
    }
    window.fetch(live.dataset.url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) {
        if (response.redirected || !response.ok) {  // logged out, or no longer allowed: stop
          throw new Error(response.redirected ? "signed out" : "HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        live.innerHTML = html;
        refreshed += 1;
        live.dataset.refreshed = String(refreshed);
        state.textContent = "updated " + new Date().toLocaleTimeString();
      })
      .catch(function (error) {
        state.textContent = "not updated: " + error.message;
      })
      .then(schedule);
  }

  select.addEventListener("change", function () {
    try { window.localStorage.setItem(KEY, select.value); } catch (e) { /* not remembered */ }
    state.textContent = "";
    schedule();
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      schedule();
    }
  });
  schedule();
}());
