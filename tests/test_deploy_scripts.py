"""
The deploy/ scripts' own logic, without starting a server: the command line
deploy/daphne.sh builds, nginx's upstream, and malformed values refused by
name. A stand-in VENV holds a `daphne` that prints the arguments it got.
"""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVICE_PREFIXES = ("DJANGO_", "DATABASE_", "REDIS_", "CHANNEL_LAYER_", "CHAT_", "DAPHNE_", "WORKER_", "NGINX_")


@pytest.fixture
def venv(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    daphne = bin_dir / "daphne"
    daphne.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    daphne.chmod(0o755)
    return str(tmp_path)


def run(script, *args, **env):
    clean = {key: value for key, value in os.environ.items() if not key.startswith(SERVICE_PREFIXES)}
    clean.pop("VENV", None)
    clean.update(env)
    return subprocess.run(["sh", os.path.join(ROOT, "deploy", script)] + list(args), env=clean,
                          capture_output=True, text=True, timeout=30)


def daphne_argv(venv, *args, **env):
    result = run("daphne.sh", *args, VENV=venv, REDIS_URL="redis://127.0.0.1:1/0", **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def refusal(script, **env):
    result = run(script, **env)
    assert (result.returncode, result.stdout) == (1, ""), result
    return result.stderr.strip()


def test_daphne_n_runs_with_the_documented_flags_on_its_port(venv):
    assert daphne_argv(venv, "1", DAPHNE_PORT="9000") == [
        "asgi:channel_layer", "-e", "chat:tcp:port=9001:interface=127.0.0.1:backlog=1024",
        "--ping-interval", "20", "--ping-timeout", "30",
        "--websocket_timeout", "43200", "--websocket_connect_timeout", "10",
        "--access-log", "-", "--proxy-headers",
    ]


def test_daphne_escapes_an_ipv6_address_for_its_endpoint(venv):
    argv = daphne_argv(venv, DAPHNE_BIND="[::1]")
    assert argv[1:3] == ["-e", r"chat:tcp:port=8001:interface=\:\:1:backlog=1024"]


def test_operators_override_daphnes_numbers(venv):
    argv = daphne_argv(venv, "--root-path", "/chat", DAPHNE_PING_INTERVAL="10", DAPHNE_PING_TIMEOUT="15",
                       DAPHNE_WEBSOCKET_TIMEOUT="3600", DAPHNE_PROXY_HEADERS="0", DAPHNE_LISTEN_BACKLOG="4096")
    options = dict(zip(argv[1::2], argv[2::2]))
    assert options["--ping-interval"] == "10" and options["--ping-timeout"] == "15"
    assert options["--websocket_timeout"] == "3600" and options["--root-path"] == "/chat"
    assert "--proxy-headers" not in argv
    assert argv[2].endswith(":backlog=4096")


@pytest.mark.parametrize("name, value", [
    ("DAPHNE_PORT", "http"), ("DAPHNE_PORT", "0"), ("DAPHNE_PROXY_HEADERS", "maybe"),
    ("DAPHNE_PING_INTERVAL", "20s"), ("DAPHNE_PING_TIMEOUT", "0"), ("DAPHNE_LISTEN_BACKLOG", "0"),
    # Daphne would take 0 as "the group expiry" and -1 as "never".
    ("DAPHNE_WEBSOCKET_TIMEOUT", "0"), ("DAPHNE_WEBSOCKET_TIMEOUT", "-1"),
    ("CHANNEL_LAYER_GROUP_EXPIRY", "a day"),
])
def test_daphne_refuses_a_malformed_value_by_name(venv, name, value):
    message = refusal("daphne.sh", VENV=venv, REDIS_URL="redis://127.0.0.1:1/0", **{name: value})
    assert message.startswith("daphne.sh: %s=%s " % (name, value)), message


def test_daphne_refuses_a_socket_lifetime_beyond_the_group_membership(venv):
    message = refusal("daphne.sh", VENV=venv, REDIS_URL="redis://127.0.0.1:1/0",
                      DAPHNE_WEBSOCKET_TIMEOUT="7200", CHANNEL_LAYER_GROUP_EXPIRY="3600")
    assert "DAPHNE_WEBSOCKET_TIMEOUT=7200 must be below CHANNEL_LAYER_GROUP_EXPIRY=3600" in message


@pytest.mark.parametrize("script", ["daphne.sh", "worker.sh", "presence.sh", "supervisord.sh"])
def test_the_scripts_that_need_redis_name_redis_url(venv, script):
    assert "REDIS_URL is not set" in refusal(script, VENV=venv)


@pytest.mark.parametrize("name", ["DAPHNE_PROCESSES", "WORKER_PROCESSES"])
def test_supervisord_refuses_a_count_that_is_not_one_or_more(venv, name):
    message = refusal("supervisord.sh", VENV=venv, REDIS_URL="redis://127.0.0.1:1/0", **{name: "0"})
    assert message.startswith("supervisord.sh: %s=0 " % name), message


@pytest.mark.parametrize("counts", [
    {"SOCKET_WORKER_PROCESSES": "2"},
    {"BACKGROUND_WORKER_PROCESSES": "2"},
    {"SOCKET_WORKER_PROCESSES": "two", "BACKGROUND_WORKER_PROCESSES": "2"},
])
def test_supervisord_refuses_split_pools_that_leave_a_channel_without_workers(venv, counts):
    message = refusal("supervisord.sh", VENV=venv, REDIS_URL="redis://127.0.0.1:1/0", WORKER_PROCESSES="0", **counts)
    assert message.startswith("supervisord.sh: "), message
    assert "SOCKET_WORKER_PROCESSES" in message, message


def test_nginx_upstream_lists_every_daphne_never_taken_out_of_rotation():
    result = run("render-nginx.sh", DAPHNE_PORT="9000", DAPHNE_PROCESSES="3", NGINX_LISTEN="127.0.0.1:9080")
    assert result.returncode == 0, result.stderr
    servers = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("server 127.")]
    assert servers == ["server 127.0.0.1:%d max_fails=0;" % port for port in (9000, 9001, 9002)]
    assert "listen 127.0.0.1:9080;" in result.stdout and "@" not in result.stdout


def test_nginx_values_that_would_break_the_configuration_are_refused():
    message = refusal("render-nginx.sh", NGINX_SERVER_NAME="chat.example.com; include /etc/passwd")
    assert message.startswith("render-nginx.sh: NGINX_SERVER_NAME contains a character nginx would misread")
