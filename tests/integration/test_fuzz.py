"""
A bounded fuzz run over real sockets, against the shared stack.

With one fixed seed (CHAT_FUZZ_SEED overrides it; every failure names it),
the run sends a few hundred random frames over several sockets into a
fresh room (invalid UTF-8 and random bytes as binary frames, text that is
not JSON, huge and deeply nested JSON, JSON of the wrong types, control
characters, overlong handles and messages, odd and invalid client_ids,
resends), a few text frames of invalid UTF-8 on throwaway sockets, and a
bounded number of random WebSocket handshakes (odd paths, percent-
encodings, long and Unicode labels, odd `?after=` query strings) on raw
TCP connections.

Every fuzz frame is followed on its socket by a sentinel (a valid chat
frame with a client_id of its own). Frames of one socket are answered in
order, so whatever the socket receives between the echoes of two of its
own sentinels answers exactly the one fuzz frame in between: one error
frame, or the frame's own broadcast.

The oracle is independent of the server: `expectation()`, which says which
answers each frame may get, is a reading of docs/protocol.md ("Sending",
"Errors") with its limits written out below (FRAME_LIMIT, HANDLE_MAX,
MESSAGE_MAX, the control-character and client_id patterns). Nothing of
chat/ is imported, so a rule chat/frames.py gets wrong cannot also be wrong
in what this test expects. Where the document leaves an answer open (a null
client_id, control characters that trimming removes, lone surrogates,
Python's own JSON quirks) the oracle allows both answers instead of asking
the server which one it chose.

The run happens once per database (the `fuzz_run` fixture); the tests
then check, each on its own: every process of the stack is alive with the
pid it had; nothing malformed was saved in the room; a normal chat still
works; every handshake was accepted or refused with a 4xx, never a 5xx or
a hang, and an accepted one got what its `?after=` asks for; every fuzz
frame got one well-formed answer.

Budgets: the shared stack runs with TEST_BUDGETS (tests/support/
chat_stack.py: 100 frames a second and a burst of 500 per socket, no
per-address budgets). No socket here sends more than about 150 frames in
all, over some 15 seconds, so a `rate_limited` answer or a 1013 close is
a failure.
"""
import json
import os
import random
import re
import socket
import string
import struct
import time
import urllib.parse
from collections import Counter

import pytest
import websocket

from .conftest import assert_error_frame, assert_message_frame, chat_path, create_room, open_socket, unique_label

# What this module tests does not depend on the database (conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.one_database]

SEED = int(os.environ.get("CHAT_FUZZ_SEED", "20240917"))

SOCKETS = 5            # sockets sending fuzz frames into the room at once
ROUNDS = 30            # each socket sends 1 to MAX_PER_ROUND fuzz frames a round
MAX_PER_ROUND = 3
ROUND_TIMEOUT = 15.0   # seconds for every socket to see every sentinel of a round
MAX_RESYNCS = 3        # rounds that may end in a timeout or a lost socket before the run stops
UTF8_TEXT_SOCKETS = 4  # throwaway sockets that send a text frame of invalid UTF-8
HANDSHAKES = 32         # random ones, after one of each kind of path and of ?after= value
HANDSHAKE_TIMEOUT = 15.0
BIG_FRAME = 60000      # the largest fuzz frame, below CHAT_MAX_FRAME_SIZE (65536), which closes the socket

# The input rules of docs/protocol.md, hard-coded on purpose (see the module docstring).
FRAME_LIMIT = 16 * 1024
HANDLE_MAX = 64
MESSAGE_MAX = 2000
LARGEST = 2 ** 63 - 1
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")   # C0 except tab and newline, and DEL
SURROGATE = re.compile(r"[\ud800-\udfff]")
CLIENT_ID = re.compile(r"[-\w]{1,64}")
LABEL = re.compile(r"[-\w]{1,50}")
KNOWN_CODES = {"invalid_json", "invalid_message", "message_too_long", "binary_not_supported", "room_gone",
               "invalid_after", "rate_limited", "catchup_truncated", "internal_error"}


def seeded(text):
    return "[seed=%d] %s" % (SEED, text)


def preview(payload, width=160):
    shown = repr(payload[:width])
    return shown + ("... (%d %s)" % (len(payload), "bytes" if isinstance(payload, bytes) else "chars")
                    if len(payload) > width else "")


# --------------------------------------------------------------------------
# What the rules say to a frame


class Expect:
    """saved: the (handle, message, client_id) a valid frame saves, or None;
    codes: the error codes that may answer it (both may be set where the
    rules leave a frame open); error_client_id: the client_id an error frame
    answering it must carry (a valid one in a JSON object), or None."""

    def __init__(self, saved=None, codes=(), error_client_id=None):
        self.saved = saved
        self.codes = set(codes)
        self.error_client_id = error_client_id

    def __repr__(self):
        parts = []
        if self.saved is not None:
            parts.append("saved as %r" % (tuple(preview(v, 40) if isinstance(v, str) else v for v in self.saved),))
        if self.codes:
            parts.append("error %s" % "/".join(sorted(self.codes)))
        return " or ".join(parts)


def expectation(payload, binary, also=()):
    """The documented answer to one frame (docs/protocol.md, "Sending" and
    "Errors"); `also` adds codes the rules leave open for this frame."""
    if binary:
        return Expect(codes={"binary_not_supported"})
    codes = set()        # what the frame breaks: one of these must answer it
    maybe = set(also)    # what may answer it instead of saving it
    if len(payload) > FRAME_LIMIT:
        codes.add("message_too_long")
    try:
        data = json.loads(payload)
    except RecursionError:
        return Expect(codes=codes | maybe | {"invalid_json"})
    except ValueError as error:
        codes.add("invalid_json")
        if "integer string conversion" in str(error):
            # Valid JSON (RFC 8259); Python refuses ints over 4300 digits.
            maybe.add("invalid_message")
        return Expect(codes=codes | maybe)
    client_id = data.get("client_id") if isinstance(data, dict) else None
    error_client_id = client_id if isinstance(client_id, str) and CLIENT_ID.fullmatch(client_id) else None
    if not isinstance(data, dict):
        return Expect(codes=codes | maybe | {"invalid_message"})
    keys = set(data)
    if not {"handle", "message"} <= keys or keys - {"handle", "message", "client_id"}:
        codes.add("invalid_message")
    if client_id is None and "client_id" in data:
        maybe.add("invalid_message")  # null: "optional" may mean absent, or refused
    elif client_id is not None and error_client_id is None:
        codes.add("invalid_message")
    handle, message = data.get("handle"), data.get("message")
    if not isinstance(handle, str) or not isinstance(message, str):
        return Expect(codes=codes | maybe | {"invalid_message"}, error_client_id=error_client_id)
    raw = handle + message
    handle, message = handle.strip(), message.strip()
    if CONTROL.search(handle + message):
        codes.add("invalid_message")
    elif CONTROL.search(raw):
        # Control characters that trimming takes away (\x0b, \x0c, \x1c-\x1f
        # count as white space): refused or trimmed, both fit the rules.
        maybe.add("invalid_message")
    if not 1 <= len(handle) <= HANDLE_MAX or not message:
        codes.add("invalid_message")
    if len(message) > MESSAGE_MAX:
        codes.add("message_too_long")
    if codes:
        return Expect(codes=codes | maybe, error_client_id=error_client_id)
    if SURROGATE.search(handle + message):
        # A lone surrogate (\ud800 escaped in JSON) is no character: refusing
        # it is right; saving it is too, if the database can store it.
        maybe.add("invalid_message")
    return Expect((handle, message, client_id), maybe, error_client_id)


