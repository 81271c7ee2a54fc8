// The room page's client: one WebSocket to /chat/<label>/ that reconnects
// after a drop (exponential back-off with jitter) and loses nothing:
// - it knows up to which id it holds every message of the room (`complete`,
//   advanced along each message's previous_id) and catches up from there;
// - every message it sends carries a client_id and is resent until its echo
//   arrives, on a new socket; the server never saves a client_id twice.
// The rules and every number below are in docs/protocol.md ("What a client
// must do"). What the page shows is in the modules it imports, one part of
// the page each.
import { showAnnouncement } from "./announcement.js";
import { Composer } from "./composer.js";
import { explain } from "./error-messages.js";
import { PendingList } from "./pending.js";
import { showPresence } from "./presence.js";
import { ConnectionStatus } from "./status.js";
import { Transcript } from "./transcript.js";

const FIRST_RETRY_DELAY = 500;   // back-off: 0.5 s, doubling...
const MAX_RETRY_DELAY = 15000;   // ...up to 15 s, each wait plus up to half of it at random
const STABLE_AFTER = 5000;   // a socket open this long resets the back-off
const GAP_PATIENCE = 2000;   // broadcasts of two workers may cross; then fetch
const RESEND_AFTER = 8000;   // no echo by then: lost; reconnect and resend it there (below)
const END_FRAME_WAIT = 5000; // no end of the catch-up by then: reconnect
const SEND_BURST = 10;       // frames sent at once after a catch-up (or typed)...
const SEND_EVERY = 250;      // ...then one each 250 ms: under the socket's 5 a second
const MAX_ATTEMPTS = 5;      // the page's choice: then the message goes back into the box
const PAGE = 500;
// Errors after which the server closes the socket for good (close codes 4400-4499).
const FINAL_ERRORS = new Set(["room_not_found", "forbidden", "origin_not_allowed", "session_key_refused",
  "room_gone"]);

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
const username = document.getElementById("composer").dataset.username || null;

// Every message of the room with id <= complete is on the page.
let complete = parseInt(document.getElementById("transcript").dataset.lastId, 10) || 0;
const held = new Map();      // id -> message data, for ids > complete
let head = 0;                // the room's newest id as presence last told it
let outbox = [];             // {clientId, frame, sentAt, notBefore, attempts}, in send order
const sentHere = new Set();  // client_ids this page sent: its own echoes
let socket = null;
let caughtUp = false;        // this socket's catch-up ended: sending may start
let tokens = 0;              // frames the pacer may send now
let ended = null;            // why the server closed the room to this page for good
let retryDelay = FIRST_RETRY_DELAY;
let stableTimer = null;
let endTimer = null;
let reconnectTimer = null;
let gapTimer = null;
let fetching = false;

function showSyncProblem(text) {
  syncNote.textContent = text;
  syncNote.hidden = !text;
}

// An echo is the sender's name and the client_id together: client_ids are
// unique per sender only.
function isEcho(item, data) {
  return data.client_id === item.clientId && (username
    ? data.user && data.handle === username
    : !data.user && data.handle === item.frame.handle.trim());
}

