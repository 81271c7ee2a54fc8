// The room page's client: one WebSocket to /chat/<label>/ that reconnects
// after a drop (exponential back-off with jitter) and loses nothing:
// - it knows up to which id it holds every message of the room (`complete`,
//   advanced along each message's previous_id) and catches up from there;
// - every message it sends carries a client_id and is resent until its echo
//   arrives, on a new socket; the server never saves a client_id twice.
// The rules are in docs/protocol.md ("What a client must do"). What the
// page shows is in the modules it imports, one part of the page each.
import { showAnnouncement } from "./announcement.js";
import { Composer } from "./composer.js";
import { explain } from "./error-messages.js";
import { PendingList } from "./pending.js";
import { showPresence } from "./presence.js";
import { ConnectionStatus } from "./status.js";
import { Transcript } from "./transcript.js";

const FIRST_RETRY_DELAY = 500;
const MAX_RETRY_DELAY = 15000;
const STABLE_AFTER = 5000;   // a socket open this long resets the back-off
const GAP_PATIENCE = 2000;   // broadcasts of two workers may cross; then fetch
const RESEND_AFTER = 8000;   // no echo by then: lost; reconnect and resend it there (below)
const MAX_ATTEMPTS = 5;
const PAGE = 500;

const transcript = new Transcript(document.getElementById("transcript"), {
  scroller: document.getElementById("scroller"),
  jumpButton: document.getElementById("jump"),
  olderButton: document.getElementById("load-older"),
  startNote: document.getElementById("history-start"),
  liveRegion: document.getElementById("live-region"),
});
const status = new ConnectionStatus(document.getElementById("status"));
const pending = new PendingList(document.getElementById("pending"));
const syncNote = document.getElementById("sync-note");
const composer = new Composer(document.getElementById("composer"), send);
const label = transcript.room;

// Every message of the room with id <= complete is on the page.
let complete = parseInt(document.getElementById("transcript").dataset.lastId, 10) || 0;
const held = new Map();      // id -> message data, for ids > complete
let outbox = [];             // {clientId, frame, sentAt, attempts}, in send order
const sentHere = new Set();  // client_ids this page sent: its own echoes
let socket = null;
let retryDelay = FIRST_RETRY_DELAY;
let stableTimer = null;
let reconnectTimer = null;
let gapTimer = null;
let fetching = false;

function showSyncProblem(text) {
  syncNote.textContent = text;
  syncNote.hidden = !text;
}

function addMessage(data) {
  if (data.client_id) {
    outbox = outbox.filter((item) => item.clientId !== data.client_id);
    pending.remove(data.client_id);
  }
  if (data.id > complete) {
    // A later copy (a fetched page) has the previous_id as it is now.
    held.set(data.id, data);
  }
  if (!transcript.has(data.id)) {
    transcript.addLive(data, sentHere.has(data.client_id));
  }
  advance();
}

