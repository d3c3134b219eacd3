#!/usr/bin/env bash
# shellcheck disable=SC2119 # lib helpers take optional arguments
# A download past 4 GiB survives kills, byte-exact: stream positions are
# 64-bit (sl_conn_write_off) in slhttpd's checkpoints and in the control
# block, so a connection restored after the 4 GiB mark goes on at the
# right file offset, not 4 GiB earlier.
#
# The file is sparse (4 GiB + 256 MiB) with a 4 KiB marker every 8 MiB
# that encodes its own offset, so a shift by any multiple of 8 MiB (4 GiB
# included) changes the bytes. curl downloads it through slhttpd
# (--store shm:..., --durability sync) into a reader that hashes the
# stream and stops reading at chosen offsets (py/paced_sha.py): the window
# fills, slhttpd is killed with SIGKILL and restarted with the same command
# line, then the reader goes on. Kills: at 1 GiB and past 4 GiB. Check:
# byte count and sha256 equal the file's.
#
# Heavy (4.25 GB through the stack): skipped under an ASan build of
# slhttpd (SL_BUILD) and when SL_HEAVY=0.
SL_TEST_BUDGET=${SL_TEST_BUDGET:-420}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd curl python3

if [[ ${SL_HEAVY:-1} == 0 ]]; then
  skip_all "SL_HEAVY=0"
fi
if [[ $SL_SELFTEST != 1 ]] && grep -qs 'CMAKE_BUILD_TYPE:[A-Z]*=Asan' "$SL_BUILD/CMakeCache.txt"; then
  skip_all "ASan build (4.25 GB through the stack is too slow there)"
fi

GIB=$((1 << 30))
SIZE=$((4 * GIB + 256 * 1024 * 1024))
MARKS=($((1 * GIB)) $((4 * GIB + 64 * 1024 * 1024)))

topo_up
python3 - "$ROOT/big.bin" "$SIZE" <<'PY' || die "cannot create the sparse file"
import sys
path, size = sys.argv[1], int(sys.argv[2])
step = 8 << 20
with open(path, "wb") as f:
    f.truncate(size)
    for off in list(range(0, size, step)) + [size - 4096]:
        f.seek(off)
        f.write(("%015x\n" % off).encode() * 256)  # 4 KiB naming its offset
PY
chmod 644 "$ROOT/big.bin"
# the file's sha256 meanwhile (hashlib: OpenSSL's SHA-256, several times
# faster than coreutils' sha256sum on 4.25 GB)
python3 -c 'import hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for b in iter(lambda: f.read(1 << 20), b""):
        h.update(b)
print(h.hexdigest())' "$ROOT/big.bin" >"$WORK/sha/big.bin" &
SHA_PID=$!
_SL_PIDS+=("$SHA_PID")

head -c 32 /dev/urandom >"$WORK/store.key"
chmod 600 "$WORK/store.key"
SHM_NAME=sl4g$$
_cleanup_4g() { rm -f "/dev/shm/$SHM_NAME"; }
trap '_cleanup_4g; cleanup' EXIT
ARGS=(--store "shm:$SHM_NAME?slots=256" --durability sync --store-key "$WORK/store.key" --quiet)
start_slhttpd "${ARGS[@]}"

CTL=$WORK/ctl
mkdir -p "$CTL"
t0=$(now)
bg_start curl "$CLI_NS" bash -o pipefail -c \
  'curl -sS --max-time 200 "$1" | python3 "$2" "$3" "${@:4}"' _ \
  "$(srv_url big.bin)" "$SL_LIB_DIR/py/paced_sha.py" "$CTL" "${MARKS[@]}"
CURL_PID=$BG_PID

for ((k = 0; k < ${#MARKS[@]}; k++)); do
  if ! wait_for "[[ -e $CTL/at-$k ]] || ! _sl_alive $CURL_PID" 120; then
    fail "the download did not reach ${MARKS[$k]} bytes within 120 s"
    break
  fi
  [[ -e $CTL/at-$k ]] || break
  kill -KILL "$SLHTTPD_PID" 2>/dev/null
  wait "$SLHTTPD_PID" 2>/dev/null
  _sl_forget "$SLHTTPD_PID"
  SLHTTPD_PID=
  start_slhttpd "${ARGS[@]}"
  log "killed and restarted slhttpd with the client at byte $(cat "$CTL/at-$k")"
  touch "$CTL/go-$k"
done

wait_for "! _sl_alive $CURL_PID" 180 || log "the download is still running"
wait "$CURL_PID" 2>/dev/null
rc=$?
_sl_forget "$CURL_PID"
wait "$SHA_PID"
_sl_forget "$SHA_PID"
res=$(grep '^bytes=' "$WORK/curl.log")
got_bytes=$(sed -n 's/^bytes=\([0-9]*\) .*/\1/p' <<<"$res")
got_sha=$(sed -n 's/.* sha256=//p' <<<"$res")
log "download: rc $rc, ${got_bytes:-?} bytes in $(elapsed "$t0")s"
[[ $rc == 0 ]] || sed 's/^/  /' "$WORK/curl.log" | head -n 5
check "curl got $SIZE bytes across ${#MARKS[@]} kills (rc $rc, ${got_bytes:-0} bytes)" \
  test "$rc" = 0 -a "${got_bytes:-0}" = "$SIZE"
check "sha256 of the download equals the file's (a restore past 4 GiB resumes at the right offset)" \
  test "${got_sha:-none}" = "$(sha_of big.bin)"
rm -f "$ROOT/big.bin"
stop_slhttpd
summary
