"""
A redis-server speaking only TLS, as Heroku Redis does, with throwaway
certificates made by openssl: a CA, a server certificate it signed, and an
unrelated CA to prove that verification really happens.
"""
import os

import redis

from proj.compat import RedisTLSConnection
from tests.support.processes import start_listening, system_program


class Certificates:
    def __init__(self, directory):
        self.directory = directory
        self.ca = os.path.join(directory, "ca.pem")
        self.ca_key = os.path.join(directory, "ca.key")
        self.server = os.path.join(directory, "server.pem")
        self.server_key = os.path.join(directory, "server.key")
        self.stranger_ca = os.path.join(directory, "stranger-ca.pem")


def make_certificates(group):
    directory = os.path.join(group.workdir, "tls")
    os.makedirs(directory, exist_ok=True)
    certs = Certificates(directory)
    openssl = system_program("openssl")
    for ca, key in ((certs.ca, certs.ca_key), (certs.stranger_ca, os.path.join(directory, "stranger-ca.key"))):
        group.run("openssl-ca", [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                                 "-subj", "/CN=Test CA", "-keyout", key, "-out", ca])
    request = os.path.join(directory, "server.csr")
    group.run("openssl-csr", [openssl, "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                              "-keyout", certs.server_key, "-out", request])
    # The name clients check (proj/compat.py checks host names): the address they connect to.
    names = os.path.join(directory, "server.ext")
    with open(names, "w") as ext:
        ext.write("subjectAltName=IP:127.0.0.1\n")
    group.run("openssl-sign", [openssl, "x509", "-req", "-in", request, "-CA", certs.ca, "-CAkey", certs.ca_key,
                               "-CAcreateserial", "-days", "1", "-extfile", names, "-out", certs.server])
    return certs


def start_tls_redis(group, certs, timeout=20):
    """redis-server on a free port, TLS only, no client certificates. Returns (process, port)."""
    redis_server = system_program("redis-server")
    data_dir = os.path.join(group.workdir, "redis-tls")
    os.makedirs(data_dir, exist_ok=True)

    def argv(port):
        return [redis_server, "--port", "0", "--tls-port", port, "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", data_dir, "--tls-cert-file", certs.server,
                "--tls-key-file", certs.server_key, "--tls-ca-cert-file", certs.ca, "--tls-auth-clients", "no"]

    def ready(port):
        # redis-py 2.10's own TLS class does not run on Python 3.12+: the project's.
        pool = redis.ConnectionPool(connection_class=RedisTLSConnection, host="127.0.0.1", port=port,
                                    ssl_cert_reqs="none", socket_timeout=2)
        return redis.Redis(connection_pool=pool).ping()

    return start_listening(group, "redis-tls", argv, ready, timeout)
