#!/usr/bin/env python
"""
The upstream test suites of the pinned libraries, run against this
project's environment: the venv of the Python that runs this script
(`make upstream-tests` runs `$(BIN)/python tests/upstream/run.py`).

    .venv/bin/python tests/upstream/run.py                  # every suite
    .venv/bin/python tests/upstream/run.py channels daphne  # some of them
    .venv/bin/python tests/upstream/run.py --full           # with the tests left out for time

Suites: channels 1.1.8, daphne 1.4.2, asgi_redis 1.4.3 (one Redis; two
shards and a sentinel; its Twisted extension), asgiref 1.1.2, and asgiref's
conformance suite against interface.layer.ChatChannelLayer: the main suite's
tests/test_layer_conformance.py, run as it is (one shard and two, as
workers and as Daphne read; it starts its own two private redis-servers).
Each runs in its own pytest process; the asgi_redis tests talk to
redis-servers and a redis-sentinel this script starts on free ports, never
the machine's 6379, and stops by pid however it ends.

Where each suite's tests come from, every test-side shim and every test
left out, with the reasons: tests/upstream/README.md. Deselections are
the DESELECTED table below. Exit status: 0 when every suite ran and
nothing failed, 1 when a test failed, 2 when the set-up failed.
"""
import argparse
import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parents[1]
VENDOR = HERE / "vendor"
sys.path.insert(0, str(PROJECT))

from tests.support.processes import ProcessGroup, _die_with_parent, start_listening  # noqa: E402
from tests.support.redis_server import redis_ping, start_redis  # noqa: E402

# The releases under test: version and sha256 of the sdist on PyPI. The
# installed package of the same name is compared with it file by file.
SDISTS = {
    "channels": ("1.1.8", "02a82661241de0cf3bfa228cfc1e3e5c999a31215e213e6502a7ed60391c5e3f"),
    "daphne": ("1.4.2", "302725f223853b05688f28c361e050f8db9568b1ce27340c76272c26b49e6d72"),
    "asgi_redis": ("1.4.3", "f1f7a86439d764a6cd6c11d165a500d7287d5447ac8eb4c7b2483456cf3cb383"),
    "asgiref": ("1.1.2", "8b46c3d6e2ad354d9da3cfb9873f9bd46fe1b768fbc11065275ba5430a46700c"),
}

# Tests left out, each with its reason. `time` entries run with --full.
DESELECTED = {
    "asgi_redis": [
        ("tests/test_integration.py::IntegrationTest::test_benchmark", "time",
         "channels' benchmark client (100 sockets, 5 messages each) against a live Daphne and one "
         "worker thread; the test always takes 90 s (its loop reads proc.returncode without "
         "poll(), so it never ends early). ConcurrentIntegrationTest::test_benchmark runs the same "
         "benchmark against four worker threads and stays in."),
    ],
}

SUITE_NAMES = ("channels", "daphne", "asgi_redis", "asgi_redis-shards", "asgi_redis-twisted", "asgiref",
               "conformance")
SERVICE_VARIABLE = re.compile(r"^(DJANGO|DATABASE|REDIS|CHANNEL_LAYER|CHAT|DAPHNE|WORKER|NGINX)_")
SUITE_TIMEOUT = 600


def cache_dir():
    """Downloads and work folders: outside git (UPSTREAM_CACHE overrides)."""
    base = os.environ.get("UPSTREAM_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "chat-upstream")
    return Path(base)


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


class SetupError(Exception):
    pass


# --------------------------------------------------------------------------
# Before any suite: the test dependencies, the sources, the releases


def pinned(requirements):
    pins = []
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins.append((name, version))
    return pins


def ensure_requirements(cache):
    """tests/upstream/requirements.txt in a folder of its own, put on the
    suites' PYTHONPATH: never into the venv, which stays the service's exact
    set (channels imports asgi_ipc at every start when it is installed)."""
    return install_into(cache, HERE / "requirements.txt")


def ensure_txredisapi(cache):
    """txredisapi in a folder of its own, for test_twisted.py only (see its requirements file)."""
    return install_into(cache, HERE / "requirements-txredisapi.txt")


def install_into(cache, requirements):
    """The pins of `requirements` (no dependencies beyond them) in a cache
    folder for this Python, made once; its path."""
    pins = pinned(requirements)
    key = hashlib.sha256(repr(pins).encode()).hexdigest()[:12]
    target = cache / ("%s-%s-py%d.%d" % ((requirements.stem, key) + sys.version_info[:2]))  # runs may be concurrent
    if not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)
        print("Installing the upstream suites' test dependencies into %s" % target, flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile",
                        "--target", str(target), "-r", str(requirements)], check=True)
        (target / ".complete").touch()
    return target


