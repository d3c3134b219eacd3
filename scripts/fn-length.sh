#!/bin/sh
# Lists C functions longer than a limit (default 100 lines, counted from
# the opening brace to the closing one). The project's style puts both
# braces of a function alone in column 0, so brace depth needs no parser.
# Usage: fn-length.sh [-n LIMIT] FILE...   Exit 1 if any function is longer.
limit=100
if [ "$1" = "-n" ]; then
    limit=$2
    shift 2
fi
[ $# -gt 0 ] || { echo "usage: $0 [-n LIMIT] FILE..." >&2; exit 2; }
awk -v limit="$limit" '
    FNR == 1 { sig = ""; start = 0 }
    /^\{/ && !start { start = FNR; name = sig; next }
    /^\}/ && start {
        n = FNR - start + 1
        if (n > limit) { printf "%s:%d: %s is %d lines (limit %d)\n", FILENAME, start, name, n, limit; bad = 1 }
        start = 0; next
    }
    !start && /\(/ { s = $0; sub(/\(.*/, "", s); k = split(s, w, /[ *]+/); sig = w[k] }
    END { exit bad }
' "$@"
