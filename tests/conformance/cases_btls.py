"""BackendTLSPolicy conformance tests ported from the upstream suite
(conformance/tests/backendtlspolicy*.go, v1.6.1): TLS from the gateway to the
tls-backend echo (its Secret tls-checks-certificate, signed by the CA of the
ConfigMap tls-checks-ca-certificate), the server name the backend saw, requests
that must fail, and the policy status (status.ancestors per Gateway).

Registers its cases in cases.CASES. The helpers mirror conformance/utils:
BackendTLSPolicyMustHaveCondition (policy_condition),
BackendTLSPolicyMustHaveLatestConditions (policy_latest),
MakeRequestAndExpectFailure (expect_failure).
"""

import copy
import http.client
import ssl

from cases import (Collector, T, accepted, case, eventually, resolved_refs_true, send, stale_conditions)
from cases_gateway import namespaces_ready
from harness import CONSISTENCY_TIMEOUT, INFRA, Failure, poll

SAME = "same-namespace"
HTTPS_GW = "same-namespace-with-https-listener"
# The upstream suite wants 5 failures in a row (WaitForConsistentFailureResponse).
FAILURES_IN_A_ROW = 5


def cond(type_, status, reason=None):
    return {"type": type_, "status": status, "reason": reason}


ACCEPTED = cond("Accepted", "True", "Accepted")
RESOLVED = cond("ResolvedRefs", "True", "ResolvedRefs")


def policy_condition(h, policy, gw, want, ns=INFRA, gw_ns=INFRA):
    """BackendTLSPolicyMustHaveCondition: every ancestor's conditions are at the
    policy's latest generation, and the ancestor for Gateway gw has `want`
    (type, status, and reason unless None)."""
    def check():
        p = h.get("BackendTLSPolicy", ns, policy)
        if not p:
            return False, "no such BackendTLSPolicy"
        ancestors = (p.get("status") or {}).get("ancestors") or []
        for a in ancestors:
            stale = stale_conditions(p, a.get("conditions", []))
            if stale:
                return False, "ancestor %s: conditions not at generation %s: %s" % (
                    a.get("ancestorRef"), p["metadata"].get("generation"), stale)
        for a in ancestors:
            ref = a.get("ancestorRef") or {}
            if ref.get("name") != gw or ref.get("namespace", gw_ns) != gw_ns:
                continue
            c = next((c for c in a.get("conditions", []) if c.get("type") == want["type"]), None)
            if c and c.get("status") == want["status"] and (not want.get("reason") or c.get("reason") == want["reason"]):
                return True, None
        return False, "no ancestor %s with %s %s/%s: %s" % (gw, want["type"], want["status"], want.get("reason") or "*",
                                                             ancestors)
    poll(check, CONSISTENCY_TIMEOUT, "BackendTLSPolicy %s/%s condition %s" % (ns, policy, want["type"]))


def policy_latest(p):
    """BackendTLSPolicyMustHaveLatestConditions (one shot, on the object given)."""
    for a in (p.get("status") or {}).get("ancestors") or []:
        stale = stale_conditions(p, a.get("conditions", []))
        if stale:
            raise Failure("BackendTLSPolicy %s ancestor %s: conditions not at generation %s: %s" % (
                p["metadata"]["name"], a.get("ancestorRef"), p["metadata"].get("generation"), stale))


def expect_failure(h, addr, tc):
    """MakeRequestAndExpectFailure: FAILURES_IN_A_ROW answers in a row that are
    neither 200 nor a timeout (408, 504); a request that cannot be made does not
    count, and a 200 fails at once."""
    state = {"n": 0}

    def once():
        try:
            resp = send(h, addr, tc)
        except ssl.SSLError as e:
            state["n"] = 0
            return False, "TLS: %s" % e
        except (OSError, http.client.HTTPException) as e:
            state["n"] = 0
            return False, "error: %r" % e
        if resp.status == 200:
            raise Failure("%s should fail, the gateway answered 200 (%s)" % (tc["path"], resp.body[:200]))
        if resp.status in (408, 504):
            state["n"] = 0
            return False, "timeout answer %d" % resp.status
        state["n"] += 1
        return state["n"] >= FAILURES_IN_A_ROW, "only %d failures in a row (last %d)" % (state["n"], resp.status)
    poll(once, CONSISTENCY_TIMEOUT, "%s fails" % tc["path"], interval=0.1)


