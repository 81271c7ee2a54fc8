"""
The channel layer every process uses: asgi_redis's, with fewer round trips
to Redis (redis_layer/layer.py), and the socket registry that Daphne
publishes and the workers prune by (redis_layer/socket_registry.py).

Daphne's own jobs on top of it (budgets, busy answers, disconnects,
restart detection) are in interface/.
"""
