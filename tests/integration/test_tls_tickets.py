"""TLS session resumption with tickets sealed by keys the master shares with
every worker: a session made on one worker resumes on any other and after a
worker is restarted; keys rotate (--tls-ticket-rotation) and a ticket stays
good for two periods."""

import os
import signal
import time

from dataplane import RawClient, children_of, connect, pid_alive, wait_until  # noqa: F401
from test_tls import (client_ctx, https_listener, make_dataplane, pki, req, single, tls_plane,  # noqa: F401
                      wait_https)


_contexts = {}


def visit(pki, port, session=None):
    """One request on a new TLS connection (one client context per CA, as Python
    wants for resumption); returns (session, reused)."""
    ctx = _contexts.setdefault(pki.ca, client_ctx(pki))
    s = ctx.wrap_socket(connect(port), server_hostname="a.example", session=session)
    try:
        c = RawClient(s)
        c.send(req("a.example", "/ticket"))
        assert c.read_response().status == 200
        return s.session, s.session_reused
    finally:
        s.close()


def test_tickets_resume_on_every_worker_and_after_a_restart(single, pki):
    sess, reused = visit(pki, single.port)
    assert not reused and sess.has_ticket
    # single has two workers: twenty connections land on both.
    assert all(visit(pki, single.port, sess)[1] for _ in range(20))
    old = set(single.workers())
    for pid in old:  # the master respawns them
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    wait_until(lambda: len(set(single.workers()) - old) == len(old), timeout=15, what="workers respawned")
    wait_https(pki, single.port, "a.example")
    # New processes, same keys: the old ticket still resumes.
    assert visit(pki, single.port, sess)[1]


def test_ticket_keys_rotate(make_dataplane, pki):
    leaf = pki.leaf("a.example")
    tp = tls_plane(make_dataplane, pki, lambda p: [https_listener("https", p, "cert-a", hostname="a.example")],
                   {"cert-a": leaf}, args=["--tls-ticket-rotation", "1"])
    wait_https(pki, tp.port, "a.example")
    sess, _ = visit(pki, tp.port)
    assert visit(pki, tp.port, sess)[1]
    # After two rotations the key that sealed the ticket is gone: a full handshake.
    time.sleep(3.5)
    _, reused = visit(pki, tp.port, sess)
    assert not reused
    assert "rotated the TLS session ticket keys" in tp.sl.log()