# --------------------------------------------------------------------------
# Random frames

PLAIN = string.ascii_letters + string.digits
ODD = ["é", "ß", "Ж", "中", "ع", "😀", "👩\u200d👩\u200d👧", "\u200b", "\u202e", "\u0301", "\ufeff", "\ufffd",
       "\U0010ffff", "\x80", "\x9f", "<script>alert(1)</script>", "&amp;", '"', "\\", "'", "/", "%s", "{}",
       "\\u0000", "NaN", "\t", "\n", " ", "\xa0", "\u2028"]
WHITESPACE = [" ", "  ", "\t", "\n", "\r\n", "\xa0", "\u3000", "\u2028", "\x0b", "\x0c", "\x1c", "\x1f", "\x85"]
CONTROLS = [chr(c) for c in range(0x20) if c not in (9, 10)] + ["\x7f"]
CLIENT_ID_CHARS = PLAIN + "_-" + "éßЖ中٣ǅ"
BAD_CLIENT_IDS = ["", " ", "a b", "a.b", "a/b", "x" * 65, "é" * 65, "abc\n", "\nabc", "a\x00b", "☃", "a\u0301",
                  "id;drop", "sync*", "\ud800", 5, 1.5, True, [], {}, ["a"], {"id": "a"}]
SURROGATES = ["\ud800", "\udfff", "\udbff", "\udc00x", "x\ud83d"]


def text(rng, length):
    chunks = []
    while sum(map(len, chunks)) < length:
        chunks.append(rng.choice(PLAIN) if rng.random() < 0.6 else rng.choice(ODD))
    return "".join(chunks)[:length]


def pad(rng, core):
    return rng.choice(["", "", rng.choice(WHITESPACE)]) + core + rng.choice(["", "", rng.choice(WHITESPACE)])


def valid_handle(rng):
    core = text(rng, rng.choice([1, 2, 5, 12, 30, 64])).strip()[:HANDLE_MAX].strip() or "h"
    return pad(rng, core)


def valid_message(rng):
    core = text(rng, rng.choice([1, 3, 20, 80, 200, 1000, 1999, 2000])).strip()[:MESSAGE_MAX].strip() or "m"
    return pad(rng, core)


def dumps(rng, data):
    """JSON as some client might write it: any key order, spacing, escaping."""
    if isinstance(data, dict) and rng.random() < 0.5:
        items = list(data.items())
        rng.shuffle(items)
        data = dict(items)
    options = dict(ensure_ascii=rng.random() < 0.5)
    if rng.random() < 0.3:
        options["separators"] = (",", ":")
    elif rng.random() < 0.2:
        options["indent"] = rng.choice([1, 4, "\t"])
    encoded = json.dumps(data, **options)
    try:
        encoded.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: only escaped can it go over the wire
        encoded = json.dumps(data, ensure_ascii=True)
    return encoded


class FuzzFrame:
    def __init__(self, number, kind, payload, binary=False, also=(), resends=None):
        self.number = number
        self.kind = kind
        self.payload = payload
        self.binary = binary
        self.resends = resends   # the broadcast frame a resend must bring back
        self.expect = expectation(payload, binary, also)
        size = len(payload) if binary else max(len(payload), len(payload.encode("utf-8", "surrogatepass")))
        assert size <= BIG_FRAME, (kind, size)

    def describe(self):
        return "frame #%d (%s%s) %s" % (self.number, self.kind, ", binary" if self.binary else "",
                                        preview(self.payload))