def verify_vendored():
    """The vendored test sources are the ones recorded in vendor/SHA256SUMS."""
    recorded = {}
    for line in (VENDOR / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(None, 1)
        recorded[name.lstrip("*")] = digest
    present = {str(path.relative_to(VENDOR)) for path in VENDOR.rglob("*")
               if path.is_file() and "__pycache__" not in path.parts and path.name != "SHA256SUMS"}
    problems = ["%s: not in SHA256SUMS" % name for name in sorted(present - set(recorded))]
    problems += ["%s: missing" % name for name in sorted(set(recorded) - present)]
    problems += ["%s: changed" % name for name in sorted(set(recorded) & present)
                 if sha256(VENDOR / name) != recorded[name]]
    if problems:
        raise SetupError("tests/upstream/vendor differs from vendor/SHA256SUMS:\n  " + "\n  ".join(problems))


def fetch_sdists(cache):
    """The four sdists from PyPI into the cache, each checked against its sha256."""
    folder = cache / "sdists"
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, (version, digest) in SDISTS.items():
        path = folder / ("%s-%s.tar.gz" % (name, version))
        if not path.exists() or sha256(path) != digest:
            with tempfile.TemporaryDirectory(dir=folder) as download:
                subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                                "--no-binary", ":all:", "-d", download, "%s==%s" % (name, version)],
                               check=True)
                got, = Path(download).iterdir()
                os.replace(got, path)
        if sha256(path) != digest:
            raise SetupError("%s: sha256 %s, expected %s" % (path, sha256(path), digest))
        paths[name] = path
    return paths


def compare_installed(sdists):
    """Every file of each package in its sdist, byte for byte in this venv.
    Returns a result row like a suite's."""
    started = time.monotonic()
    identical, problems = 0, []
    for name, path in sdists.items():
        version = SDISTS[name][0]
        package_dir = Path(importlib.util.find_spec(name).submodule_search_locations[0])
        site = package_dir.parent
        top = "%s-%s/" % (name, version)
        with tarfile.open(path) as archive:
            for member in archive.getmembers():
                if not member.isfile() or not member.name.startswith(top + name + "/"):
                    continue
                relative = member.name[len(top):]
                # daphne installs daphne/twisted/plugins/ as twisted/plugins/ (package_dir).
                if relative.startswith("daphne/twisted/"):
                    relative = relative[len("daphne/"):]
                installed = site / relative
                if not installed.exists():
                    problems.append("%s: not installed (%s)" % (member.name, installed))
                elif installed.read_bytes() != archive.extractfile(member).read():
                    problems.append("%s: differs from %s" % (member.name, installed))
                else:
                    identical += 1
    for problem in problems:
        print("  " + problem)
    return dict(passed=identical, failed=len(problems), skipped=0, xfailed=0, deselected=0,
                seconds=time.monotonic() - started, note="" if not problems else "installed files differ")


# --------------------------------------------------------------------------
# The servers


def start_servers(group):
    """Two private redis-servers and a redis-sentinel watching both."""
    redis_ports = [start_redis(group)[1] for _ in range(2)]
    sentinel_dir = Path(group.workdir) / "sentinel"
    sentinel_dir.mkdir(exist_ok=True)

    def sentinel_argv(port):
        config = sentinel_dir / ("sentinel-%d.conf" % port)  # sentinel rewrites it: its own file
        config.write_text("".join([
            "port %d\nbind 127.0.0.1\ndir %s\n" % (port, sentinel_dir),
            "".join("sentinel monitor master-%d 127.0.0.1 %d 1\n" % (index + 1, redis_port)
                    for index, redis_port in enumerate(redis_ports)),
        ]))
        return [shutil.which("redis-server"), str(config), "--sentinel"]

    _, sentinel_port = start_listening(group, "redis-sentinel", sentinel_argv, redis_ping, timeout=20)
    return redis_ports, sentinel_port


def flush(ports):
    import redis
    for port in ports:
        redis.StrictRedis(host="127.0.0.1", port=port).flushall()


# --------------------------------------------------------------------------
# The suites


