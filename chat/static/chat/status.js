// The connection indicator: connecting, connected, reconnecting (counting
// down to the next attempt) or offline (the browser says the network is
// gone). data-state carries the state for styles and tests.
export class ConnectionStatus {
  constructor(element) {
    this.element = element;
    this.countdown = null;
    this.open = false;
    this.everConnected = false;
    window.addEventListener("offline", () => this.showOffline());
  }

  show(state, text) {
    this.element.dataset.state = state;
    this.element.textContent = text;
  }

  showOffline() {
    if (!this.open) {
      this.stopCountdown();
      this.show("offline", "Offline: messages you send wait for the connection");
    }
  }

  stopCountdown() {
    clearInterval(this.countdown);
    this.countdown = null;
  }

  connecting() {
    this.stopCountdown();
    if (!navigator.onLine) {
      this.showOffline();
    } else if (this.everConnected) {
      this.show("reconnecting", "Reconnecting…");
    } else {
      this.show("connecting", "Connecting…");
    }
  }

  connected() {
    this.open = true;
    this.everConnected = true;
    this.stopCountdown();
    this.show("connected", "Connected");
  }

  /** The socket closed; the next attempt is in `delay` ms. */
  reconnectingIn(delay) {
    this.open = false;
    this.stopCountdown();
    if (!navigator.onLine) {
      this.showOffline();
      return;
    }
    // The countdown is for the eye: a status region that spoke every
    // second would drown out everything else for a screen reader.
    this.show("reconnecting", "Connection lost: reconnecting");
    const countdown = document.createElement("span");
    countdown.setAttribute("aria-hidden", "true");
    this.element.append(countdown);
    const due = Date.now() + delay;
    const tick = () => {
      countdown.textContent = " in " + Math.max(1, Math.ceil((due - Date.now()) / 1000)) + " s…";
    };
    tick();
    this.countdown = setInterval(tick, 1000);
  }
}