// Move `complete` along the chain: the lowest held id above it follows
// on directly when its previous message is at or below `complete`.
function advance() {
  while (held.size) {
    const lowest = Math.min(...held.keys());
    const previous = held.get(lowest).previous_id;
    if (previous !== null && previous > complete) {
      break;
    }
    complete = lowest;
    held.delete(lowest);
  }
  // Something is held beyond a gap: wait for crossing broadcasts, then fetch.
  if (held.size && !gapTimer) {
    gapTimer = setTimeout(() => {
      gapTimer = null;
      if (held.size) {
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
  const url = "/api/rooms/" + encodeURIComponent(label) + "/messages/?limit=" + PAGE + "&after=" + complete;
  fetch(url).then((response) => {
    if (!response.ok) {
      throw new Error("HTTP " + response.status);
    }
    return response.json();
  }).then((page) => {
    fetching = false;
    showSyncProblem("");
    page.messages.forEach(addMessage);
    advance();
    if (page.messages.length === PAGE) {
      fetchMissing();
    }
  }).catch(() => {
    fetching = false;
    showSyncProblem("Some missed messages could not be loaded; reload the page to see them.");
  });
}

function isOpen() {
  return socket !== null && socket.readyState === WebSocket.OPEN;
}

function transmit(item) {
  if (isOpen()) {
    item.sentAt = Date.now();
    item.attempts += 1;
    socket.send(JSON.stringify(item.frame));
  }
}

function newClientId() {
  if (window.crypto && crypto.randomUUID) {
    return crypto.randomUUID();
  }
  return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
}

// The composer's message: queued in the outbox, and sent now if the socket
// is open (otherwise on reconnect); it stays listed until its echo.
function send({ handle, message }) {
  const clientId = newClientId();
  const item = {
    clientId: clientId,
    frame: { handle: handle, message: message, client_id: clientId },
    sentAt: 0,
    attempts: 0,
  };
  sentHere.add(clientId);
  outbox.push(item);
  pending.add(clientId, message);
  transmit(item);
}

// Gives up on a message: out of the outbox, back into the composer.
function refuse(item, explanation) {
  outbox.splice(outbox.indexOf(item), 1);
  pending.remove(item.clientId);
  composer.refused(item.frame.message, explanation);
}

function retryLater(item, delay) {
  item.sentAt = 0;  // not in flight: the resend timer leaves it alone
  setTimeout(() => {
    if (outbox.includes(item)) {
      transmit(item);
    }
  }, delay);
}

function handleError(data) {
  if (data.code === "catchup_truncated") {
    fetchMissing();
    return;
  }
  const item = outbox.find((candidate) => candidate.clientId === data.client_id) || null;
  if (item && data.code === "rate_limited" && item.attempts < MAX_ATTEMPTS) {
    pending.note(item.clientId, "Sending too fast: trying again in " + Math.ceil(data.retry_after) + " s…");
    retryLater(item, data.retry_after * 1000);
    return;
  }
  // Not saved, or not known to be (the server lost the socket's state and
  // closes it): keep it, and resend it in a second or two (a database
  // restarting), on this socket or, once reconnected, the next one.
  if (item && data.code === "internal_error" && data.saved !== true && item.attempts < MAX_ATTEMPTS) {
    retryLater(item, 1000 * item.attempts);
    return;
  }
  if (data.code === "internal_error" && data.saved === true) {
    if (item) {
      outbox.splice(outbox.indexOf(item), 1);
      pending.remove(item.clientId);
    }
    fetchMissing();  // saved, but its broadcast failed: fetch it
    return;
  }
  if (item) {
    refuse(item, explain(data));
  } else {
    composer.showError(explain(data));
  }
}

function connect() {
  reconnectTimer = null;
  const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
  const url = scheme + window.location.host + "/chat/" + encodeURIComponent(label) + "/?after=" + complete;
  status.connecting();
  socket = new WebSocket(url);
  socket.onopen = () => {
    status.connected();
    pending.setConnected(true);
    // Reset the back-off only for a socket that stays up: one the server
    // closes at once must keep backing off, not hammer it.
    stableTimer = setTimeout(() => { retryDelay = FIRST_RETRY_DELAY; }, STABLE_AFTER);
    outbox.forEach(transmit);
  };
  socket.onmessage = (event) => {
    let data;
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
  socket.onclose = () => {
    socket = null;
    clearTimeout(stableTimer);
    const delay = retryDelay + Math.random() * retryDelay / 2;
    retryDelay = Math.min(retryDelay * 2, MAX_RETRY_DELAY);
    status.reconnectingIn(delay);
    pending.setConnected(false);
    reconnectTimer = setTimeout(connect, delay);
  };
}

// Back on the network: try now rather than at the end of the back-off
// (which stays as it is: only a stable socket resets it).
window.addEventListener("online", () => {
  if (reconnectTimer !== null) {
    clearTimeout(reconnectTimer);
    connect();
  }
});

// A frame with no answer was lost on the way (a worker died with it, a
// full channel). Later frames of the same socket would wait for it on the
// server (per-socket order), so reconnect: onopen resends the outbox.
setInterval(() => {
  const now = Date.now();
  let overdue = false;
  outbox.slice().forEach((item) => {
    if (!item.sentAt || now - item.sentAt <= RESEND_AFTER) {
      return;
    }
    if (item.attempts >= MAX_ATTEMPTS) {
      refuse(item, "This message got no answer from the server after " + MAX_ATTEMPTS
        + " tries and was not sent; it is back in the box to try again.");
      return;
    }
    overdue = true;
  });
  if (overdue && isOpen()) {
    socket.close();
  }
}, 1000);

transcript.showHistory(transcript.takeHistory());
composer.focus();
connect();
