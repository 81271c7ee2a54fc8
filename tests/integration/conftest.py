"""
Integration tests: the service in worker mode, as real processes, on
SQLite and on PostgreSQL.

Every test runs once per database, except in modules marked one_database
(below). The tests share one stack per database
(redis-server, Daphne, two runworkers, in a temporary directory; see
tests/support/chat_stack.py); modules that need a configuration of their
own, or break things, start their own. They talk to it like a browser
would: HTTP through urllib, WebSockets through websocket-client. Tests use
rooms of their own (`new_room`), so they do not see each other's messages.

When a test fails, the tail of every process's log is added to its report.
"""
import json
import os
import sqlite3
import struct
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

import psycopg2
import pytest
import websocket

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from tests.support.postgres import private_postgres  # noqa: E402
from tests.support.chat_stack import chat_stack  # noqa: E402

WS_TIMEOUT = 10.0       # seconds to wait for an expected frame
HTTP_TIMEOUT = 15.0
QUIET_WINDOW = 0.75     # seconds during which "nothing arrives" must hold


# --------------------------------------------------------------------------
# The databases and the stack


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """One private PostgreSQL server for the whole run, started on first use."""
    with private_postgres(tmp_path_factory.mktemp("postgres")) as server:
        yield server


DATABASES = ["sqlite", "postgresql"]


def _new_databases(request, tmp_path_factory):
    """name -> the DATABASE_URL of a new, empty database of the requested kind."""
    if request.param == "sqlite":
        directory = tmp_path_factory.mktemp("sqlite")
        return lambda name: "sqlite:///%s" % (directory / ("%s.sqlite3" % name))
    server = request.getfixturevalue("postgres_server")
    return lambda name: server.create_database("%s_%s" % (name, uuid.uuid4().hex[:8]))


@pytest.fixture(scope="session", params=DATABASES)
def database(request, tmp_path_factory):
    """database(name) -> a new database of this run's kind, for the shared stack."""
    return _new_databases(request, tmp_path_factory)


@pytest.fixture(scope="module", params=DATABASES)
def module_database(request, tmp_path_factory):
    """The same for a module with a stack of its own: parametrized per module,
    so pytest runs the module's tests together instead of interleaving them
    with other modules (which would start its stack again and again)."""
    return _new_databases(request, tmp_path_factory)


@pytest.fixture(scope="session")
def stack(tmp_path_factory, database):
    """redis-server + Daphne + 2 runworkers, shared by every module that needs nothing special."""
    with chat_stack(tmp_path_factory.mktemp("chat-stack"), workers=2, DATABASE_URL=database("chat_shared")) as running:
        yield running


ONE_DATABASE = "postgresql"  # the production one


def pytest_collection_modifyitems(config, items):
    """Modules marked one_database (flooding, fuzzing, shards, TLS, the
    features above the chat) run on ONE_DATABASE only: what they test is
    the same on both, and the suite's time is better spent elsewhere."""
    kept, dropped = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        database = params.get("database", params.get("module_database"))
        if item.get_closest_marker("one_database") and database not in (None, ONE_DATABASE):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.when in ("setup", "call", "teardown"):
        running = getattr(item, "funcargs", {}).get("stack")
        if running is not None and hasattr(running, "logs"):
            report.sections.append((
                "process logs (%s)" % running.workdir,
                running.logs(lines=60),
            ))


# --------------------------------------------------------------------------
# WebSockets


class Frame(dict):
    """A received frame: a key it lacks fails with the whole frame shown
    (an error frame where a message was expected says which error)."""

    def __missing__(self, key):
        raise KeyError("%r not in the frame %s" % (key, json.dumps(self)))


