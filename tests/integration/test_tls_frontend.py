"""Client certificate validation on HTTPS listeners from the Gateway itself
(spec.tls.frontend, Gateway API v1.6): the default CA references and a per-port
override, AllowValidOnly and AllowInsecureFallback, and what status says about
CA references that do not resolve. Real clients (curl) with certificates from
throwaway CAs (openssl CLI)."""

import json
import shutil
import ssl
import tempfile

import pytest

from conftest import path_for
from dataplane import RawClient, connect, created, free_port, make_dataplane, wait_until  # noqa: F401
from test_tls import PKI, curl, https_listener, pki, req, tls_plane, wait_https  # noqa: F401

CONFIGMAPS = path_for("configmaps", "default", group="")
GATEWAYS = path_for("gateways", "default")


@pytest.fixture
def other_pki():
    d = tempfile.mkdtemp(prefix="sluice-pki-other-")
    yield PKI(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def plane(make_dataplane, pki, other_pki):
    """Gateway gws with HTTPS listeners "a" (a.example, on tp.port) and "b"
    (b.example, on tp.port2), ConfigMaps ca-one (pki's CA) and ca-two
    (other_pki's)."""
    port2 = free_port()
    leaves = {"cert-a": pki.leaf("a.example"), "cert-b": pki.leaf("b.example")}
    tp = tls_plane(make_dataplane, pki, lambda p: [https_listener("a", p, "cert-a", hostname="a.example"),
                                                   https_listener("b", port2, "cert-b", hostname="b.example")],
                   leaves)
    tp.port2 = port2
    for name, ca in (("ca-one", pki.ca), ("ca-two", other_pki.ca)):
        with open(ca, "rb") as f:
            created(tp.sl.post(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                                            "data": {"ca.crt": f.read().decode()}}))
    wait_https(pki, tp.port, "a.example")
    wait_https(pki, port2, "b.example")
    return tp


def frontend(tp, tls):
    created(tp.sl.patch(GATEWAYS + "/gws", {"spec": {"tls": {"frontend": tls}}}))


def validation(ca, mode=None):
    v = {"caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": ca}]}
    if mode:
        v["mode"] = mode
    return {"validation": v}


def get(tp, port, host, cert=None):
    """(curl exit code, X-Forwarded-Client-Cert the backend saw or None)."""
    args = ["--cert", cert.cert_path, "--key", cert.key_path] if cert else []
    rc, out, err = curl(tp.pki, port, host, "/f", args=args)
    if rc != 0:
        return rc, None
    return rc, {k.lower(): v for k, v in json.loads(out)["headers"]}.get("x-forwarded-client-cert")


def status(tp):
    """The Gateway's status once it is written for its current generation."""
    def current():
        g = tp.sl.get(GATEWAYS + "/gws").json()
        conds = (g.get("status") or {}).get("conditions") or []
        return conds and all(c["observedGeneration"] == g["metadata"]["generation"] for c in conds) and g["status"]
    return wait_until(current, what="Gateway gws status at its generation")


def listener_conds(tp, name):
    l = next(l for l in status(tp)["listeners"] if l["name"] == name)
    return {c["type"]: (c["status"], c["reason"]) for c in l["conditions"]}


def test_allow_valid_only_default_and_per_port(plane, pki, other_pki):
    """The default CAs on every HTTPS port, the per-port ones on theirs: a
    certificate of the other CA, or none, ends the handshake."""
    mine, stranger = pki.leaf("client-one", eku="clientAuth"), other_pki.leaf("client-two", eku="clientAuth")
    frontend(plane, {"default": validation("ca-one"), "perPort": [{"port": plane.port2, "tls": validation("ca-two")}]})
    wait_until(lambda: get(plane, plane.port, "a.example")[0] != 0, what="port a asks for a valid certificate")
    rc, xfcc = get(plane, plane.port, "a.example", mine)
    assert rc == 0 and 'Subject="CN=client-one"' in xfcc
    assert get(plane, plane.port, "a.example", stranger)[0] != 0
    wait_until(lambda: get(plane, plane.port2, "b.example", stranger)[0] == 0, what="port b takes the other CA")
    assert get(plane, plane.port2, "b.example", mine)[0] != 0
    assert get(plane, plane.port2, "b.example")[0] != 0
    assert listener_conds(plane, "a")["ResolvedRefs"] == ("True", "ResolvedRefs")
    assert "InsecureFrontendValidationMode" not in {c["type"] for c in status(plane)["conditions"]}


