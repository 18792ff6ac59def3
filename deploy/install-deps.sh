#!/bin/sh
# Installs the Debian 12 packages sluice needs to build, run and test.
# (kubectl is used by the tests when it is on the PATH; Debian's old
# kubernetes-client package is deliberately not installed over it.)
set -e
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    build-essential autoconf automake libtool pkg-config clang \
    libmicrohttpd-dev libev-dev libsqlite3-dev libssl-dev libnghttp2-dev libjansson-dev \
    libpcre2-dev libcurl4-openssl-dev zlib1g-dev \
    sqlite3 curl ca-certificates \
    python3 python3-pytest python3-requests python3-yaml python3-websockets python3-h2 python3-grpcio \
    nghttp2-client >/dev/null
# The benchmarks (bench/) also need the proxies they compare against:
#   apt-get install -y wrk nginx-light haproxy
