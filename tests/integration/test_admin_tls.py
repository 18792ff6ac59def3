"""The admin API over HTTPS (--admin-tls-cert/--admin-tls-key) with bearer
tokens and mutual TLS (--admin-client-ca): curl and both pinned kubectl
versions with kubeconfigs that carry a token or a client certificate (kubectl
sends tokens only over HTTPS)."""

import base64
import os
import shutil
import subprocess

import pytest
import requests

from conftest import KUBECTL_VERSIONS, httproute, kubectl_path, path_for
from test_api_auth import bearer, create_token
from test_tls import pki  # noqa: F401 - fixture

ROUTES = path_for("httproutes", "default")

pytestmark = pytest.mark.skipif(not shutil.which("openssl"), reason="skipped, because the openssl command-line tool is not installed")


def b64(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def kubeconfig(path, port, ca, token=None, cert=None, key=None):
    user = {}
    if token:
        user["token"] = token
    if cert:
        user["client-certificate-data"] = b64(cert)
        user["client-key-data"] = b64(key)
    import yaml
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "sl",
           "clusters": [{"name": "sl", "cluster": {"server": "https://localhost:%d" % port,
                                                    "certificate-authority-data": b64(ca)}}],
           "users": [{"name": "u", "user": user}],
           "contexts": [{"name": "sl", "context": {"cluster": "sl", "user": "u"}}]}
    with open(path, "w") as f:
        yaml.safe_dump(doc, f)
    return path


def kubectl(version, cfg, *args, input=None):
    exe = kubectl_path(version)
    if not exe:
        pytest.skip("skipped, because kubectl %s is not in tests/tools/bin" % version)
    return subprocess.run([exe, "--kubeconfig", cfg] + list(args), input=input, capture_output=True, text=True,
                          timeout=60)


@pytest.fixture
def server_cert(pki):  # noqa: F811 - fixture
    return pki.leaf("localhost")


def start_tls(make_sluiced, leaf, client_ca=None, tokens=()):
    args = ["--admin-tls-cert", leaf.cert_path, "--admin-tls-key", leaf.key_path]
    if client_ca:
        args += ["--admin-client-ca", client_ca]
    s = make_sluiced(extra_args=args)
    os.makedirs(s.state_dir, exist_ok=True)
    made = [create_token(s.state_dir, t) for t in tokens]
    s.start(wait=False)
    return s, made


def wait_https(s, ca):
    import time
    for _ in range(200):
        try:
            if requests.get("https://localhost:%d/readyz" % s.port, verify=ca, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        if s.proc.poll() is not None:
            raise AssertionError("sluiced exited:\n" + s.log())
        time.sleep(0.05)
    raise AssertionError("admin API never came up over HTTPS:\n" + s.log())


@pytest.mark.parametrize("version", KUBECTL_VERSIONS)
def test_https_with_a_token_for_curl_and_kubectl(make_sluiced, pki, server_cert, version, tmp_path):  # noqa: F811
    s, (token,) = start_tls(make_sluiced, server_cert, tokens=["ops"])
    wait_https(s, pki.ca)
    url = "https://localhost:%d" % s.port
    # Plain HTTP on the TLS port is refused; HTTPS without a token is 401.
    with pytest.raises(requests.RequestException):
        requests.get("http://127.0.0.1:%d/healthz" % s.port, timeout=3)
    assert requests.get(url + ROUTES, verify=pki.ca, timeout=5).status_code == 401
    r = requests.post(url + ROUTES, json=httproute("r1"), headers=bearer(token), verify=pki.ca, timeout=5)
    assert r.status_code == 201, r.text
    cfg = kubeconfig(str(tmp_path / "kc"), s.port, pki.ca, token=token)
    cp = kubectl(version, cfg, "get", "httproutes", "-o", "name")
    assert cp.returncode == 0, cp.stderr
    assert "httproute.gateway.networking.k8s.io/r1" in cp.stdout.split()
    bad = kubeconfig(str(tmp_path / "bad"), s.port, pki.ca, token="sl_" + "0" * 64)
    cp = kubectl(version, bad, "get", "httproutes")
    assert cp.returncode != 0 and "Unauthorized" in cp.stderr + cp.stdout


@pytest.mark.parametrize("version", KUBECTL_VERSIONS)
def test_mutual_tls_client_certificate_authenticates(make_sluiced, pki, server_cert, version, tmp_path):  # noqa: F811
    s, _ = start_tls(make_sluiced, server_cert, client_ca=pki.ca)
    wait_https(s, pki.ca)
    url = "https://localhost:%d" % s.port
    client = pki.leaf("ops-client", eku="clientAuth")
    # Without a certificate or a token: 401, even on loopback (mutual TLS was asked for).
    assert requests.get(url + ROUTES, verify=pki.ca, timeout=5).status_code == 401
    r = requests.get(url + ROUTES, verify=pki.ca, cert=(client.cert_path, client.key_path), timeout=5)
    assert r.status_code == 200, r.text
    cfg = kubeconfig(str(tmp_path / "kc"), s.port, pki.ca, cert=client.cert_path, key=client.key_path)
    cp = kubectl(version, cfg, "apply", "--validate=false", "-f", "-",
                 input='{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"mtls"}}')
    assert cp.returncode == 0, cp.stderr
    assert requests.get(url + "/api/v1/namespaces/mtls", verify=pki.ca,
                        cert=(client.cert_path, client.key_path), timeout=5).status_code == 200


def test_certificate_from_another_ca_is_not_accepted(make_sluiced, pki, server_cert, tmp_path):  # noqa: F811
    from test_tls import PKI
    other = PKI(str(tmp_path))
    stranger = other.leaf("stranger", eku="clientAuth")
    s, _ = start_tls(make_sluiced, server_cert, client_ca=pki.ca)
    wait_https(s, pki.ca)
    url = "https://localhost:%d" % s.port
    try:
        r = requests.get(url + ROUTES, verify=pki.ca, cert=(stranger.cert_path, stranger.key_path), timeout=5)
        assert r.status_code == 401, r.text
    except requests.exceptions.SSLError:
        pass  # refused in the handshake: just as good


def test_tls_files_that_do_not_load_stop_the_start(make_sluiced, tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    s = make_sluiced(extra_args=["--admin-tls-cert", str(bad), "--admin-tls-key", str(bad)])
    s.start(wait=False)
    assert s.proc.wait(10) != 0
    assert "not PEM" in s.log()
    s2 = make_sluiced(sub="s2", extra_args=["--admin-tls-cert", str(bad)])
    s2.start(wait=False)
    assert s2.proc.wait(10) != 0
    assert "go together" in s2.log()
