// The room page's client: one WebSocket to /chat/<label>/ that reconnects
// after a drop (exponential back-off with jitter) and asks for what it
// missed with ?after=<last id>. Messages are keyed by id: a message that
// arrives twice is shown once, and the transcript stays in id order.
// Every user-supplied string is set as textContent, never as HTML.
(function () {
  "use strict";

  var transcript = document.getElementById("transcript");
  var statusLine = document.getElementById("status");
  var errorLine = document.getElementById("error");
  var form = document.getElementById("chatform");
  var handleInput = document.getElementById("handle");
  var messageInput = document.getElementById("message");
  var label = transcript.dataset.room;
  var lastId = parseInt(transcript.dataset.lastId, 10) || 0;
  var shownIds = {};
  var socket = null;
  var retryDelay = 500;
  var MAX_RETRY_DELAY = 15000;

  Array.prototype.forEach.call(transcript.children, function (li) {
    shownIds[li.dataset.id] = true;
  });
  handleInput.value = localStorage.getItem("chat.handle") || "";

  function setStatus(state, text) {
    statusLine.dataset.state = state;
    statusLine.textContent = text;
  }

  function showError(text) {
    errorLine.textContent = text;
    errorLine.hidden = !text;
  }

  function formatTime(iso) {
    var date = new Date(iso);
    return isNaN(date) ? "" : date.toLocaleTimeString();
  }

  function addMessage(data) {
    if (shownIds[data.id]) {
      return;
    }
    shownIds[data.id] = true;
    lastId = Math.max(lastId, data.id);
    var li = document.createElement("li");
    li.dataset.id = data.id;
    var time = document.createElement("time");
    time.dateTime = data.timestamp;
    time.textContent = formatTime(data.timestamp);
    var handle = document.createElement("span");
    handle.className = "handle";
    handle.textContent = data.handle;
    var message = document.createElement("span");
    message.className = "message";
    message.textContent = data.message;
    li.append(time, handle, " ", message);
    // Catch-up and live messages may interleave: insert by id.
    var next = null;
    for (var i = transcript.children.length - 1; i >= 0; i--) {
      if (parseInt(transcript.children[i].dataset.id, 10) < data.id) {
        break;
      }
      next = transcript.children[i];
    }
    var atBottom = transcript.scrollTop + transcript.clientHeight >= transcript.scrollHeight - 5;
    transcript.insertBefore(li, next);
    if (atBottom) {
      transcript.scrollTop = transcript.scrollHeight;
    }
  }

  function fetchAfter(after) {
    // Used when a catch-up was longer than the server sends over the socket.
    var url = "/api/rooms/" + encodeURIComponent(label) + "/messages/?limit=500&after=" + after;
    fetch(url).then(function (response) {
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      return response.json();
    }).then(function (page) {
      page.messages.forEach(addMessage);
      if (page.messages.length === 500) {
        fetchAfter(page.messages[page.messages.length - 1].id);
      }
    }).catch(function () {
      showError("Could not load every missed message; reload the page to see them.");
    });
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var url = scheme + window.location.host + "/chat/" + encodeURIComponent(label) + "/?after=" + lastId;
    setStatus("connecting", "Connecting…");
    socket = new WebSocket(url);
    socket.onopen = function () {
      retryDelay = 500;
      setStatus("open", "Connected");
    };
    socket.onmessage = function (event) {
      var data;
      try {
        data = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (data.type === "message") {
        addMessage(data);
      } else if (data.type === "error" && data.code === "catchup_truncated") {
        fetchAfter(lastId);
      } else if (data.type === "error") {
        showError(data.detail);
      }
    };
    socket.onclose = function () {
      socket = null;
      var delay = retryDelay + Math.random() * retryDelay / 2;
      retryDelay = Math.min(retryDelay * 2, MAX_RETRY_DELAY);
      setStatus("closed", "Disconnected; reconnecting in " + Math.round(delay / 1000) + " s…");
      setTimeout(connect, delay);
    };
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      showError("Not connected yet; your message was not sent.");
      return;
    }
    showError("");
    localStorage.setItem("chat.handle", handleInput.value);
    socket.send(JSON.stringify({ handle: handleInput.value, message: messageInput.value }));
    messageInput.value = "";
    messageInput.focus();
  });

  transcript.scrollTop = transcript.scrollHeight;
  connect();
})();
