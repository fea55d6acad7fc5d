/* changegate: the run page's live log (issue 16). Part of the package, served from /static: no CDN, no build.
   While the run is active it asks /changes/REF/run/live every few seconds and puts the run's state and log in
   place (the steps and the log, as the server renders them), without reloading the page. A button pauses and resumes it (WCAG 2.2.2); it stops by itself once the
   run ends or pauses. Without scripts the page still offers "Refresh now" and "Follow it". */
(function () {
  "use strict";
  var body = document.getElementById("run-live");
  if (!body || !body.dataset.live) { return; }
  var state = document.getElementById("run-state");
  var status = document.getElementById("live-status");
  var toggle = document.getElementById("live-toggle");
  var every = 1000 * (parseInt(body.dataset.every, 10) || 2);
  var paused = false, timer = null, lastState = state ? state.textContent : "", shown = null;

  function say(text) { if (status) { status.textContent = text; } }

  function schedule() { timer = paused ? null : window.setTimeout(poll, every); }

  function poll() {
    fetch(body.dataset.live, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (answer) {
        var json = (answer.headers.get("Content-Type") || "").indexOf("application/json") === 0;
        if (!answer.ok || !json) { throw new Error("answered " + answer.status); }
        return answer.json();
      })
      .then(function (run) {
        if (run.html !== shown) { body.innerHTML = run.html; shown = run.html; }  // rendered and escaped by the server
        if (state && run.state !== lastState) { state.textContent = run.state; lastState = run.state; }
        if (run.active) { say("Live: the log updates every " + every / 1000 + " seconds."); schedule(); }
        else { say("The run is " + run.state + ": the live log has stopped."); if (toggle) { toggle.hidden = true; } }
      })
      .catch(function (err) { say("The live log stopped (" + err.message + "); reload the page."); });
  }

  if (toggle) {
    toggle.hidden = false;
    toggle.addEventListener("click", function () {
      paused = !paused;
      toggle.textContent = paused ? "Resume the live log" : "Pause the live log";
      if (paused) { window.clearTimeout(timer); say("Paused."); } else { poll(); }
    });
  }
  say("Live: the log updates every " + every / 1000 + " seconds.");
  schedule();
}());
