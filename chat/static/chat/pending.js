// Messages sent but not yet echoed by the server, shown under the
// transcript so nothing typed disappears silently: "sending" while the
// socket is open, "waiting for the connection" while it is not.
export class PendingList {
  constructor(list) {
    this.list = list;
    this.connected = false;
  }

  itemFor(clientId) {
    return Array.from(this.list.children).find((item) => item.dataset.clientId === clientId) || null;
  }

  add(clientId, text) {
    const item = document.createElement("li");
    item.dataset.clientId = clientId;
    const body = document.createElement("p");
    body.className = "text";
    body.textContent = text;
    const state = document.createElement("span");
    state.className = "pending-state";
    item.append(body, state);
    this.list.append(item);
    this.describe(item);
  }

  remove(clientId) {
    const item = this.itemFor(clientId);
    if (item) {
      item.remove();
    }
  }

  /** A passing note on one message (a rate limit's wait), until the next state change. */
  note(clientId, text) {
    const item = this.itemFor(clientId);
    if (item) {
      item.querySelector(".pending-state").textContent = text;
    }
  }

  setConnected(connected) {
    this.connected = connected;
    Array.from(this.list.children).forEach((item) => this.describe(item));
  }

  describe(item) {
    item.dataset.state = this.connected ? "sending" : "waiting";
    item.querySelector(".pending-state").textContent = this.connected
      ? "Sending…" : "Not sent yet: will be sent when the connection is back";
  }
}
