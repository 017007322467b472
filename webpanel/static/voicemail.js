/* The voicemail player (webpanel/voicemail): play, pause, stop and the elapsed time of the
   current message, and the record button, which records the mailbox's greeting with the
   microphone (MediaRecorder) and uploads it (CSRF token from the page's upload form).
   Previous, next, download, save and delete are links and forms: they work without script.
   No inline script (the CSP allows scripts from our origin only); texts come translated in
   data-t-* attributes of #vm-player. */
(function () {
  "use strict";

  var player = document.getElementById("vm-player");
  if (!player) { return; }

  function $(id) { return document.getElementById(id); }
  function text(name) { return player.getAttribute("data-t-" + name) || ""; }
  function mmss(seconds) {
    seconds = Math.max(0, Math.floor(seconds || 0));
    var m = Math.floor(seconds / 60), s = seconds % 60;
    return (m < 10 ? "0" : "") + m + ":" + (s < 10 ? "0" : "") + s;
  }

  Array.prototype.forEach.call(player.querySelectorAll(".vm-js"), function (el) { el.hidden = false; });

  /* ----- the message player */
  var audio = $("vm-audio");
  var elapsed = $("vm-elapsed");

  function showState() {
    if (!audio) { return; }
    var playing = !audio.paused && !audio.ended;
    player.classList.toggle("vm-playing", playing);
    $("vm-play").setAttribute("aria-pressed", playing ? "true" : "false");
  }

  if (audio) {
    audio.controls = false;
    audio.addEventListener("timeupdate", function () { elapsed.textContent = mmss(audio.currentTime); });
    /* the total stays the server's (filters.length): the list and the player show one length */
    ["play", "pause", "ended"].forEach(function (name) { audio.addEventListener(name, showState); });
    audio.addEventListener("ended", function () { elapsed.textContent = mmss(0); audio.currentTime = 0; });

    $("vm-play").addEventListener("click", function () { audio.play().catch(function () {}); });
    $("vm-pause").addEventListener("click", function () { audio.pause(); });
    $("vm-stop").addEventListener("click", function () {
      audio.pause();
      audio.currentTime = 0;
      elapsed.textContent = mmss(0);
    });
    /* moving on while a message plays goes on playing the next one */
    ["vm-prev", "vm-next"].forEach(function (id) {
      var link = $(id);
      if (!link || link.tagName !== "A") { return; }
      link.addEventListener("click", function () {
        if (!audio.paused) { link.href += (link.href.indexOf("?") < 0 ? "?" : "&") + "play=1"; }
      });
    });
    if (player.getAttribute("data-autoplay") === "1") { audio.play().catch(function () {}); }
  }

  /* ----- the greeting, recorded in the browser */
  var recordButton = $("vm-record");
  var recordLabel = recordButton.querySelector(".vm-record-label");
  var status = $("vm-greeting-status");
  var greetingAudio = $("vm-greeting-audio");
  var form = $("vm-greeting-form");
  var maxSeconds = parseInt(player.getAttribute("data-max-seconds"), 10) || 60;
  var recorder = null, chunks = [], started = 0, ticker = null, limiter = null, stream = null;

  function say(message, kind) {
    status.textContent = message;
    status.classList.toggle("vm-error", kind === "error");
    status.classList.toggle("vm-busy", kind === "busy");
  }

  function pickType() {
    var types = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/webm", "audio/mp4"];
    if (!window.MediaRecorder || !MediaRecorder.isTypeSupported) { return ""; }
    for (var i = 0; i < types.length; i++) {
      if (MediaRecorder.isTypeSupported(types[i])) { return types[i]; }
    }
    return "";
  }

  function extension(type) {
    if (type.indexOf("ogg") >= 0) { return "ogg"; }
    if (type.indexOf("mp4") >= 0) { return "m4a"; }
    return "webm";
  }

  function tick() {
    var seconds = (Date.now() - started) / 1000;
    say(text("recording").replace("{elapsed}", mmss(seconds)).replace("{limit}", mmss(maxSeconds)), "busy");
  }

  function setRecording(on) {
    player.classList.toggle("vm-recording", on);
    recordButton.setAttribute("aria-pressed", on ? "true" : "false");
    recordLabel.textContent = on ? text("stop-recording") : text("record");
  }

  function release() {
    clearInterval(ticker);
    clearTimeout(limiter);
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
    stream = null;
  }

  function upload(blob, type) {
    var data = new FormData(form);
    data.set("greeting", blob, "greeting." + extension(type));
    say(text("uploading"), "busy");
    recordButton.disabled = true;
    fetch(form.action, {method: "POST", body: data, credentials: "same-origin",
                        headers: {"Accept": "application/json"}})
      .then(function (response) {
        return response.json().catch(function () { return {ok: false, message: text("failed")}; });
      })
      .then(function (reply) {
        say(reply.message || text("failed"), reply.ok ? "" : "error");
        if (reply.ok) {
          greetingAudio.src = reply.audio_url + (reply.audio_url.indexOf("?") < 0 ? "?" : "&") + "t=" + Date.now();
          greetingAudio.hidden = false;
          $("vm-greeting-default-form").hidden = false;
          player.setAttribute("data-greeting-saved", String(Date.now()));
        }
      })
      .catch(function () { say(text("failed"), "error"); })
      .then(function () { recordButton.disabled = false; });
  }

  function start() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.MediaRecorder) {
      say(text("unsupported"), "error");
      return;
    }
    navigator.mediaDevices.getUserMedia({audio: true}).then(function (s) {
      stream = s;
      var type = pickType();
      recorder = type ? new MediaRecorder(s, {mimeType: type}) : new MediaRecorder(s);
      chunks = [];
      recorder.addEventListener("dataavailable", function (e) { if (e.data && e.data.size) { chunks.push(e.data); } });
      recorder.addEventListener("stop", function () {
        var used = recorder.mimeType || type || "audio/webm";
        release();
        setRecording(false);
        recorder = null;
        upload(new Blob(chunks, {type: used}), used);
      });
      if (audio) { audio.pause(); }
      recorder.start(250);
      started = Date.now();
      setRecording(true);
      tick();
      ticker = setInterval(tick, 250);
      limiter = setTimeout(stop, maxSeconds * 1000);
    }).catch(function () {
      release();
      say(text("no-mic"), "error");
    });
  }

  function stop() {
    if (recorder && recorder.state !== "inactive") { recorder.stop(); }
  }

  recordButton.addEventListener("click", function () {
    if (recorder) { stop(); } else { start(); }
  });
}());
