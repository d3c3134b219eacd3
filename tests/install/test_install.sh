#!/usr/bin/env bash
# Packaging: the shared library exports only the public API, and
# `cmake --install` gives what a C library user expects: libsltcp.so.0 (a
# soname), libsltcp.a, include/sltcp/*.h and sltcp.pc, against which a
# program builds with `pkg-config --cflags --libs sltcp` and runs.
#
# Environment (set by CTest): SL_BUILD build tree, SL_SRC source tree,
# SL_CC the compiler, SL_CFLAGS the build type's flags (ASan needs them on
# the test program too).
set -uo pipefail
B=${SL_BUILD:?} SRC=${SL_SRC:?} CC=${SL_CC:-cc}
read -r -a CFLAGS <<<"${SL_CFLAGS:-}"
fails=0 passes=0
ok() { passes=$((passes + 1)); }
bad() { fails=$((fails + 1)); echo "FAIL: $*" >&2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# (a) exports: only sl_ functions, and every function the header declares
so=$B/libsltcp.so
exported=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TtWwDdBbRr]$/ {print $3}' | sort)
others=$(grep -v '^sl_' <<<"$exported")
[[ -z $others ]] && ok || bad "exported besides sl_*: $(tr '\n' ' ' <<<"$others")"
declared=$(sed -n 's/^SL_API .*[ *]\(sl_[a-z0-9_]*\)(.*/\1/p' "$SRC"/include/sltcp/*.h | sort -u)
unmarked=$(grep -hE '^[a-z][a-z0-9_ ]*[ *]+sl_[a-z0-9_]+\(' "$SRC"/include/sltcp/*.h | grep -v '^typedef' || true)
[[ -z $unmarked ]] && ok || bad "public functions without SL_API: $unmarked"
missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
[[ -z $missing ]] && ok || bad "declared but not exported: $(tr '\n' ' ' <<<"$missing")"
extra=$(comm -13 <(echo "$declared") <(echo "$exported"))
[[ -z $extra ]] && ok || bad "exported but not declared: $(tr '\n' ' ' <<<"$extra")"
echo "exports: $(wc -l <<<"$exported") functions, $(wc -l <<<"$declared") declared"
soname=$(readelf -d "$so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[[ $soname == libsltcp.so.0 ]] && ok || bad "soname '$soname'"

# (b) install into a temporary prefix
prefix=$tmp/prefix
if cmake --install "$B" --prefix "$prefix" >"$tmp/install.log" 2>&1; then ok; else
    bad "cmake --install"; cat "$tmp/install.log" >&2; fi
libdir=$(dirname "$(find "$prefix" -name sltcp.pc -path '*/pkgconfig/*' | head -n 1)")/..
for f in "$libdir/libsltcp.so.0" "$libdir/libsltcp.a" "$prefix/include/sltcp/sltcp.h" \
    "$libdir/pkgconfig/sltcp.pc"; do
    [[ -e $f ]] && ok || bad "not installed: ${f#"$prefix"/}"
done
export PKG_CONFIG_PATH=$libdir/pkgconfig
pc_cflags=$(pkg-config --cflags sltcp) && pc_libs=$(pkg-config --libs sltcp) && ok ||
    bad "pkg-config sltcp"

# shared: builds with pkg-config alone, needs libsltcp.so.0, runs
# shellcheck disable=SC2086
if "$CC" "${CFLAGS[@]}" -o "$tmp/hello" "$SRC/tests/install/hello_sltcp.c" $pc_cflags $pc_libs \
    2>"$tmp/cc.log"; then ok; else bad "build against the shared library"; cat "$tmp/cc.log" >&2; fi
readelf -d "$tmp/hello" 2>/dev/null | grep -q 'NEEDED.*\[libsltcp.so.0\]' && ok ||
    bad "hello does not need libsltcp.so.0"
LD_LIBRARY_PATH=$libdir "$tmp/hello" && ok || bad "hello (shared) did not run"

# static: libsltcp.a with pkg-config --static for its dependencies
static_libs=$(pkg-config --static --libs sltcp) && static_libs=${static_libs/-lsltcp/}
# shellcheck disable=SC2086
if "$CC" "${CFLAGS[@]}" -o "$tmp/hello_static" "$SRC/tests/install/hello_sltcp.c" $pc_cflags \
    "$libdir/libsltcp.a" $static_libs 2>"$tmp/cc.log"; then ok; else
    bad "build against the static library"; cat "$tmp/cc.log" >&2; fi
readelf -d "$tmp/hello_static" 2>/dev/null | grep -q 'NEEDED.*libsltcp' &&
    bad "hello_static needs the shared library" || ok
"$tmp/hello_static" && ok || bad "hello (static) did not run"

echo "test_install: $passes passed, $fails failed"
[[ $fails -eq 0 ]]
