// Who is here (presence frames from `manage.py runpresence`): signed-in
// users and the guests who wrote, by name, the other guests counted. The
// panel stays hidden until the first frame: under runserver, or with no
// presence process running, none ever comes, and an empty "Here now"
// would say the room is empty.
//
// A guest's name is known once it wrote (the handshake carries none), and
// the guest count includes this page. So this page lists itself by the
// name typed here, "(you)", and counts only the others.
const panel = document.getElementById("presence");
const list = document.getElementById("presence-list");
const guests = document.getElementById("presence-guests");
const username = document.getElementById("composer").dataset.username || null;
const handleInput = document.getElementById("handle");

let last = null;

function item(name, isYou) {
  const entry = document.createElement("li");
  if (isYou) {
    entry.className = "you";
    entry.textContent = name ? name + " (you)" : "You";
  } else {
    entry.textContent = name;
  }
  return entry;
}

function render() {
  const names = last.users.map((name) => item(name, name === username));
  const guestNames = (last.guests || []).slice();
  // Guest sockets with no name yet (a guest may have several tabs: at least 0).
  let others = Math.max(0, last.anonymous - guestNames.length);
  if (!username) {
    const own = handleInput ? handleInput.value.trim() : "";
    const index = guestNames.indexOf(own);
    if (own && index >= 0) {
      guestNames.splice(index, 1);
    } else {
      // This page is one of the unnamed (at most, for a frame made just
      // before its socket's connect was: the next one counts it).
      others = Math.max(0, others - 1);
    }
    names.unshift(item(own, true));
  }
  names.push(...guestNames.map((name) => item(name, false)));
  list.replaceChildren(...names);
  const guestWord = others === 1 ? " guest" : " guests";
  guests.textContent = others ? (names.length ? "and " : "") + others + guestWord : "";
  panel.hidden = false;
}

export function showPresence(frame) {
  last = frame;
  render();
}

if (handleInput) {
  handleInput.addEventListener("input", () => { if (last) render(); });
}
