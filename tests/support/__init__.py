"""
The process harness: real servers started on free ports and stopped by pid.
The integration tests, the unit tests that need a Redis, and the benchmarks
(bench/harness/stacks.py) all start what they run through it.

    processes.py     process groups, free ports, bounded waits (the base of the rest)
    redis_server.py  a private redis-server
    chat_stack.py    the chat service: redis-server, deploy/worker.sh, deploy/daphne.sh, deploy/presence.sh
    postgres.py      a private PostgreSQL
    redis_tls.py     redis-server behind TLS, with its certificates
    nginx.py         deploy/nginx.sh in front of a stack
    supervisor.py    the shipped supervisord.conf
    browser.py       headless Chromium for the page tests
"""