def test_allow_insecure_fallback(plane, pki, other_pki):
    """AllowInsecureFallback: every client is served, but only a certificate
    that verifies is passed on as an identity; the Gateway says it is insecure."""
    mine, stranger = pki.leaf("client-three", eku="clientAuth"), other_pki.leaf("client-four", eku="clientAuth")
    frontend(plane, {"default": validation("ca-one", "AllowInsecureFallback")})
    wait_until(lambda: (get(plane, plane.port, "a.example", mine)[1] or "").find("CN=client-three") > 0,
               what="the valid certificate passed on")
    assert get(plane, plane.port, "a.example", stranger) == (0, None)
    assert get(plane, plane.port, "a.example") == (0, None)
    conds = {c["type"]: c for c in status(plane)["conditions"]}
    assert (conds["InsecureFrontendValidationMode"]["status"],
            conds["InsecureFrontendValidationMode"]["reason"]) == ("True", "ConfigurationChanged")
    # Back to AllowValidOnly (a merge patch keeps keys it does not name): the
    # condition goes and the stranger is refused.
    frontend(plane, {"default": validation("ca-one", "AllowValidOnly")})
    wait_until(lambda: get(plane, plane.port, "a.example", stranger)[0] != 0, what="the stranger refused")
    wait_until(lambda: "InsecureFrontendValidationMode" not in {c["type"] for c in status(plane)["conditions"]},
               what="the condition removed")


def test_unresolved_ca_refs(plane, pki):
    """A listener whose CA references all fail is not accepted and serves
    nothing; one usable reference among bad ones is enough to serve, and the
    bad one is still reported. The other listeners are not affected."""
    mine = pki.leaf("client-five", eku="clientAuth")
    frontend(plane, {"default": validation("ca-one"),
                     "perPort": [{"port": plane.port2, "tls": validation("missing")}]})
    wait_until(lambda: listener_conds(plane, "b").get("Accepted") == ("False", "NoValidCACertificate"),
               what="listener b not accepted")
    conds = listener_conds(plane, "b")
    assert conds["ResolvedRefs"] == ("False", "InvalidCACertificateRef")
    assert conds["Programmed"][0] == "False"
    assert get(plane, plane.port2, "b.example", mine)[0] != 0
    assert get(plane, plane.port, "a.example", mine)[0] == 0
    assert listener_conds(plane, "a")["Accepted"] == ("True", "Accepted")
    gw = {c["type"]: (c["status"], c["reason"]) for c in status(plane)["conditions"]}
    assert gw["ResolvedRefs"] == ("False", "ListenersNotResolved")
    refs = [{"group": "", "kind": "Service", "name": "be"}, {"group": "", "kind": "ConfigMap", "name": "ca-one"}]
    frontend(plane, {"default": validation("ca-one"), "perPort": [{"port": plane.port2, "tls": {
        "validation": {"caCertificateRefs": refs}}}]})
    wait_until(lambda: listener_conds(plane, "b").get("Accepted") == ("True", "Accepted"), what="listener b accepted")
    assert listener_conds(plane, "b")["ResolvedRefs"] == ("False", "InvalidCACertificateKind")
    wait_until(lambda: get(plane, plane.port2, "b.example", mine)[0] == 0, what="listener b serves")


def test_no_resumption_across_validation_settings(plane, pki):
    """A TLS session resumes only under the client certificate validation it
    was made under: one made without a certificate under AllowInsecureFallback
    does not get through once the listener takes valid certificates only."""
    mine = pki.leaf("client-six", eku="clientAuth")
    frontend(plane, {"default": validation("ca-one", "AllowInsecureFallback")})
    wait_until(lambda: (get(plane, plane.port, "a.example", mine)[1] or "").find("CN=client-six") > 0,
               what="AllowInsecureFallback in effect")
    ctx = ssl.create_default_context(cafile=pki.ca)

    def fetch(session=None):
        """(status, session, resumed); the status is None when the gateway refused."""
        s = ctx.wrap_socket(connect(plane.port), server_hostname="a.example", session=session)
        try:
            c = RawClient(s)
            c.send(req("a.example", "/resume"))
            return c.read_response().status, s.session, s.session_reused
        except (OSError, AssertionError):
            return None, None, s.session_reused
        finally:
            s.close()
    status1, session, _ = fetch()
    assert status1 == 200 and session is not None
    status2, _, resumed = fetch(session)
    assert status2 == 200 and resumed  # sessions do resume under the same settings
    frontend(plane, {"default": validation("ca-one", "AllowValidOnly")})
    wait_until(lambda: get(plane, plane.port, "a.example")[0] != 0, what="AllowValidOnly in effect")
    status3, _, resumed = fetch(session)
    assert status3 is None and not resumed
