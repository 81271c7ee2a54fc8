// The site-wide banner: the latest active announcement. Saved inactive, it
// takes its own banner down; dismissed, it stays down until another comes.
const banner = document.getElementById("announcement");
const text = document.getElementById("announcement-text");
let shownId = null;
let dismissedId = null;

document.getElementById("announcement-dismiss").addEventListener("click", () => {
  dismissedId = shownId;
  banner.hidden = true;
});

export function showAnnouncement(frame) {
  if (frame.active) {
    shownId = frame.id;
    text.textContent = frame.text;
    banner.hidden = frame.id === dismissedId;
  } else if (frame.id === shownId) {
    shownId = null;
    banner.hidden = true;
  }
}
