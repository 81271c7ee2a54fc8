// Timestamps as the viewer reads them: their own time zone and locale
// (the wire and the markup carry UTC ISO-8601).
const timeOfDay = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
const dayAndTime = new Intl.DateTimeFormat(undefined, {
  month: "short", day: "numeric", hour: "numeric", minute: "2-digit",
});
const fullDate = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "medium" });

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** "3:04 PM" today, "Dec 1, 3:04 PM" on other days; "" for a bad date. */
export function shortTime(date) {
  if (isNaN(date)) {
    return "";
  }
  return (sameDay(date, new Date()) ? timeOfDay : dayAndTime).format(date);
}

/** The full date and time, for hovering. */
export function fullTime(date) {
  return isNaN(date) ? "" : fullDate.format(date);
}

/** Rewrites every <time data-local> under `root` in the viewer's time. */
export function localizeTimes(root) {
  root.querySelectorAll("time[data-local]").forEach((element) => {
    const date = new Date(element.dateTime);
    if (!isNaN(date)) {
      element.textContent = shortTime(date);
      element.title = fullTime(date);
    }
  });
}
