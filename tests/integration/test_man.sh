#!/usr/bin/env bash
# The manual pages (docs/man/*.1) are the apps' --help in long form: every
# option --help lists is documented in the page, the pages render without
# warnings, and `cmake --install` puts them under share/man/man1.
# No network, no root needed.
set -uo pipefail
SL_SRC=${SL_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
SL_BUILD=${SL_BUILD:-$SL_SRC/build}
pass=0
failn=0
ok() { pass=$((pass + 1)); echo "PASS: $*"; }
bad() { failn=$((failn + 1)); echo "FAIL: $*"; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

for app in slhttpd slclient; do
  page=$SL_SRC/docs/man/$app.1
  [[ -f $page ]] || { bad "$page missing"; continue; }
  "$SL_BUILD/$app" --help >"$tmp/$app.help" || bad "$app --help exit status $?"
  missing=()
  while read -r opt; do
    grep -qF -- "${opt//-/\\-}" "$page" || missing+=("$opt")
  done < <(grep -o -- '--[a-z][a-z0-9-]*' "$tmp/$app.help" | sort -u)
  if ((${#missing[@]} == 0)); then
    ok "$app.1 documents every option of $app --help"
  else
    bad "$app.1 lacks: ${missing[*]}"
  fi
  if command -v groff >/dev/null; then
    warn=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
    [[ -z $warn ]] && ok "$app.1 renders without warnings" || bad "$app.1: $warn"
  fi
done

if command -v cmake >/dev/null && [[ -f $SL_BUILD/cmake_install.cmake ]]; then
  cmake --install "$SL_BUILD" --prefix "$tmp/prefix" >/dev/null 2>&1
  for app in slhttpd slclient; do
    [[ -f $tmp/prefix/share/man/man1/$app.1 ]] && ok "cmake --install puts $app.1 in share/man/man1" ||
      bad "cmake --install: no share/man/man1/$app.1"
  done
fi
echo "test_man: $pass passed, $failn failed"
((failn == 0 && pass > 0))
