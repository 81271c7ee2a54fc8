"""
The benchmark harness's one command (issue 13):

    .venv/bin/python -m bench run --quick     # every workload, three servers, < 5 minutes
    .venv/bin/python -m bench run             # the full run (about half an hour)
    .venv/bin/python -m bench report          # docs/performance.md again from bench/results/performance.json

Options of run: --servers project,peer,bare; --workloads w0,w1,...; --no-postgresql;
--output PATH (default docs/performance.md; '' writes no report); --json PATH (the raw
results, default bench/results/performance.json); --commit REV (run the project as
committed at REV, exported with git archive, instead of the working tree); --keep (keep the
run directory with every process's log).
"""
import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from bench.harness import deps  # noqa: E402

deps.ensure()

from bench.harness import provenance, report, stacks, workloads  # noqa: E402
from tests.support.processes import ProcessError, ProcessGroup  # noqa: E402

RESULTS = os.path.join(REPO, "bench", "results", "performance.json")
# W4 first: its memory per socket is measured on a Daphne that no earlier workload has grown.
WORKLOADS = {
    "w4": workloads.w4, "w0": workloads.w0, "handshake": workloads.handshakes, "w1": workloads.w1,
    "w1_large": workloads.w1_large, "w2": workloads.w2, "w3": workloads.w3, "w5": workloads.w5,
}
ON_POSTGRESQL = ("w1", "w5")


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def run_stack(data, server, database, names, sizes, workdir):
    """Start one server, run the named workloads on it, stop it (by pid, also on errors and Ctrl-C)."""
    with stacks.STACKS[server](os.path.join(workdir, "%s-%s" % (server, database)), database) as stack:
        data["versions"].setdefault(server, stack.versions())
        if database == "postgresql":
            data["versions"][server]["postgresql"] = stacks.postgres_version()
        for name in names:
            print("  %s" % name, flush=True)
            began = time.monotonic()
            try:
                stack.check_alive()
                result = asyncio.run(WORKLOADS[name](stack, sizes))
                stack.check_alive()
                result["seconds"] = time.monotonic() - began
            except Exception as error:
                traceback.print_exc()
                result = {"error": "%s: %s" % (type(error).__name__, str(error)[:2000])}
            data["runs"].setdefault(server, {}).setdefault(database, {})[name] = result


def run(args):
    sizes = workloads.Sizes(args.quick)
    chosen = args.workloads.split(",") if args.workloads else list(WORKLOADS)
    servers = args.servers.split(",")
    fds = raise_fd_limit()
    if args.commit:
        stacks.ProjectStack.commit = subprocess.run(["git", "rev-parse", "--verify", args.commit + "^{commit}"],
                                                    cwd=REPO, capture_output=True, text=True,
                                                    check=True).stdout.strip()
    stacks.ProjectStack.trial_settings = dict(setting.split("=", 1) for setting in args.set)
    data = {"meta": dict(provenance.machine(), command=" ".join(["python -m bench"] + sys.argv[1:]), quick=args.quick,
                         fd_limit=fds, measured_commit=args.commit and stacks.ProjectStack.commit),
            "versions": {}, "runs": {}}
    workdir = tempfile.mkdtemp(prefix="bench-run-")
    started = time.monotonic()
    print("bench: run directory %s (logs)" % workdir, flush=True)
    try:
        for server in servers:
            databases = ["sqlite"] + (["postgresql"] if server != "bare" and not args.no_postgresql else [])
            for database in databases:
                names = [name for name in chosen if database == "sqlite" or name in ON_POSTGRESQL]
                if not names:
                    continue
                print("== %s%s" % (server, "" if server == "bare" else " on " + database), flush=True)
                try:
                    run_stack(data, server, database, names, sizes, workdir)
                except ProcessError as error:
                    print("bench: %s on %s did not start: %s" % (server, database, error), flush=True)
                    for name in names:
                        data["runs"].setdefault(server, {}).setdefault(database, {})[name] = {
                            "error": "the stack did not start: %s" % str(error).splitlines()[0][:300]}
        if "redis" in chosen or not args.workloads:
            print("== redis-benchmark", flush=True)
            with ProcessGroup(os.path.join(workdir, "redis-benchmark")) as group:
                data["redis_benchmark"] = workloads.redis_benchmark(group, args.quick)
    finally:
        data["meta"]["seconds"] = time.monotonic() - started
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print("bench: %.0f s in all" % data["meta"]["seconds"], flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(data, handle, indent=1, default=str)
        print("bench: wrote %s" % args.json, flush=True)
    if args.output:
        report.write(data, os.path.join(REPO, args.output))
        print("bench: wrote %s" % args.output, flush=True)


def main():
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    run_parser = sub.add_parser("run", help="start the servers, run the workloads, write the report")
    run_parser.add_argument("--quick", action="store_true", help="small sizes and short steps (< 5 minutes)")
    run_parser.add_argument("--servers", default="project,peer,bare")
    run_parser.add_argument("--workloads", default="", help="comma-separated: %s,redis" % ",".join(WORKLOADS))
    run_parser.add_argument("--no-postgresql", action="store_true")
    run_parser.add_argument("--output", default="docs/performance.md")
    run_parser.add_argument("--json", default=RESULTS, help="the raw results (default bench/results/performance.json)")
    run_parser.add_argument("--commit", help="measure this commit of the project (git archive) instead of the "
                            "working tree")
    run_parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                            help="run the project with this setting (an environment variable of README.md), "
                                 "to measure it before shipping it; the report names it")
    run_parser.add_argument("--keep", action="store_true", help="keep the run directory and its logs")
    report_parser = sub.add_parser("report", help="write docs/performance.md from bench/results/performance.json")
    report_parser.add_argument("--json", default=RESULTS)
    report_parser.add_argument("--output", default="docs/performance.md")
    args = parser.parse_args()

    def terminate(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)

    signal.signal(signal.SIGTERM, terminate)
    if args.action == "run":
        run(args)
    else:
        with open(args.json) as handle:
            report.write(json.load(handle), os.path.join(REPO, args.output))


if __name__ == "__main__":
    main()
