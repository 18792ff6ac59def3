#!/bin/sh
# Builds every fuzz target with clang's libFuzzer (ASan + UBSan) and runs each for a
# bounded time on a scratch copy of its committed corpus. A crash or a broken
# invariant fails the run and leaves the input in $out/crash-*.
# Usage: run-libfuzzer.sh SRCDIR OUTDIR   (SL_FUZZ_SECONDS, default 20, per target)
set -u
src=${1:?source dir}
out=${2:?output dir}
seconds=${SL_FUZZ_SECONDS:-20}
CLANG=${CLANG:-clang}
if ! command -v "$CLANG" >/dev/null 2>&1; then
    echo "libFuzzer run skipped, because clang is not installed (deploy/install-deps.sh --tests)"
    exit 77
fi
probe=$(mktemp -d)
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; return (int)n & 0; }\n' >"$probe/p.c"
if ! "$CLANG" -fsanitize=fuzzer "$probe/p.c" -o "$probe/p" >/dev/null 2>&1; then
    rm -rf "$probe"
    echo "libFuzzer run skipped, because clang's fuzzer runtime is missing (libclang-rt-14-dev; deploy/install-deps.sh --tests)"
    exit 77
fi
rm -rf "$probe"
mkdir -p "$out"
status=0
for target in ${SL_FUZZ_TARGETS:-http1 h2 protobuf admin_json snapshot proxy_protocol jwt sse aws_eventstream tls_sni traceparent mcp}; do
    bin="$out/fuzz_$target"
    cflags=""
    case $target in
    http1) sources="$src/workers/http1_*.c $src/common/log.c"; libs="" ;;
    proxy_protocol) sources="$src/workers/proxy_protocol.c"; libs="" ;;
    tls_sni) sources="$src/workers/tls_sni.c"; libs="" ;;
    traceparent) sources="$src/common/trace_context.c"; libs="" ;;
    sse) sources="$src/common/sse.c $src/common/ai_usage.c $src/common/ai.c $src/common/ai_translate.c"
        sources="$sources $src/common/ai_anthropic.c $src/common/ai_gemini.c $src/common/ai_bedrock.c"
        cflags="$(pkg-config --cflags jansson)"
        libs="$(pkg-config --libs jansson)" ;;
    aws_eventstream) sources="$src/common/aws_eventstream.c $src/common/ai_translate.c $src/common/ai_bedrock.c $src/common/ai_gemini.c $src/common/ai_anthropic.c"
        sources="$sources $src/common/ai.c"
        cflags="$(pkg-config --cflags jansson zlib)"
        libs="$(pkg-config --libs jansson zlib)" ;;
    jwt) sources="$src/common/jwt.c $src/daemon/jwk.c"
        cflags="$(pkg-config --cflags jansson)"
        libs="$(pkg-config --libs jansson libcrypto)" ;;
    # The HTTP/2 target runs a real worker connection: the whole data plane.
    # (The policy kinds in workers/ carry their compile step: the snapshot builder and jansson.)
    # (The MCP target's readers live among the worker's files: it links them as h2 does.)
    h2|mcp) sources="$src/workers/*.c $src/common/*.c $src/daemon/publisher.c $src/daemon/snapshot_builder.c $src/daemon/compile_values.c $src/daemon/jwk.c"
        cflags="$(pkg-config --cflags jansson)"
        libs="$(pkg-config --libs libnghttp2 openssl libpcre2-8 jansson libcurl hiredis zlib) -lev -lcrypt -lm" ;;
    # The admin API's Kubernetes protobuf codec, with the C that protoc-c makes
    # of proto/*.proto (as the build does), and protobuf-c itself.
    protobuf)
        mkdir -p "$out/proto"
        "${PROTOC_C:-protoc-c}" -I"$src/proto" --c_out="$out/proto" "$src"/proto/*.proto ||
            { echo "cannot compile proto/*.proto with protoc-c"; exit 1; }
        sources="$src/admin/admin_protobuf.c $src/admin/admin_pb_json.c $out/proto/*.pb-c.c"
        cflags="-I$out $(pkg-config --cflags libprotobuf-c jansson)"
        libs="$(pkg-config --libs libprotobuf-c jansson libcrypto)" ;;
    # The admin API's handling of a JSON body: parse, validate (every kind),
    # merge patch, prepare for storage.
    # (with the schemas of our kinds, compiled in as the build does: api/*.yaml)
    admin_json)
        sh "$src/build-aux/embed-text.sh" daemon/api_schema.h sl_api_schema_files "$src"/api/*.yaml >"$out/api_schemas.c"
        sources="$src/daemon/kinds.c $src/daemon/objects.c $src/daemon/validate*.c $src/common/log.c"
        sources="$sources $src/common/fork_guard.c $src/common/cidr.c $src/common/ai_guard.c"
        sources="$sources $src/daemon/api_schema.c $src/daemon/schema_check.c $src/daemon/yaml_json.c $out/api_schemas.c"
        cflags="$(pkg-config --cflags jansson)"
        libs="$(pkg-config --libs jansson libpcre2-8 openssl yaml-0.1)" ;;
    # The snapshot reader: the verifier and everything /debug/snapshot reads.
    # (The rendering names policy kinds from their registry, which links the data plane.)
    snapshot) sources="$src/common/*.c $src/workers/*.c $src/daemon/snapshot_builder.c $src/daemon/compile_values.c"
        sources="$sources $src/daemon/snapshot_render.c $src/daemon/effective_policy.c $src/daemon/snapshot_raw.c"
        sources="$sources $src/daemon/publisher.c $src/daemon/jwk.c"
        cflags="$(pkg-config --cflags jansson)"
        libs="$(pkg-config --libs libnghttp2 openssl libpcre2-8 jansson libcurl hiredis zlib) -lev -lcrypt -lrt -lm" ;;
    esac
    # shellcheck disable=SC2086 # word splitting of the lists is intended
    "$CLANG" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -I"$src" -D_GNU_SOURCE $(pkg-config --cflags libnghttp2 openssl libpcre2-8) $cflags \
        "$src/tests/fuzz/fuzz_$target.c" $sources $libs -o "$bin" || { echo "cannot build fuzz_$target"; exit 1; }
    corpus="$out/corpus-$target"
    rm -rf "$corpus"
    mkdir -p "$corpus"
    cp "$src/tests/fuzz/corpus/$target"/* "$corpus/"
    if "$bin" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$out/" "$corpus" \
        >"$out/fuzz_$target.log" 2>&1; then
        echo "fuzz_$target: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/fuzz_$target.log" | grep -o '[0-9]*$') runs in ${seconds}s, no crash"
    else
        echo "fuzz_$target FAILED:"
        tail -30 "$out/fuzz_$target.log"
        status=1
    fi
done
exit $status
