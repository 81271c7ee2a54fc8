// The room page's client: one WebSocket to /chat/<label>/ that reconnects
// after a drop (exponential back-off with jitter) and loses nothing:
// - it knows up to which id it holds every message of the room (`complete`,
//   advanced along each message's previous_id) and catches up from there;
// - every message it sends carries a client_id and is resent until its echo
//   arrives, on a new socket; the server never saves a client_id twice.
// The rules are in docs/protocol.md ("What a client must do").
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

  var MAX_RETRY_DELAY = 15000;
  var STABLE_AFTER = 5000;   // a socket open this long resets the back-off
  var GAP_PATIENCE = 2000;   // broadcasts of two workers may cross; then fetch
  var RESEND_AFTER = 8000;   // no echo by then: send the same client_id again
  var MAX_ATTEMPTS = 5;
  var PAGE = 500;

  // Every message of the room with id <= complete is on the page.
  var complete = parseInt(transcript.dataset.lastId, 10) || 0;
  var held = {};             // id -> message data, for ids > complete
  var shownIds = {};
  var outbox = [];           // {clientId, frame, sentAt, attempts}, in send order
  var socket = null;
  var retryDelay = 500;
  var stableTimer = null;
  var gapTimer = null;
  var fetching = false;

  Array.prototype.forEach.call(transcript.children, function (li) {
    shownIds[li.dataset.id] = true;
  });
  // Signed in, the handle is the username (the server ignores any other).
  if (!handleInput.readOnly) {
    handleInput.value = localStorage.getItem("chat.handle") || "";
  }

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

  function render(data) {
    var li = document.createElement("li");
    li.dataset.id = data.id;
    var time = document.createElement("time");
    time.dateTime = data.timestamp;
    time.textContent = formatTime(data.timestamp);
    var handle = document.createElement("span");
    handle.className = data.user ? "handle user" : "handle";
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

  function addMessage(data) {
    if (data.client_id) {
      outbox = outbox.filter(function (item) { return item.clientId !== data.client_id; });
      updateOutboxNote();
    }
    if (data.id > complete) {
      // A later copy (a fetched page) has the previous_id as it is now.
      held[data.id] = data;
    }
    if (!shownIds[data.id]) {
      shownIds[data.id] = true;
      render(data);
    }
    advance();
  }

  // Move `complete` along the chain: the lowest held id above it follows
  // on directly when its previous message is at or below `complete`.
  function advance() {
    for (;;) {
      var ids = Object.keys(held).map(Number);
      if (!ids.length) {
        break;
      }
      var lowest = Math.min.apply(null, ids);
      var previous = held[lowest].previous_id;
      if (previous !== null && previous > complete) {
        break;
      }
      complete = lowest;
      delete held[lowest];
    }
    // Something is held beyond a gap: wait for crossing broadcasts, then fetch.
    if (Object.keys(held).length && !gapTimer) {
      gapTimer = setTimeout(function () {
        gapTimer = null;
        if (Object.keys(held).length) {
          fetchMissing();
        }
      }, GAP_PATIENCE);
    }
  }

  function fetchMissing() {
    if (fetching) {
      return;
    }
    fetching = true;
    var url = "/api/rooms/" + encodeURIComponent(label) + "/messages/?limit=" + PAGE + "&after=" + complete;
    fetch(url).then(function (response) {
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      return response.json();
    }).then(function (page) {
      fetching = false;
      page.messages.forEach(addMessage);
      advance();
      if (page.messages.length === PAGE) {
        fetchMissing();
      }
    }).catch(function () {
      fetching = false;
      showError("Could not load every missed message; reload the page to see them.");
    });
  }

  function updateOutboxNote() {
    var waiting = outbox.length;
    if (waiting && (!socket || socket.readyState !== WebSocket.OPEN)) {
      showError(waiting === 1 ? "Not connected: your message will be sent when the connection is back."
        : "Not connected: " + waiting + " messages will be sent when the connection is back.");
    } else if (!waiting && errorLine.dataset.kind === "outbox") {
      showError("");
    }
    errorLine.dataset.kind = waiting ? "outbox" : "";
  }

  function transmit(item) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      item.sentAt = Date.now();
      item.attempts += 1;
      socket.send(JSON.stringify(item.frame));
    }
  }

  function handleError(data) {
    if (data.code === "catchup_truncated") {
      fetchMissing();
      return;
    }
    var item = null;
    outbox.forEach(function (candidate) {
      if (candidate.clientId === data.client_id) {
        item = candidate;
      }
    });
    if (item && data.code === "rate_limited" && item.attempts < MAX_ATTEMPTS) {
      showError("Sending too fast: trying again in " + Math.ceil(data.retry_after) + " s.");
      item.sentAt = 0;  // not in flight: the resend timer leaves it alone
      setTimeout(function () {
        if (outbox.indexOf(item) !== -1) {
          transmit(item);
        }
      }, data.retry_after * 1000);
      return;
    }
    // Not saved, or not known to be (the server lost the socket's state and
    // closes it): keep it, and resend it in a second or two (a database
    // restarting), on this socket or, once reconnected, the next one.
    if (item && data.code === "internal_error" && data.saved !== true && item.attempts < MAX_ATTEMPTS) {
      item.sentAt = 0;  // not in flight: the resend timer leaves it alone
      setTimeout(function () {
        if (outbox.indexOf(item) !== -1) {
          transmit(item);
        }
      }, 1000 * item.attempts);
      return;
    }
    if (item) {
      outbox.splice(outbox.indexOf(item), 1);
    }
    if (data.code === "internal_error" && data.saved === true) {
      fetchMissing();  // saved, but its broadcast failed: fetch it
      return;
    }
    showError(data.detail);
  }

  // The site-wide banner: the latest active announcement; one saved
  // inactive takes its own banner down.
  var banner = document.getElementById("announcement");
  var bannerId = null;
  function showAnnouncement(data) {
    if (data.active) {
      bannerId = data.id;
      banner.textContent = data.text;
      banner.hidden = false;
    } else if (data.id === bannerId) {
      bannerId = null;
      banner.hidden = true;
    }
  }

  // Who is here: signed-in users by name, the rest counted.
  var presenceLine = document.getElementById("presence");
  function showPresence(data) {
    var parts = data.users.slice();
    if (data.anonymous) {
      parts.push(data.anonymous + (data.anonymous === 1 ? " guest" : " guests"));
    }
    presenceLine.textContent = parts.length ? "Here: " + parts.join(", ") : "";
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var url = scheme + window.location.host + "/chat/" + encodeURIComponent(label) + "/?after=" + complete;
    setStatus("connecting", "Connecting…");
    socket = new WebSocket(url);
    socket.onopen = function () {
      setStatus("open", "Connected");
      // Reset the back-off only for a socket that stays up: one the server
      // closes at once must keep backing off, not hammer it.
      stableTimer = setTimeout(function () { retryDelay = 500; }, STABLE_AFTER);
      outbox.forEach(transmit);
      updateOutboxNote();
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
      } else if (data.type === "error") {
        handleError(data);
      } else if (data.type === "announcement") {
        showAnnouncement(data);
      } else if (data.type === "presence") {
        showPresence(data);
      }
    };
    socket.onclose = function () {
      socket = null;
      clearTimeout(stableTimer);
      var delay = retryDelay + Math.random() * retryDelay / 2;
      retryDelay = Math.min(retryDelay * 2, MAX_RETRY_DELAY);
      setStatus("closed", "Disconnected; reconnecting in " + Math.round(delay / 1000) + " s…");
      updateOutboxNote();
      setTimeout(connect, delay);
    };
  }

  function newClientId() {
    if (window.crypto && crypto.randomUUID) {
      return crypto.randomUUID();
    }
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    showError("");
    if (!handleInput.readOnly) {
      localStorage.setItem("chat.handle", handleInput.value);
    }
    var clientId = newClientId();
    var item = {
      clientId: clientId,
      frame: { handle: handleInput.value, message: messageInput.value, client_id: clientId },
      sentAt: 0,
      attempts: 0
    };
    outbox.push(item);
    transmit(item);
    updateOutboxNote();
    messageInput.value = "";
    messageInput.focus();
  });

  // A frame with no answer was lost on the way (a worker died with it, a
  // full channel). Later frames of the same socket would wait for it on the
  // server (per-socket order), so reconnect: onopen resends the outbox.
  setInterval(function () {
    var now = Date.now();
    var overdue = false;
    outbox = outbox.filter(function (item) {
      if (!item.sentAt || now - item.sentAt <= RESEND_AFTER) {
        return true;
      }
      if (item.attempts >= MAX_ATTEMPTS) {
        showError("A message could not be sent: " + item.frame.message.slice(0, 40));
        return false;
      }
      overdue = true;
      return true;
    });
    if (overdue && socket && socket.readyState === WebSocket.OPEN) {
      socket.close();
    }
  }, 1000);

  transcript.scrollTop = transcript.scrollHeight;
  connect();
})();
