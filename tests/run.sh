#!/bin/sh
# Builds sluice (when needed) and runs every test: the C unit tests and the
# integration tests (pytest, real sluiced processes). Ends with one summary line:
#   tests: N passed, M failed
# Usage: tests/run.sh [--sanitizers]   (from the source tree)
set -u
cd "$(dirname "$0")/.."
builddir=build
configure_args=""
if [ "${1:-}" = "--sanitizers" ]; then
    builddir=build-san
    configure_args="--enable-sanitizers"
    export SL_SANITIZERS=1 # tests that measure glibc's allocator skip themselves
    export SL_PACKAGE_TEST=0 # the Debian package is built and installed once, in the plain run
    # Sanitizer reports must fail the run, never scroll by.
    export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:halt_on_error=1}"
    export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
fi
# The pinned programs the tests drive (kubectl 1.20 and 1.32): fetched once into
# tests/tools/bin; what cannot be had makes its tests report "skipped, because".
sh tests/tools/install.sh || echo "tests/tools: some test tools are missing; their tests will be skipped"
[ -x configure ] || ./autogen.sh >/dev/null || exit 1
mkdir -p "$builddir"
cd "$builddir" || exit 1
if [ ! -f Makefile ]; then
    ../configure $configure_args >configure.log 2>&1 || { tail -30 configure.log; exit 1; }
fi
make -j"$(nproc)" >make.log 2>&1 || { tail -50 make.log; exit 1; }
# Builds the unit test programs without running anything yet.
make -j"$(nproc)" check TESTS= >>make.log 2>&1 || { tail -50 make.log; exit 1; }

passed=0
failed=0
skipped=0
for t in $(grep -o 'tests/unit/test_[a-z0-9_]*' Makefile | sort -u); do
    out=$(./"$t" 2>&1)
    echo "$out" | grep -v '^ok '
    line=$(echo "$out" | tail -n 1)
    p=$(echo "$line" | sed -n 's/.* \([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed$/\1/p')
    f=$(echo "$line" | sed -n 's/.* \([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed$/\2/p')
    if [ -z "$p" ]; then
        echo "unit test $t crashed"
        failed=$((failed + 1))
        continue
    fi
    passed=$((passed + p))
    failed=$((failed + f))
done

# Fuzz targets replay their committed corpus (a crash or broken invariant fails).
for t in $(grep -o 'tests/fuzz/fuzz_[a-z0-9_]*_replay' Makefile | sort -u); do
    if SL_SRCDIR="$(cd .. && pwd)" ./"$t" >"$t.log" 2>&1; then
        passed=$((passed + 1))
    else
        echo "FAIL $t"; tail -20 "$t.log"
        failed=$((failed + 1))
    fi
done

# libFuzzer for a bounded time (plain build only; the target carries its own sanitizers).
if [ "${1:-}" != "--sanitizers" ]; then
    sh ../tests/fuzz/run-libfuzzer.sh "$(cd .. && pwd)" "$(pwd)/tests/fuzz/out"
    case $? in
    0) passed=$((passed + 1)) ;;
    77) skipped=$((skipped + 1)) ;; # the script printed why
    *) failed=$((failed + 1)) ;;
    esac
fi

log=$(mktemp)
SLUICED="$(pwd)/sbin/sluiced" SL_SRCDIR="$(cd .. && pwd)" /usr/bin/python3 -m pytest -q -p no:cacheprovider -rs \
    ../tests/integration ../tests/conformance ${PYTEST_ARGS:-} 2>&1 | tee "$log"
summary=$(tail -n 1 "$log")
rm -f "$log"
ip=$(echo "$summary" | grep -o '[0-9][0-9]* passed' | grep -o '[0-9]*')
if_=$(echo "$summary" | grep -o '[0-9][0-9]* failed' | grep -o '[0-9]*')
ie=$(echo "$summary" | grep -o '[0-9][0-9]* error' | grep -o '[0-9]*')
is=$(echo "$summary" | grep -o '[0-9][0-9]* skipped' | grep -o '[0-9]*')
passed=$((passed + ${ip:-0}))
failed=$((failed + ${if_:-0} + ${ie:-0}))
skipped=$((skipped + ${is:-0}))
[ -z "$ip" ] && [ -z "$if_" ] && failed=$((failed + 1)) && echo "integration tests did not run"
# Every skip is listed above with its reason (pytest -rs, the fuzz runner's own line).
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
