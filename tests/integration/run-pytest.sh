#!/bin/sh
# Runs the integration tests with Debian's python3 (make check sets SLUICED).
here=$(cd "$(dirname "$0")" && pwd)
PYTHON3=${PYTHON3:-/usr/bin/python3}
exec "$PYTHON3" -m pytest -q -p no:cacheprovider -rs "$here" "$here/../conformance" ${PYTEST_ARGS:-}