# ------------------------------------------------------------------ BackendTLSPolicy
@case("backendtlspolicy", "extended (BackendTLSPolicy)")
def _backendtlspolicy(h):
    c = Collector()

    def reencrypt():
        namespaces_ready(h, [INFRA])
        accepted(h, HTTPS_GW, ["backendtlspolicy-reencrypt"])
        resolved_refs_true(h, "backendtlspolicy-reencrypt", HTTPS_GW)
        policy_condition(h, "normative-test", HTTPS_GW, ACCEPTED)
        policy_condition(h, "normative-test", HTTPS_GW, RESOLVED)
        eventually(h, h.gw_addr(HTTPS_GW, 443), T("/backendtlspolicy", ns=INFRA, host="https-listener.org",
                                                   tls="https-listener.org", sni="abc.example.com"))
    c.step("re-encrypt HTTPS request to a Service with a valid policy succeeds", reencrypt)

    namespaces_ready(h, [INFRA])
    addr = accepted(h, SAME, ["backendtlspolicy"])
    resolved_refs_true(h, "backendtlspolicy", SAME)

    def valid():
        policy_condition(h, "normative-test", SAME, ACCEPTED)
        policy_condition(h, "normative-test", SAME, RESOLVED)
        eventually(h, addr, T("/backendtlspolicy", ns=INFRA, host="abc.example.com", sni="abc.example.com"))
    c.step("HTTP request to a Service with a valid policy succeeds", valid)

    def mismatch(policy, path, host):
        policy_condition(h, policy, SAME, ACCEPTED)
        policy_condition(h, policy, SAME, RESOLVED)
        expect_failure(h, addr, T(path, ns=INFRA, host=host))
    c.step("mismatched hostname: HTTP error", mismatch, "host-mismatch", "/backendtlspolicy-host-mismatch",
           "abc.example.org")
    c.step("mismatched CA certificate: HTTP error", mismatch, "cert-mismatch", "/backendtlspolicy-cert-mismatch",
           "abc.example.com")
    c.step("a changed CA ConfigMap is reconciled", _reconcile, h)
    c.done()


def _reconcile(h):
    """The ConfigMap a policy names appears, loses its ca.crt and gets it back:
    the policy's status follows each time (the upstream sub-test of the same name)."""
    policy, test_cm = "reconcile-test", "tls-checks-ca-certificate-reconcile-test"
    policy_condition(h, policy, SAME, ACCEPTED)
    policy_condition(h, policy, SAME, RESOLVED)
    shared = h.get("ConfigMap", INFRA, "tls-checks-ca-certificate")
    original_ca = shared["data"]["ca.crt"]
    original_refs = copy.deepcopy(h.get("BackendTLSPolicy", INFRA, policy)["spec"]["validation"]["caCertificateRefs"])
    h.patch("BackendTLSPolicy", INFRA, policy, {"spec": {"validation": {"caCertificateRefs": [
        {"group": "", "kind": "ConfigMap", "name": test_cm}]}}})
    invalid = [cond("Accepted", "False", "NoValidCACertificate"),
               cond("ResolvedRefs", "False", "InvalidCACertificateRef")]
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": test_cm, "namespace": INFRA},
          "data": {"ca.crt": original_ca}}
    try:
        for want in invalid:
            policy_condition(h, policy, SAME, want)
        h.put_object(cm)
        policy_condition(h, policy, SAME, ACCEPTED)
        policy_condition(h, policy, SAME, RESOLVED)
        h.patch("ConfigMap", INFRA, test_cm, {"data": {"ca.crt": ""}})
        for want in invalid:
            policy_condition(h, policy, SAME, want)
        h.patch("ConfigMap", INFRA, test_cm, {"data": {"ca.crt": original_ca}})
        policy_condition(h, policy, SAME, ACCEPTED)
        policy_condition(h, policy, SAME, RESOLVED)
    finally:
        h.patch("BackendTLSPolicy", INFRA, policy, {"spec": {"validation": {"caCertificateRefs": original_refs}}})
        h.delete(cm)


# ------------------------------------------------------------------ BackendTLSPolicySANValidation
@case("backendtlspolicy-san", "extended (BackendTLSPolicy SAN validation)")
def _san(h):
    namespaces_ready(h, [INFRA])
    addr = accepted(h, SAME, ["backendtlspolicy-san-test"])
    resolved_refs_true(h, "backendtlspolicy-san-test", SAME)
    c = Collector()

    def ok(policy):
        policy_condition(h, policy, SAME, ACCEPTED)
        eventually(h, addr, T("/backendtlspolicy-" + policy, ns=INFRA, host="abc.example.com", sni="abc.example.com"))

    def fails(policy):
        policy_condition(h, policy, SAME, ACCEPTED)
        expect_failure(h, addr, T("/backendtlspolicy-" + policy, ns=INFRA, host="abc.example.com"))
    c.step("DNS SAN: succeeds", ok, "san-dns")
    c.step("mismatched DNS SAN: HTTP error", fails, "san-dns-mismatch")
    c.step("URI SAN: succeeds", ok, "san-uri")
    c.step("mismatched URI SAN: HTTP error", fails, "san-uri-mismatch")
    c.step("several SANs: succeeds", ok, "multiple-sans")
    c.step("several mismatched SANs: HTTP error", fails, "multiple-mismatch-sans")
    c.done()


