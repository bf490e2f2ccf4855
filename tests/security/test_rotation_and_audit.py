"""Certificate rotation without downtime (SIGHUP) and the audit trail, on a real ctld."""
from __future__ import annotations

import json
import os
import signal
import socket
import ssl

from cryptography import x509

from hpcq import pki
from hpcq.api import jobs_pb2
from tests.conftest import wait_until


def served_certificate_serial(sc) -> int:
    """Handshake with ctld as the admin and read the certificate it presents."""
    host, port = sc.server.rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(sc.ca))
    context.load_cert_chain(sc.pki / "client.crt", sc.pki / "client.key")
    context.set_alpn_protocols(["h2"])
    with socket.create_connection((host, int(port)), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as tls:
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)).serial_number


def test_sighup_rotates_the_server_certificate_without_downtime(secure):
    before = served_certificate_serial(secure)
    with secure.cluster.client(admin=True) as client:
        pki.issue(secure.pki, "server", "ctld", secure.pki, basename="ctld")
        ctld = int((secure.cluster.home / "run" / "ctld.pid").read_text())
        os.kill(ctld, signal.SIGHUP)
        wait_until(lambda: served_certificate_serial(secure) != before, timeout=10, what="the new certificate")
        # the open channel kept working across the rotation
        assert client.server_info().cluster


def test_the_audit_log_names_who_did_what(secure, tmp_path):
    with secure.cluster.client() as client:  # through the agent: a user the host vouches for
        [job_id] = client.submit([jobs_pb2.JobSpec(script="#!/bin/sh\ntrue\n", hold=True, submit_dir=str(tmp_path))])
        client.cancel([job_id])
    log = secure.cluster.home / "audit.log"
    assert oct(log.stat().st_mode & 0o777) == "0o600"

    def events():
        return [json.loads(line) for line in log.read_text().splitlines()]
    mine = wait_until(lambda: [e for e in events() if e.get("job_ids") == [job_id] or
                               str(job_id) in e.get("results", {})], what="audit lines for the job")
    submit, cancel = mine[0], mine[1]
    # root, vouched for by the agent of the cluster it started, acts as an admin (root_is_admin)
    role = "admin" if os.geteuid() == 0 else "user"
    assert (submit["event"], submit["role"], submit["via_host"]) == ("submit", role, socket.gethostname().split(".")[0])
    assert cancel["event"] == "cancel" and cancel["results"] == {str(job_id): "OK"}


def test_sighup_makes_noded_reconnect_with_its_new_certificate(secure):
    old_serial = x509.load_pem_x509_certificate((secure.pki / "node1.crt").read_bytes()).serial_number
    with secure.cluster.client(admin=True) as client:
        def node1():
            return next(n for n in client.nodes() if n.name == "node1")
        before = node1().boot_time
        pki.issue(secure.pki, "node", "node1", secure.pki)
        pki.revoke(secure.pki, old_serial)  # the old certificate could no longer reconnect
        noded = int((secure.cluster.home / "run" / "node1.pid").read_text())
        os.kill(noded, signal.SIGHUP)
        wait_until(lambda: (n := node1()).connected and n.boot_time > before, timeout=20,
                   what="node1 to register again with its new certificate")
