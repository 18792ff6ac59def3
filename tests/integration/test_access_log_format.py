"""--access-log-format: JSON with chosen fields, nginx's combined format and
templates with $variables, escaped as JSON or as nginx escapes; an unknown
field refuses to start with a message naming it."""
import json
import re
import subprocess

from conftest import SLUICED
from dataplane import make_dataplane, send_until_closed, wait_until  # noqa: F401 - fixture


def lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("ascii").splitlines()  # every byte outside ASCII is escaped
    except FileNotFoundError:
        return []


def raw_get(port, path, headers):
    """A request with header bytes that requests would not send (quotes, backslashes, obs-text)."""
    return send_until_closed(port, b"GET " + path + b" HTTP/1.1\r\nHost: example.com\r\n" + b"".join(
        k + b": " + v + b"\r\n" for k, v in headers) + b"Connection: close\r\n\r\n")


def test_json_with_chosen_fields(make_dataplane, tmp_path):
    access = str(tmp_path / "access.log")
    dp = make_dataplane(args=["--access-log", access, "--access-log-format",
                              "json:status,method,path,user_agent,bytes_received,protocol,route"])
    agent = b'tool/1.0 "quoted" back\\slash \xe9t\xe9'
    reply = raw_get(dp.port, b"/json-1", [(b"User-Agent", agent)])
    assert reply.startswith(b"HTTP/1.1 200")
    wait_until(lambda: any("/json-1" in l for l in lines(access)), what="the line")
    line = [l for l in lines(access) if "/json-1" in l][0]
    entry = json.loads(line)
    assert list(entry) == ["status", "method", "path", "user_agent", "bytes_received", "protocol", "route"]
    assert entry["status"] == 200 and entry["method"] == "GET" and entry["path"] == "/json-1"
    # JSON escaping keeps every byte: the non-ASCII ones as \u00XX of the byte.
    assert entry["user_agent"] == agent.decode("latin-1")
    assert entry["protocol"] == "HTTP/1.1" and entry["route"] == "default/r"
    assert entry["bytes_received"] >= len(agent) + 40


def test_combined_is_nginx_combined(make_dataplane, tmp_path):
    access = str(tmp_path / "access.log")
    dp = make_dataplane(args=["--access-log", access, "--access-log-format", "combined"])
    reply = raw_get(dp.port, b"/comb?x=1", [(b"User-Agent", b'agent "7"'), (b"Referer", b"http://ref.example/")])
    assert reply.startswith(b"HTTP/1.1 200")
    wait_until(lambda: any("/comb" in l for l in lines(access)), what="the line")
    line = [l for l in lines(access) if "/comb" in l][0]
    m = re.fullmatch(r'(\S+) - (\S+) \[(\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000)\] "(\S+) (\S+) (\S+)" (\d{3}) '
                     r'(\d+) "([^"]*)" "([^"]*)"', line)
    assert m, line
    assert m.group(1) == "127.0.0.1" and m.group(2) == "-"  # no authenticated client: "-", as nginx
    assert m.group(4, 5, 6, 7) == ("GET", "/comb?x=1", "HTTP/1.1", "200")
    assert int(m.group(8)) > 0
    assert m.group(9) == "http://ref.example/"
    assert m.group(10) == r"agent \x227\x22"  # a quote is escaped as nginx does


def test_template_with_braces_and_times(make_dataplane, tmp_path):
    access = str(tmp_path / "access.log")
    dp = make_dataplane(args=["--access-log", access, "--access-log-format",
                              "t=${msec} rt=$request_time s=$status up=$upstream gw=$gateway ua=$user_agent"])
    assert dp.get("/tmpl").status_code == 200
    wait_until(lambda: any(l.startswith("t=") and "s=200" in l for l in lines(access)), what="the line")
    line = [l for l in lines(access) if l.startswith("t=")][-1]
    m = re.fullmatch(r"t=(\d+\.\d{3}) rt=(\d+\.\d{3}) s=200 up=127\.0\.0\.1:(\d+) gw=default/gw ua=(\S+)", line)
    assert m, line
    assert m.group(3) == str(dp.origin.port)
    assert m.group(4).startswith("python-requests/")
    assert float(m.group(2)) < 5


def test_unknown_field_refuses_to_start(tmp_path):
    for fmt, named in (("json:status,nope", '"nope"'), ("$status $bogus", "$bogus"), ("plain text", "neither")):
        cp = subprocess.run([SLUICED, "--state-dir", str(tmp_path / "s"), "--admin", "127.0.0.1:1",
                             "--access-log-format", fmt], capture_output=True, text=True, timeout=30)
        assert cp.returncode == 2, cp.stderr
        assert named in cp.stderr and "--access-log-format" in cp.stderr, cp.stderr
        if fmt != "plain text":
            assert "user_agent" in cp.stderr  # the known names are listed


def test_pipelined_requests_each_count_their_own_bytes(make_dataplane, tmp_path):
    access = str(tmp_path / "access.log")
    dp = make_dataplane(args=["--access-log", access, "--access-log-format", "json:path,bytes_received"])
    first = b"GET /p1 HTTP/1.1\r\nHost: a\r\n\r\n"
    second = b"GET /p2-longer HTTP/1.1\r\nHost: a\r\nX-Pad: 0123456789\r\nConnection: close\r\n\r\n"
    data = send_until_closed(dp.port, first + second)  # both in one segment: read together
    assert data.count(b"HTTP/1.1 200") == 2
    wait_until(lambda: sum("/p" in l for l in lines(access)) == 2, what="two lines")
    got = {e["path"]: e["bytes_received"] for e in map(json.loads, lines(access)) if e["path"].startswith("/p")}
    assert got == {"/p1": len(first), "/p2-longer": len(second)}
