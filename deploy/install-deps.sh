#!/bin/sh
# Installs the Debian 12 packages sluice needs to build and run; with --tests,
# also what the test suite needs (clang's fuzzer runtime, Node.js and npm for the
# pinned test tools of tests/tools/, which tests/run.sh provisions).
# Usage: deploy/install-deps.sh [--tests]
set -e
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
pkgs="build-essential autoconf automake libtool pkg-config \
    libmicrohttpd-dev libgnutls28-dev libev-dev libsqlite3-dev libssl-dev libnghttp2-dev libjansson-dev \
    libpcre2-dev libcrypt-dev libcurl4-openssl-dev libhiredis-dev zlib1g-dev libyaml-dev libsystemd-dev libprotobuf-c-dev protobuf-c-compiler \
    sqlite3 curl ca-certificates python3 python3-yaml"
# kubectl talks to the admin API (README); Debian's is 1.20. A newer one already
# on the PATH is kept.
command -v kubectl >/dev/null 2>&1 || pkgs="$pkgs kubernetes-client"
if [ "${1:-}" = "--tests" ]; then
    # clang + libclang-rt-14-dev: libFuzzer targets (the runtime is a separate package);
    # gdb: the tests print the backtraces of a sluiced that would not stop;
    # apache2-utils: htpasswd makes the basicAuth tests' password files;
    # redis-server: the Global rate-limit tests start their own;
    # dpkg-dev, debhelper, lintian, git, adduser: the Debian package is built from the tree's files,
    # checked and installed (test_package.py);
    # prometheus: its promtool checks the /metrics text (test_traffic_metrics.py); its own
    # service is not started by the tests (and cannot start where systemd does not run);
    # chromium: the dashboard's browser tests (test_dashboard.py, with playwright-core from npm).
    pkgs="$pkgs clang libclang-rt-14-dev \
        python3-pytest python3-requests python3-websockets python3-h2 python3-grpcio \
        nghttp2-client openssl gdb apache2-utils redis-server dpkg-dev debhelper lintian git adduser prometheus chromium"
    command -v npm >/dev/null 2>&1 || pkgs="$pkgs nodejs npm"
fi
$SUDO apt-get update -qq
# shellcheck disable=SC2086 # the list is meant to split
$SUDO apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
# The benchmarks (bench/) also need the proxies they compare against:
#   apt-get install -y wrk nginx-light libnginx-mod-stream haproxy
