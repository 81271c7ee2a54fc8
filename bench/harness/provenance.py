"""What a benchmark report must say about where its numbers come from: the
machine, the code under test (read-only git calls) and program versions."""
import datetime
import hashlib
import os
import platform
import subprocess

from tests.support.processes import REPO_ROOT

# The server's code: what a report's numbers depend on.
SERVER_PATHS = ["chat", "proj", "deploy", "asgi.py", "routing.py", "requirements.txt", "supervisord.conf",
                "Procfile"]


def _git(*argv):
    return subprocess.run(["git", "-C", REPO_ROOT] + list(argv), stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, timeout=30).stdout


def tree_state():
    """The commit and the uncommitted files of the tree under test, as one line."""
    try:
        head = _git("rev-parse", "--short", "HEAD").decode().strip()
        dirty = _git("status", "--porcelain").decode().splitlines()
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout"
    if not head:
        return "not a git checkout (%s)" % REPO_ROOT
    return "git %s%s" % (head, ", plus %d uncommitted paths: %s" % (
        len(dirty), " ".join(line[3:] for line in dirty)) if dirty else ", clean")


def code_fingerprint():
    """(text, fingerprint) of the code the stacks run: HEAD and any uncommitted change to
    tracked files other than documentation, so a tree edited during a run is noticed."""
    try:
        head = _git("rev-parse", "--short", "HEAD").decode().strip()
        diff = _git("diff", "HEAD", "--", ".", ":(exclude)*.md", ":(exclude)docs")
    except Exception:
        return "unknown", None
    if not head:
        return "unknown", None
    fingerprint = head + ":" + hashlib.sha1(diff).hexdigest()
    if diff:
        return "%s with uncommitted code changes (diff sha1 %s)" % (head, fingerprint[-12:]), fingerprint
    return head, fingerprint


def program_version(argv):
    """The first line a program prints for --version, without Redis's build sha."""
    try:
        return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=10).stdout.split(" sha=")[0].strip()
    except Exception:
        return "unknown"


def machine():
    """The machine, the commit and whether the server's code had uncommitted changes."""
    model = "?"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    commit = _git("rev-parse", "HEAD").decode().strip()
    dirty = _git("status", "--porcelain", "--", *SERVER_PATHS).decode().strip()
    with open("/proc/loadavg") as handle:
        load = handle.read().split()[:3]
    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "kernel": platform.release(), "commit": commit, "server_code_modified": bool(dirty),
            "load_before": load, "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def resolve_commit(rev):
    """The full hash of a revision (git rev-parse), for ProjectStack.commit."""
    done = subprocess.run(["git", "-C", REPO_ROOT, "rev-parse", "--verify", rev + "^{commit}"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit("not a commit: %s" % rev)
    return done.stdout.strip()
