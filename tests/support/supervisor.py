"""
The one-server deployment as it ships: deploy/release.sh, then
`deploy/supervisord.sh -n` (supervisord.conf: Daphnes and workers) and
`deploy/nginx.sh` (nginx.conf rendered) in front, on free ports.
"""
import os
import signal
import socket
import subprocess

from tests.support.processes import REPO_ROOT, free_port, http_status, venv_program, wait_until

DEPLOY = os.path.join(REPO_ROOT, "deploy")


def free_port_block(count):
    """`count` consecutive free ports (Daphne N listens on DAPHNE_PORT + N)."""
    for _ in range(50):
        base = free_port()
        if base + count > 65535:
            continue
        sockets = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sock.bind(("127.0.0.1", port))
                sockets.append(sock)
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no block of %d free ports" % count)


class Server:
    """supervisord + nginx on one machine, and how to reach and break them."""

    def __init__(self, group, env, supervisord, nginx, daphnes, workers):
        self.group, self.env, self.supervisord, self.nginx = group, env, supervisord, nginx
        self.daphne_count, self.worker_count = daphnes, workers

    @property
    def nginx_port(self):
        return int(self.env["NGINX_LISTEN"].rsplit(":", 1)[1])

    def daphne_port(self, number):
        return int(self.env["DAPHNE_PORT"]) + number

    def log(self, program):
        """supervisord's log of one program, e.g. "daphne_00"."""
        path = os.path.join(self.env["CHAT_RUN_DIR"], "%s.log" % program)
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def status(self):
        """{"daphne_00": ("RUNNING", pid), ...} from supervisorctl."""
        result = subprocess.run([venv_program("supervisorctl"), "-c", os.path.join(REPO_ROOT, "supervisord.conf"),
                                 "status"], env=self.env, capture_output=True, text=True, timeout=30)
        programs = {}
        for line in result.stdout.splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0].startswith("chat:"):
                pid = int(fields[3].rstrip(",")) if fields[1] == "RUNNING" else None
                programs[fields[0][len("chat:"):]] = (fields[1], pid)
        return programs

    def all_running(self):
        programs = self.status()
        expected = self.daphne_count + self.worker_count
        return len(programs) == expected and all(state == "RUNNING" for state, _ in programs.values())

    def kill(self, program):
        """SIGKILL one program by its pid, as a crash would."""
        _, pid = self.status()[program]
        os.kill(pid, signal.SIGKILL)
        return pid


def start_server(group, env, daphnes=2, workers=2, timeout=90):
    env = dict(env)
    env.update({
        "CHAT_RUN_DIR": os.path.join(group.workdir, "run"),
        "DAPHNE_PROCESSES": str(daphnes),
        "WORKER_PROCESSES": str(workers),
        "DAPHNE_BIND": "127.0.0.1",
        "DAPHNE_PORT": str(free_port_block(daphnes)),
        "NGINX_LISTEN": "127.0.0.1:%d" % free_port(),
        "NGINX_PREFIX": os.path.join(group.workdir, "nginx"),
    })
    group.run("release", [os.path.join(DEPLOY, "release.sh")], env=env)
    supervisord = group.start("supervisord", [os.path.join(DEPLOY, "supervisord.sh"), "-n"], env=env)
    server = Server(group, env, supervisord, None, daphnes, workers)
    wait_until(server.all_running, timeout, "every supervisord program RUNNING", watch=[supervisord])
    for number in range(daphnes):
        port = server.daphne_port(number)
        wait_until(lambda: http_status("127.0.0.1", port, "/") == 200, timeout, "daphne_%02d" % number,
                   watch=[supervisord])
    # As root, nginx's workers would drop to `nobody`, who may not read the
    # test's private directories.
    settings = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
    server.nginx = group.start("nginx", [os.path.join(DEPLOY, "nginx.sh"), "-g", settings], env=env)
    wait_until(lambda: http_status("127.0.0.1", server.nginx_port, "/") == 200, timeout, "nginx",
               watch=[server.nginx])
    return server
