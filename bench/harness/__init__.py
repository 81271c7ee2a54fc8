"""
The benchmark harness: one library the benchmarks share.

    deps      the harness's own packages (websockets, matplotlib) in bench/.deps
    stacks    the servers under test, started and stopped by pid: this project
              as it ships, the Channels 4 peer, the bare websockets server
    measure   CPU seconds and RSS per process, from /proc
    client    the open-loop load client (asyncio + websockets)
    workloads W0 to W5 and the handshake, each a short scenario on the above
    report    docs/performance.md, its plots and the capacity model

`python -m bench run --quick` runs it all (bench/README.md).
"""
