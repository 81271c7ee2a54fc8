"""
Where channel sessions cost least: the project's database store against
Django's cache store on Redis, per chat frame, side by side in one run.

    .venv/bin/python bench/channel_sessions.py            # about two minutes
    .venv/bin/python bench/channel_sessions.py --quick    # smoke check

Why: every websocket.receive runs channel_session and enforce_ordering,
which load the socket's session and save it again (the next order number
changes on every frame). Measured here, chat/sessions.py keeps them in
Redis through Django's cache store and django-redis (Django 2.2 has no
Redis cache of its own) whenever Redis is configured; the database store
remains for runserver.

How: a private redis-server and a private PostgreSQL on free ports, and a
SQLite file. For each store the parent runs this file as a child that times
N frames' session work exactly as a worker does it (load by reply channel,
bump the order, save), and, for scale, N chat messages saved with
Room.post in the same database. Rounds alternate between the stores, so
the machine's noise falls on all alike. Everything started is stopped, by
pid, in a finally block.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
DEFAULT_OUTPUT = os.path.join(HERE, "results", "channel_sessions.txt")
# The store follows the settings: REDIS_URL set means Redis (the cache store).
STORES = ("db-sqlite", "db-postgresql", "cache-redis-on-postgresql")


def child(store, frames):
    """Runs in the child: returns µs per frame for the session work and for Room.post."""
    import django
    django.setup()
    from channels.sessions import session_for_reply_channel
    from django.conf import settings
    from django.core.management import call_command

    from chat.models import Room

    call_command("migrate", verbosity=0)
    room, _ = Room.objects.get_or_create(label="bench")
    sockets = ["daphne.response.bench!%d" % n for n in range(50)]
    for reply_channel in sockets:  # the handshake creates each session
        session = session_for_reply_channel(reply_channel)
        session["__channels_next_order"] = 1
        session["room_id"] = room.pk
        session.save(must_create=True)

    started = time.perf_counter()
    for number in range(frames):
        session = session_for_reply_channel(sockets[number % len(sockets)])
        session["__channels_next_order"] = session.get("__channels_next_order", 1) + 1
        session.save()
    session_us = (time.perf_counter() - started) / frames * 1e6

    started = time.perf_counter()
    for number in range(frames):
        room.post("bench", "message %d" % number)
    post_us = (time.perf_counter() - started) / frames * 1e6

    for reply_channel in sockets:
        session_for_reply_channel(reply_channel).delete()
    return {"session_us": session_us, "post_us": post_us}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", default=DEFAULT_OUTPUT)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    frames, rounds = (200, 1) if args.quick else (1000, 5)
    if args.child:
        print(json.dumps(child(args.child, frames)))
        return

    from tests.support.postgres import private_postgres
    from tests.support.processes import ProcessGroup, start_redis

    workdir = tempfile.mkdtemp(prefix="bench-sessions-")
    try:
        with ProcessGroup(os.path.join(workdir, "redis")) as group, \
                private_postgres(os.path.join(workdir, "pg")) as postgres:
            _, redis_port = start_redis(group)
            postgres.create_database("bench")
            base = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DATABASE_", "REDIS_"))}
            base.update(DJANGO_SETTINGS_MODULE="proj.settings", PYTHONPATH=REPO)
            redis_url = "redis://127.0.0.1:%d/0" % redis_port
            urls = {"db-sqlite": "sqlite:///" + os.path.join(workdir, "bench.sqlite3"),
                    "db-postgresql": postgres.url("bench"),
                    "cache-redis-on-postgresql": postgres.url("bench")}
            samples = {store: [] for store in STORES}
            for _ in range(rounds):
                for store in STORES:
                    output = subprocess.run([sys.executable, __file__, "--child", store],
                                            env=dict(base, DATABASE_URL=urls[store],
                                                     **({"REDIS_URL": redis_url} if "redis" in store else {})),
                                            cwd=REPO,
                                            check=True, capture_output=True, text=True).stdout
                    samples[store].append(json.loads(output.strip().splitlines()[-1]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report(samples, frames, rounds, args)


def report(samples, frames, rounds, args):
    lines = [
        "Channel sessions: the database store against the cache store on Redis, per frame",
        "%s, %s, Python %s, %d cores; %d rounds x %d frames; median of rounds" % (
            datetime.date.today(), platform.machine(), platform.python_version(), os.cpu_count(), rounds, frames),
        "command: .venv/bin/python bench/channel_sessions.py%s" % (" --quick" if args.quick else ""),
        "",
        "%-28s %14s %16s %12s" % ("store", "session µs", "Room.post µs", "session/post"),
    ]
    for store in STORES:
        session = statistics.median(s["session_us"] for s in samples[store])
        post = statistics.median(s["post_us"] for s in samples[store])
        lines.append("%-28s %14.0f %16.0f %12.2f" % (store, session, post, session / post))
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.quick:
        os.makedirs(os.path.dirname(args.output), exist_ok=True)
        with open(args.output, "w") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
