"""
The benchmark harness: one library the benchmarks share.

    deps      the harness's own packages (websockets, matplotlib) in bench/.deps
    stacks    the servers under test, started and stopped by pid: this project
              as it ships, the Channels 4 peer, the bare websockets server
    measure   CPU seconds and RSS per process, from /proc
    client    the open-loop load client (asyncio + websockets)
    chatter   a person following docs/protocol.md (resends, back-off, hole
              fills), and the audit of what people sent against what was saved
    churn     sockets that come and go while people chat (the soak's load)
    inject    faults by pid: a worker, Redis, PostgreSQL, Daphne, a flood
    stores    what a running stack holds: saved rows, sessions, Groups, Redis
    workloads W0 to W5 and the handshake, each a short scenario on the above
    report    docs/performance.md, its plots and the capacity model

`python -m bench run --quick` runs it all (bench/README.md).
"""