function addMessage(data) {
  if (data.client_id) {
    outbox.filter((item) => isEcho(item, data)).forEach((item) => {
      outbox.splice(outbox.indexOf(item), 1);
      pending.remove(item.clientId);
    });
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
  // Something is held beyond a gap, or the room's head is past what we
  // hold (a lost last message): wait for crossing broadcasts, then fetch.
  if (missing() && !gapTimer) {
    gapTimer = setTimeout(() => {
      gapTimer = null;
      if (missing()) {
        fetchMissing();
      }
    }, GAP_PATIENCE);
  }
}

function missing() {
  return held.size > 0 || head > complete;
}

function fetchMissing() {
  if (fetching) {
    return;
  }
  fetching = true;
  const headAsked = head;
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
    if (page.messages.length < PAGE && head === headAsked) {
      head = 0;  // this was all there is: a head still above `complete` was deleted
    }
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
  item.sentAt = Date.now();
  item.attempts += 1;
  socket.send(JSON.stringify(item.frame));
}

// Sends what waits, oldest first, once the catch-up ended, at most
// SEND_BURST at once and then one per SEND_EVERY: a reconnect with many
// waiting frames stays inside the socket's budget.
function pump() {
  if (!isOpen() || !caughtUp) {
    return;
  }
  const now = Date.now();
  for (const item of outbox) {
    if (tokens < 1) {
      break;
    }
    if (!item.sentAt && item.notBefore <= now) {
      transmit(item);
      tokens -= 1;
    }
  }
}
setInterval(() => {
  tokens = Math.min(SEND_BURST, tokens + 1);
  pump();
}, SEND_EVERY);

function newClientId() {
  if (window.crypto && crypto.randomUUID) {
    return crypto.randomUUID();
  }
  return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
}

// The composer's message: queued in the outbox, and sent now if the socket
// is open (otherwise on reconnect); it stays listed until its echo.
function send({ handle, message }) {
  if (ended) {
    composer.refused(message, ended);
    return;
  }
  const clientId = newClientId();
  const item = {
    clientId: clientId,
    frame: { handle: handle, message: message, client_id: clientId },
    sentAt: 0,
    notBefore: 0,
    attempts: 0,
  };
  sentHere.add(clientId);
  outbox.push(item);
  pending.add(clientId, message);
  pump();
}

// Gives up on a message: out of the outbox, back into the composer.
function refuse(item, explanation) {
  outbox.splice(outbox.indexOf(item), 1);
  pending.remove(item.clientId);
  composer.refused(item.frame.message, explanation);
}

function retryLater(item, delay) {
  item.sentAt = 0;  // not in flight: the resend timer leaves it alone
  item.notBefore = Date.now() + delay;
}

function catchupEnded() {
  caughtUp = true;
  clearTimeout(endTimer);
  pump();
}

// The server closes the room to this page for good: stop, and give back
// whatever was not sent.
function endFor(explanation) {
  ended = explanation;
  outbox.slice().forEach((item) => refuse(item, explanation));
}

function handleError(data) {
  if (data.code === "catchup_truncated") {
    fetchMissing();  // from its `after`, which is where `complete` is
    catchupEnded();
    return;
  }
  if (FINAL_ERRORS.has(data.code)) {
    endFor(explain(data));
    return;
  }
  if (data.code === "not_connected") {
    // The server lost this socket's room (its session): nothing was saved;
    // a new socket resends it.
    if (isOpen()) {
      socket.close();
    }
    return;
  }
  const item = outbox.find((candidate) => candidate.clientId === data.client_id) || null;
  if (item && data.code === "rate_limited") {
    // An answer, not a send lost: only those count toward MAX_ATTEMPTS, so
    // a busy server delays a message but never makes the page drop it
    // while a later one is saved.
    item.attempts -= 1;
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
  const opened = new WebSocket(url);
  socket = opened;
  socket.onopen = () => {
    status.connected();
    pending.setConnected(true);
    // Reset the back-off only for a socket that stays up: one the server
    // closes at once must keep backing off, not hammer it.
    stableTimer = setTimeout(() => { retryDelay = FIRST_RETRY_DELAY; }, STABLE_AFTER);
    // Everything unanswered goes again on this socket, after its catch-up
    // ends (caught_up or catchup_truncated); no end in time: reconnect.
    caughtUp = false;
    tokens = SEND_BURST;
    outbox.forEach((item) => { item.sentAt = 0; });
    endTimer = setTimeout(() => {
      if (socket === opened && !caughtUp) {
        opened.close();
      }
    }, END_FRAME_WAIT);
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
    } else if (data.type === "caught_up") {
      catchupEnded();
    } else if (data.type === "error") {
      handleError(data);
    } else if (data.type === "announcement") {
      showAnnouncement(data);
    } else if (data.type === "presence") {
      showPresence(data);
      if (typeof data.head === "number" && data.head > head) {
        head = data.head;
        advance();
      }
    }
  };
  socket.onclose = (event) => {
    socket = null;
    clearTimeout(stableTimer);
    clearTimeout(endTimer);
    pending.setConnected(false);
    if (event.code >= 4400 && event.code <= 4499) {
      endFor(ended || "This room is closed to you.");
    }
    if (ended) {
      status.stopCountdown();
      status.show("closed", ended);
      return;
    }
    const delay = retryDelay + Math.random() * retryDelay / 2;
    retryDelay = Math.min(retryDelay * 2, MAX_RETRY_DELAY);
    status.reconnectingIn(delay);
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
