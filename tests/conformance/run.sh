#!/bin/sh
# Runs the Gateway API conformance harness (HTTPRoute and Gateway tests) against build/sbin/sluiced.
# Extra arguments go to pytest (e.g. -k weight, -x, -rs).
set -e
cd "$(dirname "$0")/../.."
: "${SLUICED:=$PWD/build/sbin/sluiced}"
export SLUICED
exec /usr/bin/python3 -m pytest tests/conformance -q -rs "$@"