def suites(work, redis_ports, sentinel_port, txredisapi, test_dependencies):
    """name -> how to run it. Plugins are tests/upstream/upstream_shims/ modules,
    loaded in order; `compat` (proj/compat.py) always first."""
    hosts = [["127.0.0.1", port] for port in redis_ports]
    asgi_redis = dict(
        cwd=work / "asgi_redis", path=[work / "testproject"], django=True,
        plugins=["conformance_base", "asgi_redis_hosts"],
        # asgi_redis's own pytest.ini: the channels testproject's settings.
        env={"DJANGO_SETTINGS_MODULE": "testproject.settings.channels_redis",
             "REDIS_URL": "redis://127.0.0.1:%d/0" % redis_ports[0],
             "UPSTREAM_REDIS_HOSTS": json.dumps(hosts[:1])},
        ini="[pytest]\ndjango_find_project = false\n")
    available = {
        "channels": dict(
            title="channels 1.1.8: tests/ at its tag",
            cwd=work / "channels", args=["tests"], django=True,
            plugins=["django_test_mock"],
            env={"DJANGO_SETTINGS_MODULE": "upstream_shims.channels_settings"}),
        "daphne": dict(
            title="daphne 1.4.2: daphne/tests from its sdist",
            cwd=work / "daphne", args=["--pyargs", "daphne.tests"],
            plugins=["hypothesis3"]),
        "asgi_redis": dict(
            asgi_redis, title="asgi_redis 1.4.3: tests/ at its tag, one Redis",
            args=["tests/test_core.py", "tests/test_local.py", "tests/test_integration.py"]),
        "asgi_redis-shards": dict(
            asgi_redis, title="asgi_redis 1.4.3: two shards and a sentinel (its docker layout)",
            args=["tests/test_core.py", "tests/test_sentinel.py"],
            env=dict(asgi_redis["env"], UPSTREAM_REDIS_HOSTS=json.dumps(hosts),
                     UPSTREAM_SENTINEL_HOSTS=json.dumps([["127.0.0.1", sentinel_port]]),
                     UPSTREAM_SENTINEL_SERVICES=json.dumps(["master-1", "master-2"]))),
        "asgi_redis-twisted": dict(
            asgi_redis, title="asgi_redis 1.4.3: its Twisted extension (txredisapi, this run only)",
            args=["tests/test_twisted.py"], path=asgi_redis["path"] + [txredisapi]),
        "asgiref": dict(
            title="asgiref 1.1.2: tests/ at its tag",
            cwd=work / "asgiref", args=["tests"], plugins=["conformance_base"]),
        "conformance": dict(
            title="asgiref 1.1.2 conformance against interface.layer.ChatChannelLayer: "
                  "the main suite's tests/test_layer_conformance.py",
            cwd=PROJECT, ini_path=PROJECT / "pytest.ini", django=True,
            args=["tests/test_layer_conformance.py"]),
    }
    for suite in available.values():
        suite["path"] = list(suite.get("path", [])) + [test_dependencies]
    return available


def lay_out_work(work):
    """A copy of the vendored tests to run in (they write there: a SQLite
    database, caches), outside the repository."""
    copies = {"channels/tests": "channels-1.1.8/tests", "testproject": "channels-1.1.8/testproject",
              "asgi_redis/tests": "asgi_redis-1.4.3/tests", "asgiref/tests": "asgiref-1.1.2/tests"}
    for target, source in copies.items():
        shutil.copytree(VENDOR / source, work / target)
    (work / "daphne").mkdir()


