// The messages on screen. Every message, from the page's history, the
// socket or the API, is rendered by render() alone, so a reload looks like
// the live view: one item per message, in id order, consecutive messages
// of one sender grouped under one name and time (in the viewer's time).
// User strings are set as textContent only.
//
// It also keeps the view where the reader put it: at the bottom it follows
// new messages; scrolled up, a "new messages" button offers the way down
// instead; near the top it loads older messages through the history API.
import { fullTime, shortTime } from "./times.js";

const GROUP_WITHIN = 5 * 60 * 1000;  // a sender's messages this close share a heading
const AT_BOTTOM = 40;                // px from the end that still count as "at the bottom"
const LOAD_OLDER_WITHIN = 300;       // px from the top that load older messages
const OLDER_PAGE = 50;

export class Transcript {
  constructor(list, { scroller, jumpButton, olderButton, startNote, liveRegion }) {
    this.list = list;
    this.room = list.dataset.room;
    this.scroller = scroller;
    this.jumpButton = jumpButton;
    this.olderButton = olderButton;
    this.startNote = startNote;
    this.liveRegion = liveRegion;
    this.items = new Map();  // id -> <li>
    this.unseen = 0;         // arrived while scrolled up
    this.unread = 0;         // arrived while the tab was hidden
    this.title = document.title;
    this.loadingOlder = false;
    this.olderExist = false;

    scroller.addEventListener("scroll", () => this.onScroll(), { passive: true });
    jumpButton.addEventListener("click", () => {
      this.scrollToEnd();
      this.scroller.focus({ preventScroll: true });
    });
    olderButton.addEventListener("click", () => this.loadOlder());
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) {
        this.unread = 0;
        document.title = this.title;
      }
    });
  }

  /** The server's markup of the last messages, as message data; the markup itself goes. */
  takeHistory() {
    const history = Array.from(this.list.children, (item) => ({
      id: Number(item.dataset.id),
      previous_id: item.dataset.previousId ? Number(item.dataset.previousId) : null,
      handle: item.querySelector(".handle").textContent,
      user: item.dataset.user === "true",
      message: item.querySelector(".text").textContent,
      timestamp: item.dataset.timestamp,
    }));
    this.list.replaceChildren();
    return history;
  }

  /** Shows the page's history, the view at its end. */
  showHistory(history) {
    history.forEach((data) => this.insert(data));
    this.updateStart();
    this.scrollToEnd();
  }

  has(id) {
    return this.items.has(id);
  }

  /** A message that arrived now: `own` when this page sent it. */
  addLive(data, own) {
    const following = this.isAtEnd();
    const item = this.insert(data);
    const newest = !item.nextElementSibling;
    if (own || following) {
      this.scrollToEnd();
    } else if (newest) {
      this.unseen += 1;
      this.jumpButton.textContent = this.unseen === 1 ? "1 new message ↓" : this.unseen + " new messages ↓";
      this.jumpButton.hidden = false;
    }
    if (!own) {
      this.liveRegion.textContent = data.handle + ": " + data.message;
      if (document.hidden) {
        this.unread += 1;
        document.title = "(" + this.unread + ") " + this.title;
      }
    }
  }

  render(data) {
    const date = new Date(data.timestamp);
    const item = document.createElement("li");
    item.className = "message";
    item.dataset.id = data.id;
    item.dataset.previousId = data.previous_id === null ? "" : data.previous_id;
    item.dataset.sender = (data.user ? "user:" : "name:") + data.handle;
    item.dataset.time = date.getTime();
    item.title = fullTime(date);

    const heading = document.createElement("p");
    heading.className = "meta";
    const handle = document.createElement("span");
    handle.className = data.user ? "handle user" : "handle";
    handle.textContent = data.handle;
    const time = document.createElement("time");
    time.dateTime = data.timestamp;
    time.textContent = shortTime(date);
    heading.append(handle, " ", time);

    const text = document.createElement("p");
    text.className = "text";
    text.textContent = data.message;
    item.append(heading, text);
    return item;
  }

  /** Puts the message in id order (catch-up and live may interleave). */
  insert(data) {
    const item = this.render(data);
    let next = null;
    for (let candidate = this.list.lastElementChild; candidate; candidate = candidate.previousElementSibling) {
      if (Number(candidate.dataset.id) < data.id) {
        break;
      }
      next = candidate;
    }
    this.list.insertBefore(item, next);
    this.items.set(data.id, item);
    this.group(item);
    if (next) {
      this.group(next);
    }
    if (!item.previousElementSibling) {
      this.updateStart();
    }
    return item;
  }

  /** Hides the heading of a message that continues its sender's run. */
  group(item) {
    const before = item.previousElementSibling;
    const continues = Boolean(before) && before.dataset.sender === item.dataset.sender
      && item.dataset.time - before.dataset.time < GROUP_WITHIN;
    item.classList.toggle("continued", continues);
  }

  isAtEnd() {
    const scroller = this.scroller;
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight <= AT_BOTTOM;
  }

  scrollToEnd() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.unseen = 0;
    this.jumpButton.hidden = true;
  }

  onScroll() {
    if (this.isAtEnd()) {
      this.unseen = 0;
      this.jumpButton.hidden = true;
    }
    if (this.scroller.scrollTop < LOAD_OLDER_WITHIN) {
      this.loadOlder();
    }
  }

  /** Shows whether older messages exist: the first message's previous_id says so. */
  updateStart() {
    const first = this.list.firstElementChild;
    this.olderExist = Boolean(first) && first.dataset.previousId !== "";
    this.olderButton.hidden = !this.olderExist;
    this.startNote.hidden = this.olderExist;
    this.startNote.textContent = first ? "This is the start of the room." : "No messages yet: say hello!";
  }

  loadOlder() {
    if (this.loadingOlder || !this.olderExist) {
      return;
    }
    this.loadingOlder = true;
    this.olderButton.textContent = "Loading older messages…";
    const before = Number(this.list.firstElementChild.dataset.id);
    const url = "/api/rooms/" + encodeURIComponent(this.room) + "/messages/?limit=" + OLDER_PAGE + "&before=" + before;
    fetch(url).then((response) => {
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      return response.json();
    }).then((page) => {
      // Keep what the reader is looking at in place while the list grows above it.
      const fromEnd = this.scroller.scrollHeight - this.scroller.scrollTop;
      page.messages.forEach((data) => {
        if (!this.has(data.id)) {
          this.insert(data);
        }
      });
      if (!page.messages.length) {
        // Deleted since the page said they existed.
        this.list.firstElementChild.dataset.previousId = "";
        this.updateStart();
      }
      this.scroller.scrollTop = this.scroller.scrollHeight - fromEnd;
      this.olderButton.textContent = "Show older messages";
      this.loadingOlder = false;
      if (this.scroller.scrollTop < LOAD_OLDER_WITHIN) {
        this.loadOlder();  // still near the top: the reader wants more
      }
    }).catch(() => {
      this.loadingOlder = false;
      this.olderButton.textContent = "Older messages could not be loaded: try again";
    });
  }
}