# ------------------------------------------------------------------ BackendTLSPolicyConflictResolution
@case("backendtlspolicy-conflict-resolution", "extended (BackendTLSPolicy)")
def _conflicts(h):
    namespaces_ready(h, [INFRA])
    route = "backendtlspolicy-conflict-resolution"
    addr = accepted(h, SAME, [route])
    resolved_refs_true(h, route, SAME)
    conflicted = cond("Accepted", "False", "Conflicted")
    c = Collector()
    for what, first, second in (("without a section name", "conflicted-without-section-name-1",
                                 "conflicted-without-section-name-2"),
                                ("with the same section name", "conflicted-with-section-name-1",
                                 "conflicted-with-section-name-2")):
        suffix = "without-section-name" if "without" in first else "with-section-name"
        c.step(what + ": the first is accepted", policy_condition, h, first, SAME, ACCEPTED)
        c.step(what + ": the second is Conflicted", policy_condition, h, second, SAME, conflicted)
        # The accepted policy's hostname (other.example.com) is the SNI the backend sees.
        c.step(what + ": traffic uses the accepted policy", eventually, h, addr,
               T("/backendtlspolicy-conflicted-" + suffix, ns=INFRA, host="abc.example.com", sni="other.example.com"))
    c.step("section name and whole Service: both accepted", policy_condition, h, "not-conflicted-with-section-name",
           SAME, ACCEPTED)
    c.step("whole Service and section name: both accepted", policy_condition, h,
           "not-conflicted-without-section-name", SAME, ACCEPTED)
    c.step("the port named by the section name uses its policy", eventually, h, addr,
           T("/backendtlspolicy-not-conflicted-with-section-name", ns=INFRA, host="abc.example.com",
             sni="other.example.com"))
    c.step("the other port uses the whole-Service policy", eventually, h, addr,
           T("/backendtlspolicy-not-conflicted-without-section-name", ns=INFRA, host="abc.example.com",
             sni="abc.example.com"))
    c.done()


# ------------------------------------------------------------------ invalid references
def _invalid_refs(h, route, policies, refs_reason):
    namespaces_ready(h, [INFRA])
    addr = accepted(h, SAME, [route])
    c = Collector()
    for policy in policies:
        c.step(policy + ": Accepted False NoValidCACertificate", policy_condition, h, policy, SAME,
               cond("Accepted", "False", "NoValidCACertificate"))
        c.step(policy + ": ResolvedRefs False " + refs_reason, policy_condition, h, policy, SAME,
               cond("ResolvedRefs", "False", refs_reason))
        c.step(policy + ": requests get 5xx", eventually, h, addr,
               T("/backendtlspolicy-" + policy, ns=INFRA, host="abc.example.com", status=[500, 502, 503]))
    c.done()


@case("backendtlspolicy-invalid-ca-certificate-ref", "extended (BackendTLSPolicy)")
def _invalid_ca_ref(h):
    _invalid_refs(h, "backendtlspolicy-invalid-ca-certificate-ref",
                  ["nonexistent-ca-certificate-ref", "malformed-ca-certificate-ref"], "InvalidCACertificateRef")


@case("backendtlspolicy-invalid-kind", "extended (BackendTLSPolicy)")
def _invalid_kind(h):
    _invalid_refs(h, "backendtlspolicy-invalid-kind-test", ["invalid-kind"], "InvalidKind")


# ------------------------------------------------------------------ BackendTLSPolicyObservedGenerationBump
@case("backendtlspolicy-observed-generation-bump", "extended (BackendTLSPolicy)")
def _generation_bump(h):
    name = "observed-generation-bump"
    namespaces_ready(h, [INFRA])
    original = h.get("BackendTLSPolicy", INFRA, name)
    policy_latest(original)
    h.patch("BackendTLSPolicy", INFRA, name, {"spec": {"validation": {"hostname": "foo.example.com"}}})
    policy_condition(h, name, SAME, cond("Accepted", "True"))
    updated = h.get("BackendTLSPolicy", INFRA, name)
    policy_latest(updated)
    if updated["metadata"]["generation"] == original["metadata"]["generation"]:
        raise Failure("generation should change after an update")