def child_environment(extra):
    env = {key: value for key, value in os.environ.items()
           if not SERVICE_VARIABLE.match(key)
           and key not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH", "PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # nothing written into site-packages (daphne's tests run there)
    env.update(extra)
    return env


def run_suite(name, suite, work, full):
    cwd = Path(suite["cwd"])
    ini = suite.get("ini_path")
    if ini is None:
        ini = work / ("%s.ini" % name)
        ini.write_text(suite.get("ini", "[pytest]\n"))
    junit = work / ("%s.xml" % name)
    deselected = [(test, kind, reason) for test, kind, reason in DESELECTED.get(name.split("-")[0], [])
                  if any(test.startswith(arg) for arg in suite["args"]) and not (full and kind == "time")]
    command = [sys.executable, "-m", "pytest", "-p", "upstream_shims.compat"]
    for plugin in suite.get("plugins", []):
        command += ["-p", "upstream_shims." + plugin]
    if not suite.get("django"):
        command += ["-p", "no:django"]
    command += ["-c", str(ini), "--rootdir", str(cwd), "-p", "no:cacheprovider", "-q", "-rfEs",
                "--disable-warnings", "--junitxml", str(junit), "-o", "junit_family=xunit1"]
    for test, _, _ in deselected:
        command += ["--deselect", test]
    command += suite["args"]
    path = [cwd] + list(suite.get("path", [])) + [HERE, PROJECT]
    env = child_environment(dict(suite.get("env", {}), PYTHONPATH=os.pathsep.join(map(str, path))))

    print("\n=== %s (%s)" % (name, suite["title"]), flush=True)
    for test, _, reason in deselected:
        print("    deselected %s: %s" % (test, reason))
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=cwd, env=env, start_new_session=True,
                               preexec_fn=_die_with_parent)  # SIGTERM if run.py is killed
    note = ""
    try:
        returncode = process.wait(timeout=SUITE_TIMEOUT)
    except subprocess.TimeoutExpired:
        note = "timed out after %d s" % SUITE_TIMEOUT
        returncode = None
    finally:
        stop_process_group(process)
    result = count_junit(junit)
    result.update(deselected=len(deselected), seconds=time.monotonic() - started)
    if returncode not in (0, 1) and not note:
        note = "pytest exited %s" % returncode
    if returncode == 1 and not result["failed"]:
        note = "pytest reported a failure"
    if note:
        result["failed"] = max(result["failed"], 1)
    result["note"] = note
    return result


def stop_process_group(process):
    """The pytest process and whatever it started (its own session), by its pid."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # leftovers of a finished run (servers it forked)
    except ProcessLookupError:
        pass
    process.wait()


def count_junit(path):
    counts = dict(passed=0, failed=0, skipped=0, xfailed=0)
    if not path.exists():
        return counts
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        children = {child.tag: child for child in case}
        if "failure" in children or "error" in children:
            counts["failed"] += 1
        elif "skipped" in children:
            kind = "xfailed" if children["skipped"].get("type") == "pytest.xfail" else "skipped"
            counts[kind] += 1
        else:
            counts["passed"] += 1
    return counts


def print_summary(results):
    print("\n=== Upstream suites on Python %s (%s)" % (sys.version.split()[0], sys.executable))
    print("%-22s %7s %7s %8s %8s %11s %8s" % ("suite", "passed", "failed", "skipped", "xfailed",
                                             "deselected", "seconds"))
    for name, result in results.items():
        print("%-22s %7d %7d %8d %8d %11d %8.1f  %s" % (
            name, result["passed"], result["failed"], result["skipped"], result["xfailed"],
            result["deselected"], result["seconds"], "FAILED " + result["note"] if result["failed"] else ""))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("suites", nargs="*", help="names of suites to run (default: all)")
    parser.add_argument("--full", action="store_true", help="also run the tests left out for time")
    options = parser.parse_args()
    unknown = set(options.suites) - set(SUITE_NAMES)
    if unknown:
        parser.error("no suite %s; there are: %s" % (", ".join(sorted(unknown)), ", ".join(SUITE_NAMES)))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the servers are stopped

    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    # A folder of this run's own: runs on one machine may overlap (CI, a developer).
    work = Path(tempfile.mkdtemp(prefix="work-py%d.%d-" % sys.version_info[:2], dir=cache))
    try:
        test_dependencies = ensure_requirements(cache)
        verify_vendored()
        sdists = fetch_sdists(cache)
        txredisapi = ensure_txredisapi(cache)
        lay_out_work(work)
    except (SetupError, subprocess.CalledProcessError) as error:
        print("upstream tests: set-up failed: %s" % error, file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)
        return 2

    results = {}
    print("=== release files: installed == the PyPI sdists", flush=True)
    results["release-files"] = compare_installed(sdists)
    group = ProcessGroup(work / "servers")
    try:
        redis_ports, sentinel_port = start_servers(group)
        available = suites(work, redis_ports, sentinel_port, txredisapi, test_dependencies)
        assert tuple(available) == SUITE_NAMES
        for name, suite in available.items():
            if options.suites and name not in options.suites:
                continue
            flush(redis_ports)
            try:
                results[name] = run_suite(name, suite, work, options.full)
            except BaseException:
                results[name] = dict(passed=0, failed=1, skipped=0, xfailed=0, deselected=0, seconds=0,
                                     note="interrupted")
                raise
    finally:
        group.stop_all()
        print_summary(results)
        failed = any(result["failed"] for result in results.values())
        if failed:
            print("Logs of the servers and each suite's junit XML: %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