class FrameMaker:
    """Draws fuzz frames; remembers saved (handle, client_id)s to resend them."""

    def __init__(self, rng):
        self.rng = rng
        self.count = 0
        self.saved = {}   # (handle, client_id) -> the broadcast frame that saved it
        self.frames = 0

    def client_id(self):
        rng = self.rng
        self.count += 1
        suffix = "-%05d" % self.count   # fixed width: every id differs
        prefix = rng.choice([
            "".join(rng.choice(CLIENT_ID_CHARS) for _ in range(rng.randint(1, 58))),
            "-" * rng.randint(1, 20), "_", "f", "٣٣٣", "中文", "ǅé-ß",
            "".join(rng.choice(CLIENT_ID_CHARS) for _ in range(64)),
        ])
        return (prefix + suffix)[-64:]

    def chat(self, handle=None, message=None, **extra):
        rng = self.rng
        data = {"handle": valid_handle(rng) if handle is None else handle,
                "message": valid_message(rng) if message is None else message}
        if "client_id" not in extra and rng.random() < 0.7:
            data["client_id"] = self.client_id()
        data.update(extra)
        return data

    def make(self):
        rng = self.rng
        kinds = [
            (self.valid, 16), (self.resend, 4), (self.boundary, 6), (self.wrong_types, 8), (self.keys, 7),
            (self.control, 8), (self.client_ids, 7), (self.not_json, 7), (self.big_json, 6), (self.deep, 5),
            (self.numbers, 5), (self.surrogate, 3), (self.binary, 8), (self.too_big, 2),
        ]
        make = rng.choices([k for k, _ in kinds], weights=[w for _, w in kinds])[0]
        return make()

    def frame(self, kind, payload, **options):
        self.frames += 1
        return FuzzFrame(self.frames, kind, payload, **options)

    # -- kinds --

    def valid(self):
        return self.frame("valid", dumps(self.rng, self.chat()))

    def resend(self):
        if not self.saved:
            return self.valid()
        (handle, client_id), original = self.rng.choice(sorted(self.saved.items(), key=lambda kv: kv[1]["id"]))
        data = self.chat(handle=pad(self.rng, handle), client_id=client_id)  # a different message, even
        return self.frame("resend", dumps(self.rng, data), resends=original)

    def boundary(self):
        rng = self.rng
        data = rng.choice([
            self.chat(handle="h" * 64), self.chat(handle="h" * 65), self.chat(handle="中" * 64),
            self.chat(handle="\u3000" + "h" * 64 + "\u3000"), self.chat(handle=" " * 10),
            self.chat(message="m" * 2000), self.chat(message="m" * 2001), self.chat(message="é" * 2000),
            self.chat(message="\n" * 30 + "m" * 2000 + "\t" * 30), self.chat(message=" \n\t \u3000"),
            self.chat(message="😀" * 2000), self.chat(message="m" * rng.randint(2001, 5000)),
            self.chat(handle="h" * rng.randint(65, 1000)), self.chat(handle="", message=""),
        ])
        return self.frame("boundary", dumps(rng, data))

    def wrong_types(self):
        rng = self.rng
        value = rng.choice([None, True, 0, -1, 3.25, 1e300, "", "x", [], ["alice", "hi"], {}, {"a": 1}])
        data = rng.choice([
            value, [self.chat()], [value] * rng.randint(0, 50), "hello",
            self.chat(handle=value), self.chat(message=value), self.chat(handle=value, message=value),
            self.chat(message=[valid_message(rng)]), self.chat(handle={"name": "alice"}),
        ])
        return self.frame("wrong-types", dumps(rng, data))

    def keys(self):
        rng = self.rng
        chat = self.chat()
        choice = rng.randrange(7)
        if choice == 0:
            chat.pop(rng.choice(["handle", "message"]))
        elif choice == 1:
            chat[rng.choice(["room", "type", "id", "", "__proto__", "Handle", "handle ", "é", "client-id"])] = \
                rng.choice([None, 1, "x", [], {}])
        elif choice == 2:
            chat = {key.upper(): value for key, value in chat.items()}
        elif choice == 3:
            chat = {}
        elif choice == 4:
            # A duplicate key: JSON readers keep the last one.
            body = dumps(rng, chat)
            return self.frame("keys", body[:-1] + ', "handle": %s}' % json.dumps(valid_handle(rng)))
        elif choice == 5:
            chat.update({"k%d" % n: n for n in range(rng.randint(1, 200))})
        else:
            chat = {"handle": chat["handle"], "message": chat["message"], "extra": chat}
        return self.frame("keys", dumps(rng, chat))

    def control(self):
        rng = self.rng
        handle, message = valid_handle(rng), valid_message(rng)
        where = rng.choice(["handle", "message", "both"])

        def insert(value):
            at = rng.randint(0, len(value))
            return value[:at] + "".join(rng.choice(CONTROLS) for _ in range(rng.randint(1, 3))) + value[at:]

        if where in ("handle", "both"):
            handle = insert(handle)
        if where in ("message", "both"):
            message = insert(message)
        body = dumps(rng, self.chat(handle=handle, message=message))
        if rng.random() < 0.3:
            # Unescaped control characters inside JSON strings: not JSON at all.
            body = body.replace("\\u0000", "\x00").replace("\\u0007", "\x07").replace("\\u001b", "\x1b")
            body = body.replace("\\r", "\r").replace("\\u0001", "\x01")
        return self.frame("control", body)

    def client_ids(self):
        rng = self.rng
        if rng.random() < 0.45:
            return self.frame("client-id", dumps(rng, self.chat(client_id=self.client_id())))
        if rng.random() < 0.15:
            return self.frame("client-id", dumps(rng, self.chat(client_id=None)))
        return self.frame("client-id", dumps(rng, self.chat(client_id=rng.choice(BAD_CLIENT_IDS))))

    def not_json(self):
        rng = self.rng
        good = dumps(rng, self.chat())
        body = rng.choice([
            "", " ", "{", "}", "[", "nul", "undefined", "{'handle': 'a', 'message': 'b'}",
            good[:rng.randint(0, len(good) - 1)], good + rng.choice(["x", "}", ",", " {}"]),
            "\ufeff" + good, good.replace('"', "'"), text(rng, rng.randint(1, 300)),
            "".join(chr(rng.randint(0x20, 0x7e)) for _ in range(rng.randint(1, 500))),
            '{"handle": "a", "message": "b",}', '{"handle": "a" "message": "b"}',
            '{"handle": "\\x41", "message": "b"}', '{"handle": "a", "message": "\\ud83d\\u"}',
        ])
        return self.frame("not-json", body)

    def big_json(self):
        rng = self.rng
        limit = FRAME_LIMIT if rng.random() < 0.8 else rng.randint(FRAME_LIMIT + 1, BIG_FRAME)
        shape = rng.randrange(4)
        if shape == 0:
            data = list(range(limit // 7))
        elif shape == 1:
            data = {"k%05d" % n: n for n in range(limit // 12)}
        elif shape == 2:
            data = self.chat(message="m" * (limit - 100))
        else:
            data = self.chat(filler=["x" * 50] * (limit // 60))
        body = json.dumps(data)
        while len(body) > limit:
            if isinstance(data, list):
                data = data[:len(data) * 9 // 10]
            elif "filler" in data:
                data["filler"] = data["filler"][:len(data["filler"]) * 9 // 10]
            elif "message" in data:
                data["message"] = data["message"][:len(data["message"]) * 9 // 10]
            else:
                data = dict(list(data.items())[:len(data) * 9 // 10])
            body = json.dumps(data)
        return self.frame("big-json", body)

    def deep(self):
        rng = self.rng
        # Depths a JSON parser takes (up to 300) or refuses (1500 and more),
        # not the band in between, where it depends on the stack already in use.
        depth = rng.choice([rng.randint(2, 300), rng.randint(1500, 5000), rng.randint(5000, 16000)])
        opener, closer = rng.choice([("[", "]"), ('{"a":', "}"), ('{"handle":', "}")])
        inner = dumps(rng, self.chat()) if rng.random() < 0.5 else "1"
        body = opener * depth + inner + closer * depth
        if len(body) > BIG_FRAME:
            body = opener * depth  # unclosed, shorter
            if len(body) > BIG_FRAME:
                body = body[:BIG_FRAME]
        return self.frame("deep-nesting", body)

    def numbers(self):
        rng = self.rng
        raw = rng.choice(["1e400", "-1e400", "-0", "123456789012345678901234567890", "0.000000000000001e-400",
                          "9" * 5000, "NaN", "Infinity", "-Infinity"])
        template = rng.choice(['{"handle": %s, "message": "m"}', '{"handle": "h", "message": %s}', "%s",
                               '{"handle": "h", "message": "m", "client_id": %s}', "[%s]"])
        # Python's JSON reads NaN and Infinity; RFC 8259 has no such tokens.
        also = {"invalid_json"} if raw.lstrip("-") in ("NaN", "Infinity") else ()
        return self.frame("numbers", template % raw, also=also)

    def surrogate(self):
        rng = self.rng
        bad = rng.choice(SURROGATES)
        data = rng.choice([self.chat(handle="al" + bad + "ice"), self.chat(message="hi " + bad),
                           self.chat(handle=bad, message=bad)])
        return self.frame("surrogate", json.dumps(data, ensure_ascii=True))

    def binary(self):
        rng = self.rng
        body = rng.choice([
            b"", bytes(rng.randrange(256) for _ in range(rng.randint(1, 2000))),
            b"\xff\xfe\xfd", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82",
            json.dumps(self.chat()).encode("utf-8"), b"\x00" * rng.randint(1, 100),
            bytes(rng.randrange(256) for _ in range(rng.randint(FRAME_LIMIT, BIG_FRAME))),
        ])
        return self.frame("binary", body, binary=True)

    def too_big(self):
        rng = self.rng
        size = rng.randint(FRAME_LIMIT + 1, BIG_FRAME)
        body = rng.choice([dumps(rng, self.chat(message="m" * (size - 60))), "x" * size, "[" * size])
        return self.frame("over-16k", body)


# --------------------------------------------------------------------------
# Frames in and out


def message_problem(frame, label):
    """What is wrong with the shape of a message frame from an anonymous socket, or None."""
    try:
        assert_message_frame(frame, label, frame.get("handle"), frame.get("message"), frame.get("client_id"))
        assert isinstance(frame["handle"], str) and isinstance(frame["message"], str), "handle or message not a string"
        assert frame["previous_id"] is None or isinstance(frame["previous_id"], int), "previous_id not a number"
    except (AssertionError, KeyError, TypeError, ValueError) as error:
        return "%s: %s" % (type(error).__name__, str(error)[:200])
    return None


def error_problem(frame, expect):
    """What is wrong with an error frame answering a frame with `expect`, or None."""
    code = frame.get("code")
    if code not in KNOWN_CODES:
        return "unknown code %r" % code
    if code not in expect.codes:
        return "code %r, expected %s" % (code, expect)
    fields = {} if expect.error_client_id is None else {"client_id": expect.error_client_id}
    try:
        assert_error_frame(frame, code, **fields)
    except (AssertionError, KeyError) as error:
        return "not the documented error frame (client_id %r expected): %s" % (
            expect.error_client_id, str(error)[:200])
    return None


def content(frame):
    return frame["handle"], frame["message"], frame.get("client_id")


class FuzzRun:
    def __init__(self, stack, rng):
        self.stack = stack
        self.rng = rng
        self.maker = FrameMaker(rng)
        self.problems = []          # (kind, text)
        self.answers = Counter()    # (kind, answer) -> count
        self.frames_sent = 0
        self.fuzz_frames = 0
        self.broadcasts = {}        # id -> the message frame, as broadcast
        self.handshakes = []        # (target, status)
        self.timings = {}

    def problem(self, kind, text):
        self.problems.append((kind, seeded(text)))

    # -- the frames --

    def run_frames(self, label):
        sockets = [open_socket(self.stack, chat_path(label)) for _ in range(SOCKETS)]
        resyncs = 0
        try:
            for round_number in range(ROUNDS):
                if not self.run_round(label, round_number, sockets):
                    resyncs += 1
                    for sock in sockets:
                        sock.close()
                    if resyncs > MAX_RESYNCS:
                        self.problem("run", "stopped after %d rounds that did not complete" % resyncs)
                        return
                    sockets[:] = [open_socket(self.stack, chat_path(label)) for _ in range(SOCKETS)]
        finally:
            for sock in sockets:
                sock.close()

    def run_round(self, label, round_number, sockets):
        """One round; False when it did not complete (the sockets are then replaced)."""
        rng = self.rng
        plans = [[] for _ in sockets]   # per socket: [(fuzz frame, sentinel client_id)]
        counts = [rng.randint(1, MAX_PER_ROUND) for _ in sockets]
        order = [index for index, count in enumerate(counts) for _ in range(count)]
        rng.shuffle(order)  # interleave the sockets, each in its own order
        for index in order:
            fuzz = self.maker.make()
            sentinel = "sync-%d-%d-%d" % (round_number, index, len(plans[index]))
            plans[index].append((fuzz, sentinel))
            sock = sockets[index]
            try:
                if fuzz.binary:
                    sock.send_binary(fuzz.payload)
                else:
                    sock.send_text(fuzz.payload)
                sock.send_json({"handle": "sync", "message": sentinel, "client_id": sentinel})
            except (websocket.WebSocketException, OSError) as error:
                self.problem("lost-socket", "round %d socket %d: sending %s failed: %r"
                             % (round_number, index, fuzz.describe(), error))
                return False
            self.frames_sent += 2
            self.fuzz_frames += 1
        sentinels = {sentinel for plan in plans for _, sentinel in plan}

        # Read every socket until it has seen every sentinel of the round.
        received = []
        deadline = time.monotonic() + ROUND_TIMEOUT
        for index, sock in enumerate(sockets):
            frames, seen = [], set()
            while seen != sentinels:
                kind, value = sock.next_frame(deadline)
                if kind != "json":
                    own = [(fuzz.describe(), sentinel) for fuzz, sentinel in plans[index]]
                    self.problem({"closed": "lost-socket", "timeout": "no-answer"}.get(kind, "malformed"),
                                 "round %d socket %d: %s %s after %d frames, waiting for sentinels %s; "
                                 "its frames this round: %s" % (round_number, index, kind, value or "",
                                                                len(frames), sorted(sentinels - seen), own))
                    return False
                frames.append(value)
                if isinstance(value, dict) and value.get("type") == "message" and value.get("client_id") in sentinels:
                    seen.add(value["client_id"])
            received.append(frames)

        round_ids = Counter()
        for index, frames in enumerate(received):
            round_ids.update(self.judge_socket(label, round_number, index, plans[index], frames))
        for index, frames in enumerate(received):
            got = Counter(f["id"] for f in frames if isinstance(f, dict) and f.get("type") == "message")
            if got != round_ids:
                self.problem("broadcast", "round %d socket %d received message ids %s; the round broadcast %s"
                             % (round_number, index, sorted(got.elements()), sorted(round_ids.elements())))
        return True

    def judge_socket(self, label, round_number, index, plan, frames):
        """Check what one socket received against its own frames; returns the
        ids its frames broadcast (its sentinels, and its fuzz frames' messages)."""
        where = "round %d socket %d" % (round_number, index)
        # Cut its frames into one interval per own fuzz frame, ending with the echo of its sentinel.
        intervals, current, own = [], [], iter(plan)
        pending = next(own, None)
        for frame in frames:
            if not isinstance(frame, dict) or frame.get("type") not in ("message", "error"):
                self.problem("malformed", "%s: a frame of no known type: %r" % (where, frame))
                continue
            if frame["type"] == "message":
                shape = message_problem(frame, label)
                if shape:
                    self.problem("malformed", "%s: malformed message frame (%s): %r" % (where, shape, frame))
                    continue
                self.broadcasts.setdefault(frame["id"], frame)
                if self.broadcasts[frame["id"]] != frame:
                    self.problem("broadcast", "%s: id %d broadcast twice, differently: %r and %r"
                                 % (where, frame["id"], self.broadcasts[frame["id"]], frame))
            if pending is not None and frame["type"] == "message" and frame.get("client_id") == pending[1]:
                intervals.append((pending, current))
                current, pending = [], next(own, None)
            else:
                current.append(frame)
        if current and any(f.get("type") == "error" for f in current):
            self.problem("stray", "%s: error frames after its last sentinel: %r" % (where, current))

        ids = Counter()
        for (fuzz, sentinel), interval in intervals:
            echo = next(f for f in frames if f.get("type") == "message" and f.get("client_id") == sentinel)
            if content(echo) != ("sync", sentinel, sentinel):
                self.problem("broadcast", "%s: sentinel %s came back as %r" % (where, sentinel, echo))
            ids[echo["id"]] += 1
            answer = self.judge_frame(where, fuzz, interval)
            if answer is not None:
                ids[answer] += 1
        return ids

    def judge_frame(self, where, fuzz, interval):
        """Check the answer to one fuzz frame; returns the id it broadcast, if any."""
        expect = fuzz.expect
        errors = [f for f in interval if f["type"] == "error"]
        messages = [f for f in interval if f["type"] == "message"]
        if len(errors) > 1:
            self.problem(fuzz.kind, "%s: %s got %d error frames: %r" % (where, fuzz.describe(), len(errors), errors))
        if errors:
            code = errors[0].get("code")
            self.answers[(fuzz.kind, code)] += 1
            wrong = error_problem(errors[0], expect)
            if wrong:
                self.problem(fuzz.kind, "%s: %s: expected %s, got error frame %r (%s)"
                             % (where, fuzz.describe(), expect, errors[0], wrong))
            return None
        if expect.saved is None:
            self.answers[(fuzz.kind, "no answer")] += 1
            self.problem(fuzz.kind, "%s: %s: expected %s, got no error frame%s"
                         % (where, fuzz.describe(), expect,
                            " (messages of other sockets in between: %r)" % messages if messages else ""))
            return None
        if fuzz.resends is not None:
            wanted = fuzz.resends
            mine = [f for f in messages if f == wanted]
        else:
            handle, message, client_id = expect.saved
            previous = self.maker.saved.get((handle, client_id)) if client_id is not None else None
            wanted = previous or expect.saved
            mine = [f for f in messages if (f == previous if previous else content(f) == expect.saved)]
        if not mine:
            self.answers[(fuzz.kind, "no answer")] += 1
            self.problem(fuzz.kind, "%s: %s: expected %s, got neither an error nor its message %r; "
                                    "messages in between: %r" % (where, fuzz.describe(), expect, wanted, messages))
            return None
        frame = mine[0]
        self.answers[(fuzz.kind, "message")] += 1
        client_id = frame.get("client_id")
        if client_id is not None:
            self.maker.saved.setdefault((frame["handle"], client_id), frame)
        return frame["id"]

    # -- text frames of invalid UTF-8 --

    def run_invalid_utf8(self, label):
        """RFC 6455 says to fail such a connection (close 1007); an error
        frame is acceptable too. Nothing may be saved, nothing may hang."""
        for number in range(UTF8_TEXT_SOCKETS):
            payload = self.rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80",
                                       b'{"handle": "a", "message": "\xff"}', b"\xe2\x82"])
            sock = open_socket(self.stack, chat_path(label))
            try:
                sock.ws.send(payload, opcode=websocket.ABNF.OPCODE_TEXT)
                self.frames_sent += 1
                kind, value = sock.next_frame(time.monotonic() + 10)
            finally:
                sock.close()
            self.answers[("invalid-utf8-text", kind)] += 1
            if kind == "json" and isinstance(value, dict) and value.get("type") == "error" \
                    and value.get("code") in KNOWN_CODES - {"internal_error", "rate_limited"}:
                continue
            if kind != "closed":
                self.problem("invalid-utf8-text", "text frame %r: expected the socket closed (1007) or an "
                                                  "error frame, got %s %r" % (payload, kind, value))

    # -- handshakes --

    def run_handshakes(self, rooms, history):
        """Every kind of path once, every ?after= value once on the room with
        history, then HANDSHAKES random ones."""
        port = self.stack.http_port
        targets = [handshake_target(self.rng, rooms, port, kind=kind) for kind in range(PATH_KINDS + 1)]
        targets += [handshake_target(self.rng, rooms[:1], port, kind=0, query="after=" + value)
                    for value in AFTER_VALUES]
        targets += [handshake_target(self.rng, rooms, port) for _ in range(HANDSHAKES)]
        for number, (target, allowed, query_known) in enumerate(targets):
            self.check_handshake(number, target, allowed, query_known, rooms, history)

    def check_handshake(self, number, target, allowed, query_known, rooms, history):
        what = "handshake %d GET %s" % (number, preview(target, 120))
        try:
            status, reader = raw_handshake(self.stack.http_port, target)
        except OSError as error:
            self.problem("handshake", "%s: the connection failed: %r" % (what, error))
            return
        try:
            self.handshakes.append((target, status))
            if (status is None and "dropped" not in allowed) or status == "hang":
                self.problem("handshake", "%s: %s (expected %s)" % (
                    what, "no answer within %ss" % HANDSHAKE_TIMEOUT if status == "hang" else
                    "the connection closed without an HTTP answer", "/".join(sorted(allowed))))
                return
            if status is None:
                return  # dropped, where that is allowed
            klass = "101" if status == 101 else "403" if status == 403 else "4xx" if 400 <= status < 500 else None
            if klass == "101" and "101" not in allowed and "not_found" in allowed:
                self.check_not_found(what, reader)
                return
            if klass is None or klass not in allowed:
                self.problem("handshake", "%s: HTTP %s, expected %s" % (what, status, "/".join(sorted(allowed))))
                return
            if status == 101:
                self.check_after(what, target, query_known, reader, history)
        finally:
            if reader is not None:
                reader.close()

    def check_not_found(self, what, reader):
        """Accepted only to hear room_not_found, then closed with 4404."""
        deadline = time.monotonic() + 10
        kind, frame = reader.next_frame(deadline)
        if kind != "json" or frame.get("code") != "room_not_found":
            self.problem("handshake", "%s: expected room_not_found, got %s %r" % (what, kind, frame))
            return
        kind, closing = reader.next_frame(deadline)
        if kind != "closed" or not closing.startswith("close frame, code 4404 "):
            self.problem("handshake", "%s: after room_not_found expected the close 4404, got %s %r" % (
                what, kind, closing))

    def check_after(self, what, target, query_known, reader, history):
        """An accepted socket gets the catch-up `?after=` asks for, or invalid_after."""
        query = target.split(b"?", 1)[1] if b"?" in target else b""
        values = urllib.parse.parse_qs(query.decode("latin1")).get("after", [])
        found = re.search(r"/chat/([^/]+)/", urllib.parse.unquote(target.split(b"?", 1)[0].decode("ascii", "replace")))
        ids = history.get(found.group(1) if found else None, [])
        outcomes = set()
        for value in values:
            digits = value.lstrip("0") or "0"
            if value.isascii() and value.isdigit() and len(digits) <= 19 and int(digits) <= LARGEST:
                outcomes.add(tuple(i for i in ids if i > int(digits))[:100])
            else:
                outcomes.add("invalid_after")
        if not values:
            outcomes.add(())
        if not query_known or outcomes <= {()}:
            return  # nothing to wait for, or nothing clear to expect
        deadline = time.monotonic() + 10
        # Where "nothing" is one of the answers, a short wait: whatever comes comes at once.
        kind, first = reader.next_frame(deadline if () not in outcomes else time.monotonic() + 0.5)
        if kind == "timeout" and () in outcomes:
            return
        if kind != "json":
            self.problem("handshake", "%s: accepted, then %s %s; expected %s" % (what, kind, first or "", outcomes))
            return
        if first.get("type") == "caught_up":
            if () not in outcomes:
                self.problem("handshake", "%s: caught_up %r before any catch-up; expected %s" % (what, first, outcomes))
            return
        if first.get("type") == "error":
            if first.get("code") == "invalid_after" and "invalid_after" in outcomes:
                if set(first) != {"type", "code", "detail"}:
                    self.problem("handshake", "%s: malformed error frame %r" % (what, first))
                return
            self.problem("handshake", "%s: accepted, then error frame %r; expected %s" % (what, first, outcomes))
            return
        got = [first.get("id")]
        for expected in sorted((o for o in outcomes if isinstance(o, tuple) and o), key=len, reverse=True):
            if expected[0] == got[0]:
                while len(got) < len(expected):
                    kind, frame = reader.next_frame(deadline)
                    if kind != "json":
                        break
                    got.append(frame.get("id"))
                if tuple(got) == expected:
                    self.check_catchup_end(what, reader, deadline, expected[-1])
                    return
        self.problem("handshake", "%s: catch-up ids %s, expected one of %s" % (what, got, outcomes))

    def check_catchup_end(self, what, reader, deadline, last_id):
        """A catch-up ends with caught_up, or with catchup_truncated when it
        was cut (the limit, 100, reached), both naming its last id."""
        kind, end = reader.next_frame(deadline)
        if kind == "json" and (end == {"type": "caught_up", "room": end.get("room"), "last_id": last_id}
                               or (end.get("code") == "catchup_truncated" and end.get("after") == last_id)):
            return
        self.problem("handshake", "%s: catch-up up to id %d ended with %s %r" % (what, last_id, kind, end))


# --------------------------------------------------------------------------
# Handshakes on raw TCP


WS_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="


class RawFrames:
    """The server's side of an accepted raw WebSocket: just enough to read
    text frames, answered as conftest's Socket.next_frame answers."""

    def __init__(self, sock, buffered):
        self.sock = sock
        self.buffer = buffered

    def _read(self, count, deadline):
        while len(self.buffer) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout()
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def next_frame(self, deadline):
        try:
            while True:
                head = self._read(2, deadline)
                opcode, length = head[0] & 0x0F, head[1] & 0x7F
                if length == 126:
                    length = struct.unpack("!H", self._read(2, deadline))[0]
                elif length == 127:
                    length = struct.unpack("!Q", self._read(8, deadline))[0]
                payload = self._read(length, deadline)
                if opcode == 0x8:
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                    return "closed", "close frame, code %s %r" % (code, payload[2:])
                if opcode == 0x9:
                    self._send(0xA, payload)
                    continue
                if opcode == 0x1:
                    return "json", json.loads(payload.decode("utf-8"))
                return "bad", "opcode %s" % opcode
        except socket.timeout:
            return "timeout", None
        except (OSError, ValueError) as error:
            return "closed", repr(error)

    def _send(self, opcode, payload):
        mask = os.urandom(4)
        masked = bytes(b ^ mask[n % 4] for n, b in enumerate(payload))
        self.sock.sendall(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def close(self):
        try:
            self._send(0x8, struct.pack("!H", 1000))
        except OSError:
            pass
        self.sock.close()


def raw_handshake(port, target, timeout=HANDSHAKE_TIMEOUT):
    """(status, RawFrames) for a WebSocket handshake on exactly `target`;
    status is None when the server closed without an HTTP answer, "hang"
    when none came within `timeout`."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    reader = RawFrames(sock, b"")
    deadline = time.monotonic() + timeout
    try:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Key: " % port + WS_KEY +
                     b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
    except OSError:
        pass  # refused before it was all sent: read what the server said
    data = b""
    while b"\r\n\r\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "hang", reader
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return "hang", reader
        except OSError:
            chunk = b""
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    reader.buffer = rest
    match = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    return (int(match.group(1)) if match else None), reader


def percent_encode(rng, label):
    """Some or all characters of a label as %XX, in either case."""
    out = []
    for char in label:
        if char.isascii() and rng.random() < 0.6:
            out.append(char)
        else:
            encoded = urllib.parse.quote(char, safe="") if not char.isascii() else "%%%02X" % ord(char)
            out.append(encoded.lower() if rng.random() < 0.5 else encoded)
    return "".join(out)


PATH_KINDS = 16


def handshake_target(rng, rooms, port, kind=None, query=False):
    """(raw request target, the answers it may get, whether the query's
    meaning is clear): "101" accepted, "403" refused, "4xx" another client
    error, "dropped" closed without an answer, "not_found" accepted only to
    be told room_not_found and closed with 4404 (a label no room has). `query`: the query string to
    use, None for none, False to draw one."""
    room = rng.choice(rooms)
    ascii_room = urllib.parse.quote(room)
    missing = unique_label("nosuch")
    kind = rng.randrange(PATH_KINDS + 1) if kind is None else kind
    refused = {"403", "4xx"}
    if kind == 0:
        path, allowed = "/chat/%s/" % ascii_room, {"101"}
    elif kind == 1:
        path, allowed = "/chat/%s/" % percent_encode(rng, room), {"101"}
    elif kind == 2:
        path, allowed = "/chat/%s" % ascii_room, refused
    elif kind == 3:
        path = rng.choice(["/chat/../x/", "/chat/./%s/", "/chat/%s/../%s/", "/chat/%%2e%%2e/%s/", "/x/../chat/%s/",
                           "/chat/%s/./", "/chat/..%%2f%s/"])
        path, allowed = path.replace("%s", ascii_room), refused
    elif kind == 4:
        path = rng.choice(["//chat/%s/", "/chat//%s/", "/chat/%s//", "/CHAT/%s/", "/chat/%s/extra/",
                           "/api/rooms/%s/messages/", "/%s/", "/chat/%s/%s/"]).replace("%s", ascii_room)
        allowed = refused
    elif kind == 5:
        length = rng.choice([51, 52, 200, 3000, 12000])
        path, allowed = "/chat/%s/" % (("L" * length) if rng.random() < 0.5 else (ascii_room * length)[:length]), \
            refused
    elif kind == 6:
        # Longer than Twisted lets a request line be (16 KiB): it drops the
        # connection without an answer. Any client error, or that; no hang.
        path, allowed = "/chat/%s/" % ("x" * rng.randint(17000, 40000)), refused | {"dropped"}
    elif kind == 7:
        path = rng.choice(["/chat/café/", "/chat/😀/", "/chat/%s-é/" % missing, "/chat/\x7f/"])
        return path.encode("utf-8"), {"4xx"}, True  # raw non-ASCII bytes: refused before routing
    elif kind == 8:
        label = rng.choice(["☃", "😀", "Ж" * 5 + missing, "中文-" + missing, "a\u0301b", "\u200b" + missing])
        path, allowed = "/chat/%s/" % urllib.parse.quote(label), {"not_found"} if LABEL.fullmatch(label) else refused
    elif kind == 9:
        path = rng.choice(["/chat/%FF%FE/", "/chat/%00/", "/chat/%/", "/chat/%zz/", "/chat/%C3/", "/chat/%%%/",
                           "/chat/%s%%00/" % ascii_room, "/chat/%s%%20/" % ascii_room])
        allowed = refused
    elif kind == 10:
        # A trailing newline, ";params", an encoded "/", an absolute URI: how
        # a server reads them is open; accepted or refused, never worse.
        path = rng.choice(["/chat/%s/%%0A", "/chat/%s/;x=1", "/chat%%2F%s/", "/chat%%2f%s%%2f",
                           "http://127.0.0.1:%d/chat/%%s/" % port]).replace("%s", ascii_room)
        allowed = {"101", "403", "4xx"}
    elif kind == 11:
        path, allowed = "/chat/%s/#fragment" % ascii_room, {"4xx"}
    elif kind == 12:
        path, allowed = "/chat/%s/" % missing, {"not_found"}
    elif kind == 13:
        path, allowed = "/chat/%s/ /x" % ascii_room, {"4xx"}  # a space splits the request line
    elif kind == 14:
        garbage = "".join(rng.choice(string.ascii_letters + string.digits + "-_.~!$&'()*+,;=:@%/") for _ in
                          range(rng.randint(1, 80)))
        path = "/" + garbage
        decoded = urllib.parse.unquote(path)
        found = re.fullmatch(r"/chat/([^/]+)/", decoded)
        accepted = found and LABEL.fullmatch(found.group(1)) and found.group(1) in rooms
        if accepted or ";" in path:
            allowed = {"101", "403", "4xx"}
        else:  # a label no room has, or no route
            allowed = refused | ({"not_found"} if found and LABEL.fullmatch(found.group(1)) else set())
    else:
        path, allowed = "/chat/%s/" % ascii_room, {"101"}
    if query is False:
        query, query_known = after_query(rng)
    else:
        query_known = query is None or query.isascii()
    if not query_known:
        allowed = allowed | {"4xx"}  # raw non-ASCII bytes in the query: refusing them is fine too
    target = path + (("?" + query) if query is not None else "")
    return target.encode("latin1") if all(ord(c) < 256 for c in target) else target.encode("utf-8"), allowed, \
        query_known


AFTER_VALUES = [
    "", "0", "1", "2", "3", "5", "%d" % LARGEST, "%d" % (LARGEST + 1), "9" * 30, "9" * 4300, "9" * 5000,
    "-1", "+3", "%2B3", "1.5", "%201", "1%20", "yesterday", "%D9%A3", "1%00", "0x10", "1e3", "00000000001",
    "%31", "1%0A", "\u0663", "\xff",
]


def after_query(rng):
    """A random query string (None: none at all), and whether its meaning is clear."""
    if rng.random() < 0.25:
        return None, True
    value = rng.choice(AFTER_VALUES)
    query = rng.choice(["after=%s", "after=%s", "after=%s", "after=1&after=%s", "after=%s&after=x",
                        "AFTER=%s", "after[]=%s", "x=1&&after=%s&", "%%61fter=%s", "after=%s;after=2"]) % value
    if rng.random() < 0.05:
        query = rng.choice(["after", "&&&", "=", "after==1", "after=1=2"])
    known = all(ord(c) < 128 for c in query)  # raw non-ASCII bytes in a query: left open
    return query, known


# --------------------------------------------------------------------------
# The run, once per database


def pids(stack):
    return {process.name: process.pid for process in [stack.redis, stack.daphne] + list(stack.workers)}


@pytest.fixture(scope="module")
def fuzz_run(stack):
    started = time.monotonic()
    before = pids(stack)
    logs_from = {process.name: len(process.log_text()) for process in stack.processes()}
    run = FuzzRun(stack, random.Random(SEED))
    run.pids_before = before
    run.label = create_room(stack, unique_label("fuzz"))
    run.run_frames(run.label)
    run.timings["frames"] = time.monotonic() - started
    run.run_invalid_utf8(run.label)

    # Rooms for the handshakes: one with history, one with a Unicode label,
    # one with the longest label there may be.
    mark = time.monotonic()
    history_room = create_room(stack, unique_label("hs"))
    rooms = [history_room, create_room(stack, unique_label("café")),
             create_room(stack, unique_label("L" * 37))]
    assert len(rooms[2]) == 50
    sock = open_socket(stack, chat_path(history_room))
    try:
        echoes = sock.say_all("hs", ["one", "two", "three"])
    finally:
        sock.close()
    history = {room: [] for room in rooms}
    history[history_room] = [echo["id"] for echo in echoes]
    assert [echo["message"] for echo in echoes] == ["one", "two", "three"], echoes
    run.run_handshakes(rooms, history)
    run.timings["handshakes"] = time.monotonic() - mark
    run.timings["total"] = time.monotonic() - started
    run.new_logs = {process.name: process.log_text()[logs_from.get(process.name, 0):] for process in stack.processes()}
    return run


def tracebacks(run):
    """What the stack logged with a traceback during the run: the log line
    before it and the exception it ends with, counted."""
    found = Counter()
    for name, text in run.new_logs.items():
        lines = text.splitlines()
        for number, line in enumerate(lines):
            if line.strip() != "Traceback (most recent call last):":
                continue
            before = lines[number - 1] if number else ""
            before = re.sub(r"^[-\d]+ [:\d,]+ (\d+ )?", "", before)
            before = re.sub(r"daphne\.response\.\S+", "<reply channel>", before)
            exception = next((later for later in lines[number + 1:] if later and not later.startswith(" ")), "?")
            found["%s: %s -> %s" % (name.split("-")[0], before.strip()[:120], exception[:200])] += 1
    return ["%dx %s" % (count, what) for what, count in found.most_common()]


# --------------------------------------------------------------------------
# The checks


def test_every_process_of_the_stack_survived_the_fuzz(fuzz_run, stack):
    dead = [process for process in [stack.redis, stack.daphne] + list(stack.workers) if not process.alive()]
    assert not dead, seeded("dead after the fuzz: %r\n%s" % (dead, stack.logs()))
    assert pids(stack) == fuzz_run.pids_before, seeded("a process was replaced: %r -> %r" % (
        fuzz_run.pids_before, pids(stack)))
    print(seeded("fuzz: %d fuzz frames (%d frames in all), %d handshakes; seconds %s; answers %s" % (
        fuzz_run.fuzz_frames, fuzz_run.frames_sent, len(fuzz_run.handshakes),
        {k: round(v, 1) for k, v in fuzz_run.timings.items()},
        dict(sorted(fuzz_run.answers.items())))))
    assert fuzz_run.fuzz_frames >= 150, seeded("the run stopped early: %s" % fuzz_run.problems[-3:])


def test_nothing_malformed_was_saved(fuzz_run, db):
    rows = db.query(
        "SELECT m.id, m.handle, m.message, m.client_id FROM chat_message m "
        "JOIN chat_room r ON r.id = m.room_id WHERE r.label = ? ORDER BY m.id", (fuzz_run.label,))
    assert rows, seeded("nothing was saved in %s" % fuzz_run.label)
    bad = []
    for row in rows:
        handle, message, client_id = row["handle"], row["message"], row["client_id"]
        wrong = []
        if handle != handle.strip() or not 1 <= len(handle) <= HANDLE_MAX:
            wrong.append("handle untrimmed, empty or over %d" % HANDLE_MAX)
        if message != message.strip() or not 1 <= len(message) <= MESSAGE_MAX:
            wrong.append("message untrimmed, empty or over %d" % MESSAGE_MAX)
        if CONTROL.search(handle) or CONTROL.search(message):
            wrong.append("control characters")
        if SURROGATE.search(handle + message):
            wrong.append("lone surrogates")
        if client_id is not None and not CLIENT_ID.fullmatch(client_id):
            wrong.append("malformed client_id")
        if wrong:
            bad.append((row["id"], wrong, preview(handle, 60), preview(message, 60), client_id))
    assert not bad, seeded("malformed rows in room %s: %r" % (fuzz_run.label, bad[:20]))

    keys = Counter((row["handle"], row["client_id"]) for row in rows if row["client_id"] is not None)
    twice = [key for key, count in keys.items() if count > 1]
    assert not twice, seeded("client_ids saved more than once: %r" % twice[:10])

    # Every row was broadcast, and nothing was broadcast that is not saved,
    # with the same content and an unbroken previous_id chain.
    saved_ids = [row["id"] for row in rows]
    assert sorted(fuzz_run.broadcasts) == saved_ids, seeded("saved but never broadcast: %s; broadcast but not "
                                                            "saved: %s" % (
        sorted(set(saved_ids) - set(fuzz_run.broadcasts)), sorted(set(fuzz_run.broadcasts) - set(saved_ids))))
    previous = None
    for row in rows:
        frame = fuzz_run.broadcasts[row["id"]]
        assert content(frame) == (row["handle"], row["message"], row["client_id"]), seeded(
            "row %r was broadcast as %r" % (row, frame))
        assert frame["previous_id"] == previous, seeded("id %d names previous_id %r, the row before is %r" % (
            row["id"], frame["previous_id"], previous))
        previous = row["id"]


def test_a_normal_two_socket_chat_still_works_after_the_fuzz(fuzz_run, new_room, join, db):
    label = new_room("after-fuzz")
    alice, bob = join(label), join(label)
    alice.say("alice", "still here?")
    first = assert_message_frame(alice.recv_json(), label, "alice", "still here?")
    assert bob.recv_json() == first
    bob.send_json({"handle": "bob", "message": "yes", "client_id": "after-fuzz-1"})
    second = assert_message_frame(bob.recv_json(), label, "bob", "yes", client_id="after-fuzz-1")
    assert alice.recv_json() == second
    assert second["previous_id"] == first["id"]
    assert [row["message"] for row in db.messages(label)] == ["still here?", "yes"]


def test_every_fuzzed_handshake_was_accepted_or_refused_never_5xx_or_a_hang(fuzz_run):
    statuses = Counter(str(status) for _, status in fuzz_run.handshakes)
    problems = [text for kind, text in fuzz_run.problems if kind == "handshake"]
    ran = len(fuzz_run.handshakes)
    assert ran == PATH_KINDS + 1 + len(AFTER_VALUES) + HANDSHAKES, seeded("ran %d handshakes" % ran)
    assert not problems, seeded("%d of %d handshakes answered wrongly (statuses %s):\n%s" % (
        len(problems), ran, dict(statuses), "\n".join(problems[:15])))


def test_every_fuzz_frame_got_one_well_formed_answer(fuzz_run):
    problems = [(kind, text) for kind, text in fuzz_run.problems if kind != "handshake"]
    if not problems:
        return
    by_kind = {}
    for kind, text in problems:
        by_kind.setdefault(kind, []).append(text)
    report = ["%d of %d fuzz frames (plus %d invalid-UTF-8 text frames) were answered wrongly, by kind: %s" % (
        len(problems), fuzz_run.fuzz_frames, UTF8_TEXT_SOCKETS, {k: len(v) for k, v in by_kind.items()})]
    for kind, texts in by_kind.items():
        report.append("--- %s" % kind)
        report.extend(texts[:4])
    logged = tracebacks(fuzz_run)
    if logged:
        report.append("--- tracebacks the stack logged during the run:")
        report.extend(logged[:8])
    pytest.fail(seeded("\n".join(report)))
