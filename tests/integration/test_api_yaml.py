"""YAML on the admin API, as the Kubernetes API server has it: a body of one
YAML document (Content-Type: application/yaml) and answers in YAML for
Accept: application/yaml; errors stay JSON Status objects."""
import requests

from conftest import path_for

ROUTES = path_for("httproutes", "default")
YAML = {"Content-Type": "application/yaml"}

ROUTE = """apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: from-yaml
spec:
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: "%s"
"""


def test_create_and_read_as_yaml(sluiced):
    r = requests.post(sluiced.url + ROUTES, data=ROUTE % "/y", headers=YAML, timeout=10)
    assert r.status_code == 201, r.text
    assert r.json()["spec"]["rules"][0]["matches"][0]["path"]["value"] == "/y"  # JSON back by default
    r = sluiced.get(ROUTES + "/from-yaml", headers={"Accept": "application/yaml"})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/yaml"
    assert "kind: HTTPRoute\n" in r.text and "value: /y\n" in r.text and "resourceVersion:" in r.text
    # The YAML answer goes back as a replace unchanged.
    r2 = requests.put(sluiced.url + ROUTES + "/from-yaml", data=r.text, headers=YAML, timeout=10)
    assert r2.status_code == 200, r2.text


def test_yaml_errors(sluiced):
    r = requests.post(sluiced.url + ROUTES + "?dryRun=All", data=ROUTE % "nope", headers=YAML, timeout=10)
    assert r.status_code == 422 and r.headers["Content-Type"] == "application/json"
    assert r.json()["details"]["causes"][0]["field"] == "spec.rules[0].matches[0].path.value"
    assert sluiced.get(ROUTES + "/from-yaml").status_code == 404  # a dry run stores nothing
    for body, why in (("a: [unclosed", "line"), (ROUTE % "/a" + "---\n" + ROUTE % "/b", "one YAML document"),
                      ("- just\n- a list\n", "one YAML document")):
        r = requests.post(sluiced.url + ROUTES, data=body, headers=YAML, timeout=10)
        assert r.status_code == 400 and why in r.json()["message"], r.text
    r = sluiced.get(ROUTES + "/missing", headers={"Accept": "application/yaml"})
    assert r.status_code == 404 and r.json()["kind"] == "Status"


def test_aliases_cannot_nest_or_multiply_without_bound(sluiced):
    chain = ["apiVersion: gateway.networking.k8s.io/v1", "kind: HTTPRoute", "metadata: {name: deep}", "x:",
             "  a0: &a0 [1]"]
    for i in range(1, 41):  # 12 KB that would nest 6,000 deep
        chain.append("  a%d: &a%d %s*a%d%s" % (i, i, "[" * 150, i - 1, "]" * 150))
    r = requests.post(sluiced.url + ROUTES, data="\n".join(chain), headers=YAML, timeout=10)
    assert r.status_code == 400 and "nests deeper than 200 levels" in r.json()["message"], r.text
    laughs = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"] + \
        ["a%d: &a%d [%s]" % (i, i, ", ".join(["*a%d" % (i - 1)] * 10)) for i in range(1, 6)]
    r = requests.post(sluiced.url + ROUTES, data="\n".join(laughs), headers=YAML, timeout=10)
    assert r.status_code == 400 and "nodes (aliases count in full)" in r.json()["message"], r.text
    assert sluiced.get("/healthz").status_code == 200  # the master took both in its stride
