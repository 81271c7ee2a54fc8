// The message box: Enter sends, Shift+Enter adds a line; it keeps focus
// after sending, counts toward the limit as you near it, refuses what the
// server would refuse before clearing anything, and takes back a message
// the server refused, so a draft is never lost.
export const MESSAGE_LIMIT = 2000;       // characters, after trimming (docs/protocol.md)
const COUNT_FROM = MESSAGE_LIMIT - 200;  // show the count only near the limit
const MAX_ROWS = 8;
const HANDLE_KEY = "chat.handle";

// The server counts characters (code points), not UTF-16 units.
function length(text) {
  return Array.from(text.trim()).length;
}

export class Composer {
  /** onSend({handle, message}) is called with a message that may be sent. */
  constructor(form, onSend) {
    this.form = form;
    this.onSend = onSend;
    this.username = form.dataset.username || null;
    this.handleInput = form.querySelector("#handle");
    this.messageInput = form.querySelector("#message");
    this.count = form.querySelector("#message-count");
    this.error = form.querySelector("#composer-error");

    if (this.handleInput) {
      this.handleInput.value = localStorage.getItem(HANDLE_KEY) || "";
      this.handleInput.addEventListener("change", () => {
        localStorage.setItem(HANDLE_KEY, this.handleInput.value.trim());
      });
    }
    this.messageInput.addEventListener("keydown", (event) => {
      // isComposing: Enter that confirms an IME composition is not a send.
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.form.requestSubmit();
      }
    });
    this.messageInput.addEventListener("input", () => this.update());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.update();
  }

  /** Focus where typing goes first: the name while there is none. */
  focus() {
    (this.handleInput && !this.handleInput.value.trim() ? this.handleInput : this.messageInput).focus();
  }

  submit() {
    const message = this.messageInput.value;
    if (!message.trim()) {
      this.messageInput.focus();
      return;
    }
    const handle = this.username || this.handleInput.value.trim();
    if (!handle) {
      this.showError("Type your name first: it is shown with your messages.");
      this.handleInput.focus();
      return;
    }
    const over = length(message) - MESSAGE_LIMIT;
    if (over > 0) {
      this.showError("This message is " + length(message).toLocaleString() + " characters; the limit is "
        + MESSAGE_LIMIT.toLocaleString() + ". Shorten it by " + over.toLocaleString() + " to send it.");
      this.messageInput.focus();
      return;
    }
    if (this.handleInput) {
      localStorage.setItem(HANDLE_KEY, handle);
    }
    this.showError("");
    // Emptied first: a message refused at once (the room closed to this
    // page) is put back by refused(), not cleared after it.
    this.messageInput.value = "";
    this.onSend({ handle: handle, message: message });
    this.update();
    this.messageInput.focus();
  }

  /** The server refused `text`: put it back (before anything typed since) and say why. */
  refused(text, explanation) {
    if (text) {
      const typedSince = this.messageInput.value;
      this.messageInput.value = typedSince ? text + "\n" + typedSince : text;
      this.update();
    }
    this.showError(explanation);
  }

  showError(text) {
    this.error.textContent = text;
    this.error.hidden = !text;
  }

  update() {
    const used = length(this.messageInput.value);
    this.count.hidden = used < COUNT_FROM;
    this.count.dataset.over = used > MESSAGE_LIMIT;
    this.count.textContent = used.toLocaleString() + " / " + MESSAGE_LIMIT.toLocaleString()
      + (used > MESSAGE_LIMIT ? " characters: " + (used - MESSAGE_LIMIT).toLocaleString() + " too many" : " characters");
    this.messageInput.setAttribute("aria-invalid", used > MESSAGE_LIMIT);
    // Grow with the text up to MAX_ROWS lines, then scroll inside.
    const input = this.messageInput;
    input.style.height = "auto";
    const style = getComputedStyle(input);
    const borders = parseFloat(style.borderTopWidth) + parseFloat(style.borderBottomWidth);
    const padding = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom);
    const tallest = parseFloat(style.lineHeight) * MAX_ROWS + padding + borders;
    input.style.height = Math.min(input.scrollHeight + borders, tallest) + "px";
  }
}
