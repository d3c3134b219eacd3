#!/usr/bin/env bash
# Build and run every libFuzzer target (fuzz/fuzz_*.c) for a fixed time each.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#
#   SECONDS_PER_TARGET  default 60
#   TARGET              fuzz_tcp, tcp or fuzz/fuzz_tcp.c; default: every
#                       fuzz/fuzz_*.c, in name order
#
# Each target is built with clang -fsanitize=fuzzer,address,undefined
# (-fno-sanitize-recover=all: any UBSan report is a crash) and run, one at a
# time, on a temporary copy of its committed corpus fuzz/corpus/<name>
# (<name> = target without "fuzz_"), so the repository is never modified.
# Before fuzzing, each target replays its committed reproducers
# fuzz/crashes/<name>-* once (regression check). One summary line per target
# is printed; the exit status is nonzero if a target fails to build, a
# reproducer fails, or libFuzzer reports a crash, leak, timeout or OOM.
# Artifacts (reproducers) are kept and their paths printed.
#
# What a target needs is read from header lines in its source:
#   // FUZZ_SOURCES: src/common/ctr.c src/wire/*.c   (globs, from the repo root)
#   // FUZZ_CFLAGS: -Isrc -Iinclude                   (default: -Isrc -Iinclude)
#   // FUZZ_LIBS: -lsodium -lm                         (default: none)
# A target without a FUZZ_SOURCES line falls back to the table in
# target_info() below.
#
# Environment:
#   CC            compiler (default clang)
#   FUZZ_CFLAGS   extra compiler flags, e.g. -DFUZZ_TCP_SKIP_KNOWN
#   FUZZ_OUT      keep binaries, corpora, logs and artifacts in this
#                 directory (default: a temporary directory, removed when
#                 every target passed)
#   FUZZ_TIMEOUT  libFuzzer -timeout per input in seconds (default 10)
#   FUZZ_ARGS     extra libFuzzer arguments
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD

SECS=60
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
    SECS=$1
    shift
fi
CC=${CC:-clang}

# Fallback build info for targets whose source has no FUZZ_SOURCES line.
target_info() { # name -> "sources|cflags|libs"
    case $1 in
    fuzz_wire) echo "src/common/ctr.c src/wire/*.c|-Isrc -Iinclude|" ;;
    fuzz_http) echo "apps/slhttpd/http_parse.c apps/common/httptok.c|-Iapps/slhttpd -Iapps/common|" ;;
    fuzz_record) echo "src/common/ctr.c src/state/record.c|-Isrc -Iinclude|-lsodium" ;;
    *) echo "" ;;
    esac
}

header_line() { # file key -> value of "// KEY: value" (first match)
    sed -n "s|^[[:space:]]*//[[:space:]]*$2:[[:space:]]*||p" "$1" | head -n 1
}

