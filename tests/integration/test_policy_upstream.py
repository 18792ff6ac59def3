"""TrafficPolicy timeouts and retry: the same semantics as an HTTPRoute rule's
fields, applied where the rule sets none of its own."""

import time

from dataplane import ROUTES, created, make_dataplane, wait_until  # noqa: F401
from test_policies import POLICIES, policy, to_gateway, to_route


def in_force(dp, path, status):
    wait_until(lambda: dp.get(path, timeout=15).status_code == status, timeout=15,
               what="GET %s answering %d" % (path, status))


def test_request_timeout_answers_504_where_the_rule_has_none(make_dataplane):
    dp = make_dataplane()
    assert dp.get("/?delay=1500").status_code == 200
    created(dp.sluiced.post(POLICIES, policy("t", [to_route()], timeouts={"request": "500ms"})))
    in_force(dp, "/?delay=1500", 504)
    t = time.monotonic()
    assert dp.get("/?delay=3000").status_code == 504
    assert time.monotonic() - t < 2.5
    assert dp.get("/?delay=100").status_code == 200
    # The rule's own timeout wins over the policy's.
    r = dp.sluiced.get(ROUTES + "/r").json()
    r["spec"]["rules"][0]["timeouts"] = {"request": "5s"}
    created(dp.sluiced.put(ROUTES + "/r", r))
    in_force(dp, "/?delay=1500", 200)


def test_idle_timeout_bounds_the_upstreams_silence(make_dataplane):
    dp = make_dataplane()
    created(dp.sluiced.post(POLICIES, policy("t", [to_gateway()], timeouts={"idle": "400ms"})))
    in_force(dp, "/?delay=1200", 504)
    assert dp.get("/?delay=50").status_code == 200


def test_retry_from_a_policy_tries_again_on_the_codes(make_dataplane):
    dp = make_dataplane()
    before = dp.origin.nrequests
    assert dp.get("/?status=503").status_code == 503
    assert dp.origin.nrequests - before == 1
    created(dp.sluiced.post(POLICIES, policy("r", [to_route()], retry={"attempts": 2, "codes": [503]})))
    wait_until(lambda: (lambda n0: dp.get("/?status=503").status_code == 503 and dp.origin.nrequests - n0 == 3)(
        dp.origin.nrequests), timeout=10, what="three attempts per request")
    # Other codes are not retried.
    n0 = dp.origin.nrequests
    assert dp.get("/?status=502").status_code == 502
    assert dp.origin.nrequests - n0 == 1
    # A rule with its own retry keeps it.
    r = dp.sluiced.get(ROUTES + "/r").json()
    r["spec"]["rules"][0]["retry"] = {"attempts": 1, "codes": [502]}
    created(dp.sluiced.put(ROUTES + "/r", r))
    wait_until(lambda: (lambda n0: dp.get("/?status=502").status_code == 502 and dp.origin.nrequests - n0 == 2)(
        dp.origin.nrequests), timeout=10, what="the rule's own retry")
    n0 = dp.origin.nrequests
    assert dp.get("/?status=503").status_code == 503
    assert dp.origin.nrequests - n0 == 1