class Socket:
    """A WebSocket client with JSON helpers and bounded waits. Presence
    frames (pushed by runpresence, where a stack runs it) are skipped unless
    `skip` says otherwise: most tests are about the chat."""

    def __init__(self, ws, url, skip=("presence",)):
        self.ws = ws
        self.url = url
        self.skip = skip

    def __repr__(self):
        return "<Socket %s>" % self.url

    def send_text(self, text):
        self.ws.send(text)

    def send_json(self, data):
        self.ws.send(json.dumps(data))

    def send_binary(self, data):
        self.ws.send_binary(data)

    def say(self, handle, message):
        self.send_json({"handle": handle, "message": message})

    def next_frame(self, deadline):
        """The next frame, whatever it is, by `deadline` (time.monotonic()):
        ("json", frame) | ("closed", detail) | ("timeout", None) | ("bad", detail).
        Skips nothing and fails nothing: for a caller that judges what came."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timeout", None
            # Wait in short slices against one deadline: Daphne pings every 20 s,
            # websocket-client answers a ping and starts its wait afresh, so a
            # single wait longer than that would never time out and hang the run.
            self.ws.settimeout(min(remaining, 1.0))
            try:
                opcode, data = self.ws.recv_data()
            except websocket.WebSocketTimeoutException:
                continue
            except (websocket.WebSocketException, OSError) as error:
                return "closed", repr(error)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
                return "closed", "close frame, code %s %r" % (code, data[2:])
            if opcode != websocket.ABNF.OPCODE_TEXT:
                return "bad", "opcode %s: %r" % (opcode, data[:200])
            try:
                return "json", json.loads(data.decode("utf-8"), object_hook=Frame)
            except ValueError:
                return "bad", "not JSON: %r" % data[:200]

    def recv_json(self, timeout=WS_TIMEOUT):
        """The next frame, decoded; fails the test if none arrives within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            kind, frame = self.next_frame(deadline)
            if kind == "timeout":
                pytest.fail("%r: no frame within %ss" % (self, timeout))
            if kind == "closed":
                pytest.fail("%r: the server closed the socket: %s" % (self, frame))
            assert kind == "json", "%r: expected a JSON text frame, got %s" % (self, frame)
            if not (isinstance(frame, dict) and frame.get("type") in self.skip):
                return frame

    def say_all(self, handle, messages, timeout=30):
        """Send every message, then return the sender's own copies of them."""
        for message in messages:
            self.say(handle, message)
        return self.recv_many(len(messages), timeout=timeout)

    def next_presence(self, timeout):
        """The next presence frame, whatever comes before it."""
        deadline = time.monotonic() + timeout
        skip, self.skip = self.skip, ()
        try:
            while True:
                frame = self.recv_json(timeout=max(0.1, deadline - time.monotonic()))
                if frame["type"] == "presence":
                    return frame
        finally:
            self.skip = skip

    def presence_becomes(self, users, anonymous, timeout):
        """Waits for the room's presence to say `users` (names) and `anonymous` (a count)."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self.next_presence(deadline - time.monotonic())
            if (frame["users"], frame["anonymous"]) == (users, anonymous):
                return frame

    def recv_many(self, count, timeout=WS_TIMEOUT):
        return [self.recv_json(timeout) for _ in range(count)]

    def recv_message(self, timeout=WS_TIMEOUT):
        frame = self.recv_json(timeout)
        assert frame.get("type") == "message", "%r: expected a message frame, got %r" % (self, frame)
        return frame

    def recv_error(self, timeout=WS_TIMEOUT):
        frame = self.recv_json(timeout)
        assert frame.get("type") == "error", "%r: expected an error frame, got %r" % (self, frame)
        return frame

    def assert_silent(self, window=QUIET_WINDOW):
        """Nothing arrives within `window` seconds (and the socket is still open)."""
        deadline = time.monotonic() + window
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self.ws.settimeout(remaining)
            try:
                opcode, data = self.ws.recv_data()
            except websocket.WebSocketTimeoutException:
                return
            except websocket.WebSocketConnectionClosedException:
                pytest.fail("%r: the server closed the socket" % (self,))
            if opcode == websocket.ABNF.OPCODE_TEXT and self.skip and \
                    json.loads(data.decode("utf-8")).get("type") in self.skip:
                continue
            pytest.fail("%r: expected no frame, got opcode %s: %r" % (self, opcode, data))

    @property
    def connected(self):
        return self.ws.connected

    def close(self):
        try:
            self.ws.close(timeout=2)
        except Exception:
            pass


def open_socket(stack, path, timeout=WS_TIMEOUT):
    """An open Socket to `path` (with its query string, if any); the caller closes it."""
    url = stack.ws_url(path)
    return Socket(websocket.create_connection(url, timeout=timeout), url)


@pytest.fixture
def connect(stack):
    """connect("/chat/<label>/", after=None) -> an open Socket, closed after the test."""
    opened = []

    def _connect(path, after=None, query=None, timeout=WS_TIMEOUT):
        if after is not None:
            query = "after=%s" % urllib.parse.quote(str(after))
        sock = open_socket(stack, path + ("?" + query if query else ""), timeout)
        opened.append(sock)
        return sock

    yield _connect
    for sock in opened:
        sock.close()


def chat_path(label):
    return "/chat/%s/" % urllib.parse.quote(label)


@pytest.fixture
def join(connect):
    """join(label, after=None) -> a Socket in the room /chat/<label>/."""
    def _join(label, after=None, query=None):
        return connect(chat_path(label), after=after, query=query)
    return _join


# --------------------------------------------------------------------------
# HTTP


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self):
        return "<Response %s %r>" % (self.status, self.body[:200])

    @property
    def text(self):
        return self.body.decode("utf-8")

    def json(self):
        return json.loads(self.text)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # hand the 3xx back to the caller


_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects)


def http_request(url, method="GET", data=None, headers=None, timeout=HTTP_TIMEOUT):
    """One request; never follows redirects; 4xx/5xx are returned, not raised."""
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with _opener.open(request, timeout=timeout) as response:
            return Response(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Response(error.code, error.headers, error.read())


@pytest.fixture(scope="module")
def http_get(stack):
    """http_get("/path") -> Response (status, headers, body, text, json())."""
    def _get(path, **kwargs):
        return http_request(stack.url(path), **kwargs)
    return _get


@pytest.fixture(scope="module")
def http(stack):
    """http(method, "/path", data=None) -> Response."""
    def _request(method, path, **kwargs):
        return http_request(stack.url(path), method=method, **kwargs)
    return _request


# --------------------------------------------------------------------------
# Rooms and the database


def unique_label(prefix="room"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


def create_room(stack, label):
    """The room `label`, created by visiting its page."""
    response = http_request(stack.url("/%s/" % urllib.parse.quote(label)))
    assert response.status == 200, response
    return label


@pytest.fixture
def new_room(stack):
    """new_room(prefix) -> the label of a fresh room, created by visiting its page."""
    def _new_room(prefix="room"):
        return create_room(stack, unique_label(prefix))
    return _new_room


class Database:
    """Queries on a stack's database, SQLite or PostgreSQL (write "?" for parameters)."""

    def __init__(self, url):
        self.url = url

    def _connect(self):
        if self.url.startswith("sqlite:///"):
            return sqlite3.connect(self.url[len("sqlite:///"):], timeout=20)
        return psycopg2.connect(self.url)

    def _run(self, sql, params=(), many=False):
        connection = self._connect()
        postgres = not isinstance(connection, sqlite3.Connection)
        if postgres:
            sql = sql.replace("?", "%s")
        try:
            with connection:
                cursor = connection.cursor()
                (cursor.executemany if many else cursor.execute)(sql, params)
                if cursor.description is None:
                    return []
                names = [column[0] for column in cursor.description]
                return [{name: _as_utc(name, value) for name, value in zip(names, row)}
                        for row in cursor.fetchall()]
        finally:
            connection.close()

    def query(self, sql, params=()):
        return self._run(sql, params)

    def messages(self, label):
        """The saved messages of a room, by id."""
        return self.query(
            "SELECT m.id, m.room_id, m.handle, m.message, m.timestamp FROM chat_message m "
            "JOIN chat_room r ON r.id = m.room_id WHERE r.label = ? ORDER BY m.id",
            (label,),
        )

    def rooms(self, label):
        return self.query("SELECT id, label, created FROM chat_room WHERE label = ?", (label,))

    def seed_messages(self, label, texts):
        """Test data, written straight into the room's table (much faster than chatting it in)."""
        [room] = self.rooms(label)
        # Text both databases read as this UTC moment (sqlite3's datetime
        # adapter is deprecated on Python 3.12).
        stamp = datetime.now(timezone.utc).isoformat(sep=" ")
        self._run("INSERT INTO chat_message (room_id, handle, message, timestamp) VALUES (?, ?, ?, ?)",
                  [(room["id"], "seed", text, stamp) for text in texts], many=True)


