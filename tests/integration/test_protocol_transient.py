"""
What a handshake gets while the service is down, as docs/protocol.md
promises: never the 403 of a path that is refused for good, nor an error
frame with a close code, so a client tells "retry with back-off" from "stop".
Workers gone: no HTTP answer at all (Daphne drops the connection once its
5 s handshake timeout passes). Redis gone: HTTP 500 at once.
"""
import time

import pytest
import websocket

from tests.support.chat_stack import chat_stack

from .conftest import chat_path, http_request

pytestmark = [pytest.mark.integration, pytest.mark.one_database]


def handshake_failure(url):
    """(the exception a handshake ended with, seconds it took)."""
    started = time.monotonic()
    with pytest.raises(Exception) as failed:
        websocket.create_connection(url, timeout=30).close()
    return failed.value, time.monotonic() - started


def test_a_handshake_while_workers_or_redis_are_down_is_no_403(tmp_path, module_database):
    with chat_stack(tmp_path, workers=1, DATABASE_URL=module_database("protocol_transient")) as stack:
        label = "transient"
        assert http_request(stack.url("/%s/" % label)).status == 200
        websocket.create_connection(stack.ws_url(chat_path(label)), timeout=10).close()

        for worker in list(stack.workers):
            worker.stop()
            stack.workers.remove(worker)
        failure, took = handshake_failure(stack.ws_url(chat_path(label)))
        assert not isinstance(failure, websocket.WebSocketBadStatusException), failure  # no HTTP answer
        assert isinstance(failure, (ConnectionError, websocket.WebSocketConnectionClosedException)), failure
        assert 4 < took < 10, took

        stack.redis.stop()
        failure, took = handshake_failure(stack.ws_url(chat_path(label)))
        assert isinstance(failure, websocket.WebSocketBadStatusException), failure
        assert failure.status_code == 500 and took < 4, (failure, took)
