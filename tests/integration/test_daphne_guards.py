"""
Daphne's own guards (interface/http_request.py, installed by the chat: endpoint),
over real sockets to a real Daphne as deploy/daphne.sh starts it, with
nothing in front, as the Procfile's `web` behind Heroku's router:

- a request body over CHAT_MAX_REQUEST_BODY (the shipped 1 MiB) is answered
  413, or its connection cut, before Daphne buffers it: no worker runs it and
  Redis never receives it; a body within the cap still reaches a worker;
- a client that writes its own X-Forwarded-For entries ahead of the one
  the router appends is still held to its real address's budgets (the
  shipped CHAT_ADDRESS_CONNECT_RATE/BURST, interface/budgets.py), and cannot
  spend another address's.
"""
import base64
import os
import socket
import time
import urllib.parse
import uuid

import pytest

from tests.support.nginx import public_directory, start_nginx
from tests.support.chat_stack import chat_stack
from tests.support.processes import http_status

pytestmark = [pytest.mark.integration]

CAP = 1024 * 1024            # the shipped CHAT_MAX_REQUEST_BODY
CONNECT_BURST = 30           # the shipped CHAT_ADDRESS_CONNECT_BURST
CONNECT_RATE = 5             # the shipped CHAT_ADDRESS_CONNECT_RATE, a second
ANSWER_WITHIN = 5.0          # seconds for Daphne's 413 or cut


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Daphne (the shipped flags: --proxy-headers, the chat: endpoint), one
    worker, the shipped budgets; SQLite: nothing here depends on the database."""
    with chat_stack(tmp_path_factory.mktemp("chat-stack-daphne-guards"), workers=1,
                    shipped_budgets=True) as running:
        yield running


@pytest.fixture(scope="module")
def room(stack):
    label = "guards-%s" % uuid.uuid4().hex[:12]
    assert http_status(stack.host, stack.http_port, "/%s/" % label) == 200
    return label


# --------------------------------------------------------------------------
# Raw HTTP: what a client that does not follow the rules sends


def connect(stack):
    return socket.create_connection((stack.host, stack.http_port), timeout=ANSWER_WITHIN)


def head(stack, method, path, headers):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s:%d" % (stack.host, stack.http_port)]
    return ("\r\n".join(lines + ["%s: %s" % header for header in headers]) + "\r\n\r\n").encode("latin-1")


def response_head(sock):
    """The status line and headers Daphne sent, b"" if it closed the
    connection (or reset it) without a word; fails after ANSWER_WITHIN s."""
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    except socket.timeout:
        pytest.fail("no answer and no close within %ss; so far: %r" % (ANSWER_WITHIN, data[:200]))
    return data


def status_of(data):
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else None


def send_all(sock, data):
    """Send what Daphne will take; False once it has closed the connection."""
    try:
        sock.sendall(data)
        return True
    except (ConnectionResetError, BrokenPipeError):
        return False


def redis_input_bytes(stack):
    """Bytes Redis has received from all its clients so far (INFO stats)."""
    with socket.create_connection((stack.host, stack.redis_port), timeout=5) as sock:
        sock.sendall(b"INFO stats\r\n")
        data = b""
        while b"total_net_input_bytes:" not in data or not data.endswith(b"\r\n"):
            data += sock.recv(65536)
    for line in data.split(b"\r\n"):
        if line.startswith(b"total_net_input_bytes:"):
            return int(line.split(b":")[1])
    raise AssertionError(data)


def http_requests_run(stack):
    return sum(stack.dispatch_count(worker, "http.request") for worker in stack.workers)


FORM = ("Content-Type", "application/x-www-form-urlencoded")


def test_a_content_length_over_the_cap_is_answered_413_before_the_body_is_sent(stack):
    ran = http_requests_run(stack)
    with connect(stack) as sock:
        started = time.monotonic()
        sock.sendall(head(stack, "POST", "/", [FORM, ("Content-Length", CAP + 1)]))
        answer = response_head(sock)
    assert status_of(answer) == 413, answer
    assert time.monotonic() - started < ANSWER_WITHIN
    assert http_requests_run(stack) == ran


def test_a_body_over_the_cap_sent_whole_never_reaches_redis_or_a_worker(stack):
    size = 4 * CAP
    ran, redis_before = http_requests_run(stack), redis_input_bytes(stack)
    with connect(stack) as sock:
        started = time.monotonic()
        send_all(sock, head(stack, "POST", "/", [FORM, ("Content-Length", size)]) + b"x" * size)
        answer = response_head(sock)
    answered_within = time.monotonic() - started
    time.sleep(0.5)  # what a forwarded body would have cost Redis and the worker by now
    redis_got = redis_input_bytes(stack) - redis_before
    assert redis_got < size // 2, "Redis received %d bytes while a %d-byte body was sent" % (redis_got, size)
    assert http_requests_run(stack) == ran
    assert status_of(answer) in (413, None), answer   # None: cut before the 413 was read
    assert answered_within < ANSWER_WITHIN


def test_a_chunked_body_growing_past_the_cap_is_cut(stack):
    chunk = b"x" * 65536
    ran = http_requests_run(stack)
    with connect(stack) as sock:
        sock.sendall(head(stack, "POST", "/", [FORM, ("Transfer-Encoding", "chunked")]))
        sent = 0
        # One chunk past the cap, never the last (empty) chunk: without the
        # cap Daphne would wait for it, holding what it has.
        while sent <= CAP and send_all(sock, b"%x\r\n%s\r\n" % (len(chunk), chunk)):
            sent += len(chunk)
        answer = response_head(sock)
    assert status_of(answer) in (413, None), answer
    assert http_requests_run(stack) == ran


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_body_within_the_cap_still_reaches_a_worker(stack, framing):
    body = b"a=" + b"x" * (CAP - 2)
    if framing == "chunked":
        headers, payload = [FORM, ("Transfer-Encoding", "chunked")], b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    else:
        headers, payload = [FORM, ("Content-Length", len(body))], body
    ran = http_requests_run(stack)
    with connect(stack) as sock:
        sock.settimeout(30)
        sock.sendall(head(stack, "POST", "/", headers) + payload)
        answer = response_head(sock)
    # Django's CSRF check answers a POST without a token: a worker ran it.
    assert status_of(answer) == 403, answer
    assert http_requests_run(stack) == ran + 1


# --------------------------------------------------------------------------
# The client address behind a router that appends it (Heroku's)


def handshake(stack, label, forwarded_for, extra=(), port=None):
    """A WebSocket handshake to the room with this X-Forwarded-For (to Daphne,
    or to `port`); the HTTP status answered (101: open; the socket is then
    dropped)."""
    port = port or stack.http_port
    headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Origin", "http://%s:%d" % (stack.host, port)),
               ("Sec-WebSocket-Key", base64.b64encode(os.urandom(16)).decode("ascii")),
               ("Sec-WebSocket-Version", "13")]
    headers += [("X-Forwarded-For", forwarded_for)] if forwarded_for else []
    with socket.create_connection((stack.host, port), timeout=15) as sock:
        request = head(stack, "GET", "/chat/%s/" % urllib.parse.quote(label), headers + list(extra))
        if port != stack.http_port:
            request = request.replace(b"Host: %s:%d" % (stack.host.encode(), stack.http_port),
                                      b"Host: %s:%d" % (stack.host.encode(), port))
        sock.sendall(request)
        sock.settimeout(15)
        answer = response_head(sock)
    assert status_of(answer) is not None, answer
    return status_of(answer)


def forged():
    return "10.%d.%d.%d" % tuple(os.urandom(3))


def handshakes_until_refused(stack, label, forwarded_for, most):
    """Handshakes (forwarded_for() gives each one's header) until one is
    refused; the statuses. Fails if any is neither opened nor refused."""
    statuses = []
    while len(statuses) < most:
        statuses.append(handshake(stack, label, forwarded_for()))
        assert statuses[-1] in (101, 503), statuses
        if statuses[-1] == 503:
            break
    return statuses


def test_rotating_forged_entries_ahead_of_the_routers_are_counted_as_one_address(stack, room):
    started = time.monotonic()
    statuses = handshakes_until_refused(stack, room, lambda: "%s, 127.0.0.5" % forged(), most=150)
    elapsed = time.monotonic() - started
    assert statuses[-1] == 503, "never refused: %d handshakes from one address, each with another forged " \
                                "entry, all opened in %.1f s" % (len(statuses), elapsed)
    assert statuses.count(101) <= CONNECT_BURST + CONNECT_RATE * elapsed + 1
    assert "Refusing a WebSocket from 127.0.0.5:" in stack.daphne.log_text()


def test_a_forged_entry_does_not_spend_another_addresss_budget(stack, room):
    # The attacker, at 127.0.0.6 behind the router, names the victim first.
    statuses = handshakes_until_refused(stack, room, lambda: "127.0.0.7, 127.0.0.6", most=150)
    assert statuses[-1] == 503, statuses
    # The victim's own handshake, as the router forwards it, still opens.
    assert handshake(stack, room, "127.0.0.7") == 101
    assert "Refusing a WebSocket from 127.0.0.7:" not in stack.daphne.log_text()


@pytest.mark.parametrize("smuggle", ["\x0b", "\x0c", "\x1c"], ids=["VT", "FF", "FS"])
def test_a_handshake_that_smuggles_a_header_line_past_the_proxy_is_refused(stack, room, smuggle):
    # A proxy takes "x<VT>X-Forwarded-For: ..." for one User-Agent value;
    # autobahn, re-reading the handshake Daphne replays, would see a second
    # X-Forwarded-For line after the router's (GHSA-2gqc-mwv3-66rp).
    status = handshake(stack, room, "127.0.0.8", extra=[("User-Agent", "x%sX-Forwarded-For: %s" % (smuggle, forged()))])
    assert status == 400


@pytest.fixture(scope="module")
def nginx(stack):
    """The shipped nginx.conf in front of the module's Daphne."""
    with public_directory() as public:
        env = dict(stack.env, DAPHNE_BIND=stack.host, DAPHNE_PORT=str(stack.http_port), DAPHNE_PROCESSES="1")
        running = start_nginx(stack.group, env, public)
        try:
            yield running
        finally:
            running.process.stop()


@pytest.mark.parametrize("smuggle", ["\x0b", "\x0c"], ids=["VT", "FF"])
def test_through_nginx_a_smuggled_header_line_is_refused_too(stack, room, nginx, smuggle):
    # nginx passes the byte on inside the User-Agent value, after its own
    # X-Forwarded-For: a count from the right in autobahn's parse would take
    # the smuggled entry.
    status = handshake(stack, room, None, port=nginx.port,
                       extra=[("User-Agent", "x%sX-Forwarded-For: %s" % (smuggle, forged()))])
    assert status == 400


# --------------------------------------------------------------------------
# Per-address HTTP budgets: the shipped 10 sign-ins a minute


SIGNIN_BURST = 10  # the shipped CHAT_ADDRESS_SIGNINS_PER_MINUTE


def sign_in_attempt(stack, forwarded_for):
    body = "username=nobody&password=wrong"
    with connect(stack) as sock:
        sock.sendall(head(stack, "POST", "/accounts/login/", [
            FORM, ("Content-Length", str(len(body))), ("X-Forwarded-For", forwarded_for)]) + body.encode())
        answer = response_head(sock)
    retry_after = [line.split(b":", 1)[1].strip() for line in answer.split(b"\r\n")
                   if line.lower().startswith(b"retry-after:")]
    return status_of(answer), int(retry_after[0]) if retry_after else None


def test_sign_ins_over_the_budget_get_429_with_an_honest_retry_after_whatever_is_forged(stack):
    address = "127.0.0.%d" % (20 + os.urandom(1)[0] % 200)
    runs_before = http_requests_run(stack)
    answers = [sign_in_attempt(stack, "%s, %s" % (forged(), address)) for _ in range(SIGNIN_BURST + 5)]
    # 403: the form without its CSRF token, from a worker; then Daphne's 429s.
    assert [status for status, _ in answers] == [403] * SIGNIN_BURST + [429] * 5, answers
    assert http_requests_run(stack) - runs_before == SIGNIN_BURST  # the refused reached no worker
    retry_after = answers[-1][1]
    assert 1 <= retry_after <= 60 / SIGNIN_BURST + 1, answers[-1]
    assert sign_in_attempt(stack, forged() + ", 127.0.0.250")[0] == 403  # another address is not held
    time.sleep(retry_after)
    assert sign_in_attempt(stack, "%s, %s" % (forged(), address))[0] == 403  # let through when it said


def test_through_nginx_sign_ups_past_its_burst_are_refused_by_nginx_itself(stack, nginx):
    statuses, bodies = [], []
    for _ in range(14):
        body = "username=x&password1=y&password2=y"
        with socket.create_connection((stack.host, nginx.port), timeout=ANSWER_WITHIN) as sock:
            sock.sendall(("POST /accounts/signup/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                          "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s"
                          % (len(body), body)).encode())
            answer = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        statuses.append(status_of(answer))
        bodies.append(answer)
    # nginx's burst of 10 (and its 1 a minute), then its 429s.
    assert statuses[:10] == [403] * 10 and 429 in statuses[10:], statuses
    # nginx's own 429 page: refused before Daphne (whose budget refuses too).
    assert any(b"<center>nginx</center>" in body for body in bodies[10:]), bodies[10:]
