// On every page of a signed-in user: one WebSocket to /notifications/ that
// shows @mentions from other rooms (the room on screen shows its own), and
// reconnects with back-off. Every user string is set as textContent.
(function () {
  "use strict";

  var list = document.getElementById("mentions");
  var transcript = document.getElementById("transcript");
  var currentRoom = transcript ? transcript.dataset.room : null;
  var retryDelay = 1000;
  var MAX_RETRY_DELAY = 30000;

  function show(data) {
    if (data.room === currentRoom) {
      return;
    }
    var item = document.createElement("li");
    var link = document.createElement("a");
    link.href = "/" + encodeURIComponent(data.room) + "/";
    link.textContent = data.from + " mentioned you in " + data.room + ": ";
    var text = document.createElement("span");
    text.textContent = data.message;
    item.append(link, text);
    list.prepend(item);
    list.hidden = false;
    while (list.children.length > 5) {
      list.lastChild.remove();
    }
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + "/notifications/");
    var opened = 0;
    socket.onopen = function () { opened = Date.now(); };
    socket.onmessage = function (event) {
      var data;
      try {
        data = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (data.type === "mention") {
        show(data);
      }
    };
    socket.onclose = function () {
      // Back off unless the socket had been up a while (see chat.js).
      retryDelay = opened && Date.now() - opened > 5000 ? 1000 : Math.min(retryDelay * 2, MAX_RETRY_DELAY);
      setTimeout(connect, retryDelay + Math.random() * retryDelay / 2);
    };
  }

  connect();
})();
