#!/bin/sh
# Copies the dashboard's vendored libraries out of the npm packages that
# package.json and package-lock.json pin (see web/README.md). Run it after
# changing a version there; commit the copied files with the lockfile.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/package.json" "$here/package-lock.json" "$work/"
(cd "$work" && npm ci --ignore-scripts --no-audit --no-fund -q)
src="$work/node_modules/uplot"
cp "$src/dist/uPlot.esm.js" "$src/dist/uPlot.min.css" "$src/LICENSE" "$here/uplot/"
echo "uplot $(node -p "require('$src/package.json').version") copied into $here/uplot"