# ---- which targets ----
declare -a TARGETS=()
if [[ $# -eq 0 ]]; then
    for f in fuzz/fuzz_*.c; do
        [[ -e $f ]] && TARGETS+=("$(basename "$f" .c)")
    done
else
    for a in "$@"; do
        a=$(basename "$a" .c)
        [[ $a == fuzz_* ]] || a=fuzz_$a
        TARGETS+=("$a")
    done
fi
if [[ ${#TARGETS[@]} -eq 0 ]]; then
    echo "fuzz/run.sh: no targets" >&2
    exit 2
fi

if ! command -v "$CC" >/dev/null 2>&1; then
    echo "fuzz/run.sh: $CC not found (apt-get install clang)" >&2
    exit 2
fi
rt=$("$CC" -print-file-name=libclang_rt.fuzzer-x86_64.a 2>/dev/null)
if [[ $(uname -m) == x86_64 && ! -e $rt ]]; then
    echo "fuzz/run.sh: $CC has no libFuzzer runtime (Debian: apt-get install libclang-rt-\$(clang major version)-dev, e.g. libclang-rt-14-dev)" >&2
    exit 2
fi

if [[ -n ${FUZZ_OUT:-} ]]; then
    WORK=$FUZZ_OUT
    mkdir -p "$WORK" || exit 2
    KEEP=1
else
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/sltcp-fuzz.XXXXXX") || exit 2
    KEEP=0
fi

# shellcheck disable=SC2054 # the commas are part of -fsanitize=
CFLAGS_COMMON=(-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
               -fno-sanitize-recover=all -D_GNU_SOURCE)
fails=0
declare -a SUMMARY=()

stat_of() { # log key
    sed -n "s/^stat::$2:[[:space:]]*//p" "$1" | tail -n 1
}

for t in "${TARGETS[@]}"; do
    src=fuzz/$t.c
    name=${t#fuzz_}
    if [[ ! -f $src ]]; then
        SUMMARY+=("$(printf '%-12s FAIL  no such target (%s)' "$t" "$src")")
        fails=$((fails + 1))
        continue
    fi
    srcs=$(header_line "$src" FUZZ_SOURCES)
    cflags=$(header_line "$src" FUZZ_CFLAGS)
    libs=$(header_line "$src" FUZZ_LIBS)
    if [[ -z $srcs ]]; then
        IFS='|' read -r srcs cflags libs <<<"$(target_info "$t")"
    fi
    if [[ -z $srcs ]]; then
        SUMMARY+=("$(printf '%-12s FAIL  no "// FUZZ_SOURCES:" line in %s and no fallback' "$t" "$src")")
        fails=$((fails + 1))
        continue
    fi
    [[ -n $cflags ]] || cflags="-Isrc -Iinclude"

    # expand the source globs from the repository root
    declare -a files=()
    bad=
    for pat in $srcs; do
        matched=0
        for f in $pat; do
            if [[ -f $f ]]; then
                files+=("$f")
                matched=1
            fi
        done
        [[ $matched == 1 ]] || bad="$bad $pat"
    done
    mkdir -p "$WORK/$t/artifacts" "$WORK/$t/corpus"
    if [[ -n $bad ]]; then
        SUMMARY+=("$(printf '%-12s FAIL  sources not found:%s' "$t" "$bad")")
        fails=$((fails + 1))
        continue
    fi

    echo "=== fuzz: build $t"
    # shellcheck disable=SC2086 # word splitting of flags is intended
    if ! "$CC" "${CFLAGS_COMMON[@]}" $cflags ${FUZZ_CFLAGS:-} "${files[@]}" "$src" $libs \
        -o "$WORK/$t/$t" >"$WORK/$t/build.log" 2>&1; then
        cat "$WORK/$t/build.log" >&2
        SUMMARY+=("$(printf '%-12s FAIL  build failed (%s)' "$t" "$WORK/$t/build.log")")
        fails=$((fails + 1))
        continue
    fi

    # regression: every committed reproducer of this target must pass
    # (fuzz/crashes/<name>-*; open findings only pass when their invariant is
    # skipped, e.g. FUZZ_CFLAGS=-DFUZZ_TCP_SKIP_KNOWN)
    declare -a repro=()
    for f in fuzz/crashes/"$name"-*; do
        [[ -f $f ]] && repro+=("$f")
    done
    if [[ ${#repro[@]} -gt 0 ]]; then
        if ! "$WORK/$t/$t" -runs=1 "${repro[@]}" >"$WORK/$t/regress.log" 2>&1; then
            grep -m 5 -E 'INVARIANT|ERROR: |runtime error|Running: ' "$WORK/$t/regress.log" >&2
            SUMMARY+=("$(printf '%-12s FAIL  a reproducer in fuzz/crashes/%s-* fails (%s)' "$t" \
                "$name" "$WORK/$t/regress.log")")
            fails=$((fails + 1))
            continue
        fi
    fi

    # a private copy of the committed corpus
    if [[ -d fuzz/corpus/$name ]]; then
        cp -R "fuzz/corpus/$name/." "$WORK/$t/corpus/" 2>/dev/null
    fi
    nseed=$(find "$WORK/$t/corpus" -type f | wc -l)
    declare -a extra=()
    [[ -f fuzz/$name.dict ]] && extra+=("-dict=$ROOT/fuzz/$name.dict")

    echo "=== fuzz: run $t for ${SECS}s ($nseed seeds)"
    t0=$SECONDS
    # shellcheck disable=SC2086
    timeout -k 10 $((SECS * 2 + 120)) "$WORK/$t/$t" \
        -max_total_time="$SECS" -timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$WORK/$t/artifacts/" "${extra[@]}" \
        ${FUZZ_ARGS:-} "$WORK/$t/corpus" >"$WORK/$t/fuzz.log" 2>&1
    rc=$?
    el=$((SECONDS - t0))
    execs=$(stat_of "$WORK/$t/fuzz.log" number_of_executed_units)
    rate=$(stat_of "$WORK/$t/fuzz.log" average_exec_per_sec)
    newu=$(stat_of "$WORK/$t/fuzz.log" new_units_added)
    rss=$(stat_of "$WORK/$t/fuzz.log" peak_rss_mb)
    ncrash=$(find "$WORK/$t/artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o \
        -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
    if [[ $rc -ne 0 && $ncrash -eq 0 ]]; then
        ncrash=1 # died without an artifact (e.g. killed by the outer timeout)
    fi
    status=OK
    if [[ $rc -ne 0 || $ncrash -ne 0 ]]; then
        status=FAIL
        fails=$((fails + 1))
        grep -m 5 -E 'INVARIANT|ERROR: |runtime error|SUMMARY' "$WORK/$t/fuzz.log" >&2
        for a in "$WORK/$t/artifacts"/*; do
            [[ -e $a ]] && echo "    reproducer: $WORK/$t/$t $a" >&2
        done
        echo "    log: $WORK/$t/fuzz.log" >&2
    fi
    SUMMARY+=("$(printf '%-12s %-4s  execs=%s time=%ss exec/s=%s new_units=%s rss=%sMB crashes=%s regress=%s' \
        "$t" "$status" "${execs:-?}" "$el" "${rate:-?}" "${newu:-?}" "${rss:-?}" "$ncrash" \
        "${#repro[@]}")")
done

echo
echo "=== fuzz: summary (${SECS}s per target)"
printf '%s\n' "${SUMMARY[@]}"
if [[ $fails -ne 0 ]]; then
    echo "fuzz: $fails target(s) failed; everything is kept in $WORK"
    exit 1
fi
if [[ $KEEP == 0 ]]; then
    rm -rf "$WORK"
else
    echo "fuzz: kept in $WORK"
fi
echo "fuzz: all ${#TARGETS[@]} target(s) passed"
exit 0
