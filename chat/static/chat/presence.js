// Who is here (presence frames): signed-in users by name, the rest counted.
const list = document.getElementById("presence-list");
const guests = document.getElementById("presence-guests");

export function showPresence(frame) {
  list.replaceChildren(...frame.users.map((name) => {
    const item = document.createElement("li");
    item.textContent = name;
    return item;
  }));
  const count = frame.anonymous;
  guests.textContent = count ? (frame.users.length ? "and " : "") + count + (count === 1 ? " guest" : " guests") : "";
}