def _as_utc(name, value):
    """Timestamps as aware UTC datetimes, whichever database stored them."""
    if name in ("timestamp", "created") and value is not None:
        if isinstance(value, str):  # SQLite keeps Django's UTC as text
            value = datetime.fromisoformat(value).replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
    return value


@pytest.fixture(scope="module")
def db(stack):
    return Database(stack.env["DATABASE_URL"])


# --------------------------------------------------------------------------
# Assertions about frames


def assert_message_frame(frame, label, handle, message, client_id=None, user=False):
    """A chat message frame with exactly the documented keys and values."""
    keys = {"type", "id", "previous_id", "room", "handle", "user", "message", "timestamp"}
    assert set(frame) == keys | ({"client_id"} if client_id else set()), frame
    assert frame.get("client_id") == client_id, frame
    assert frame["user"] is user, frame
    assert frame["type"] == "message", frame
    assert isinstance(frame["id"], int) and frame["id"] > 0, frame
    assert (frame["room"], frame["handle"], frame["message"]) == (label, handle, message), frame
    stamp = datetime.fromisoformat(frame["timestamp"])
    assert stamp.utcoffset() == timedelta(0), "timestamp is not UTC: %r" % frame["timestamp"]
    return frame


def assert_error_frame(frame, code, **fields):
    """An error frame with exactly the documented keys: the three every error
    has, and the extra `fields` this code carries, with their values."""
    assert set(frame) == {"type", "code", "detail"} | set(fields), frame
    assert frame["type"] == "error" and frame["code"] == code, frame
    assert all(frame[key] == value for key, value in fields.items()), (frame, fields)
    assert isinstance(frame["detail"], str) and frame["detail"], frame
    return frame


def wait_for(check, timeout=WS_TIMEOUT, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail("Timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(interval)
