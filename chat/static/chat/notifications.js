// On every page of a signed-in user: one WebSocket to /notifications/ that
// shows @mentions from other rooms (the room on screen shows its own), and
// reconnects with back-off. Every user string is set as textContent.
const list = document.getElementById("mentions");
const transcript = document.getElementById("transcript");
const currentRoom = transcript ? transcript.dataset.room : null;
const MAX_SHOWN = 5;
const MAX_RETRY_DELAY = 30000;
let retryDelay = 1000;

function show(data) {
  if (data.room === currentRoom) {
    return;
  }
  const item = document.createElement("li");
  const link = document.createElement("a");
  link.href = "/" + encodeURIComponent(data.room) + "/";
  link.textContent = data.from + " mentioned you in " + data.room;
  const text = document.createElement("p");
  text.className = "text";
  text.textContent = data.message;
  const dismiss = document.createElement("button");
  dismiss.type = "button";
  dismiss.className = "quiet";
  dismiss.textContent = "Dismiss";
  dismiss.setAttribute("aria-label", "Dismiss mention by " + data.from);
  dismiss.addEventListener("click", () => {
    item.remove();
    list.hidden = !list.children.length;
  });
  item.append(link, text, dismiss);
  list.prepend(item);
  list.hidden = false;
  while (list.children.length > MAX_SHOWN) {
    list.lastChild.remove();
  }
}

function connect() {
  const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
  const socket = new WebSocket(scheme + window.location.host + "/notifications/");
  let opened = 0;
  socket.onopen = () => { opened = Date.now(); };
  socket.onmessage = (event) => {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch (e) {
      return;
    }
    if (data.type === "mention") {
      show(data);
    }
  };
  socket.onclose = () => {
    // Back off unless the socket had been up a while (see chat.js).
    retryDelay = opened && Date.now() - opened > 5000 ? 1000 : Math.min(retryDelay * 2, MAX_RETRY_DELAY);
    setTimeout(connect, retryDelay + Math.random() * retryDelay / 2);
  };
}

connect();
