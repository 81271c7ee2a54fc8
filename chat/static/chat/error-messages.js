// Error frames in words a person understands (docs/protocol.md, "Errors").
// `code` is stable; the server's `detail` is the fallback for codes added later.
import { MESSAGE_LIMIT } from "./composer.js";

const limit = MESSAGE_LIMIT.toLocaleString();

const EXPLANATIONS = {
  invalid_message: "That message was not sent: it contains characters that cannot be sent "
    + "(such as control characters), or the name is missing or over 64 characters.",
  invalid_json: "That message was not sent: the server could not read it. Please try again.",
  message_too_long: "That message is too long to send: the limit is " + limit + " characters.",
  room_gone: "This room has been deleted: nothing more can be sent here.",
  rate_limited: "You are sending faster than the room allows; wait a moment and send again.",
  internal_error: "The server could not save that message. Please try again in a moment.",
};

export function explain(frame) {
  return EXPLANATIONS[frame.code] || frame.detail || "That message was not sent.";
}
