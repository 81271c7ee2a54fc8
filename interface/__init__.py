"""
What runs only inside Daphne, the interface server (`daphne asgi:channel_layer`).

Daphne moves messages between sockets and the channel layer; the Django
code runs in the workers. These modules add what must hold in Daphne's own
process, before anything reaches Redis or a worker:

    layer.py            the channel layer settings name: redis_layer's, with
                        the jobs below, switched on by asgi.py
    budgets.py          per-socket and per-address frame and connect budgets
    busy.py             a frame refused for a full websocket.receive is
                        answered rate_limited; its socket's order renumbered
    disconnects.py      websocket.disconnect sent on Daphne's behalf, and the
                        sockets closed after a Redis restart
    publishing.py       which sockets this Daphne holds, in the registry
    collection.py       full garbage collections
    twisted_receive.py  Daphne's Twisted-mode read of its process channel
    endpoint.py         the `chat:` listening endpoint (twisted/plugins/)
    http_request.py     request body cap, trusted X-Forwarded-For, HTTP budgets
    access_log.py       control characters escaped in Daphne's access log
"""
