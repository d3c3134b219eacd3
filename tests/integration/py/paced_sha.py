#!/usr/bin/env python3
"""Reads a stream on stdin, hashes it (sha256) and stops reading at given
byte offsets until told to go on: the sender's window fills, so a test can
kill and restart the server at a known stream position.

usage: paced_sha.py CTL_DIR MARK...
At each MARK (bytes, increasing) it writes CTL_DIR/at-K (K = 0, 1, ...)
holding the offset, then waits (at most 300 s) for CTL_DIR/go-K.
At EOF it prints "bytes=N sha256=HEX".
"""
import hashlib
import os
import sys
import time


def main():
    ctl = sys.argv[1]
    marks = [int(m) for m in sys.argv[2:]]
    h = hashlib.sha256()
    total = 0
    k = 0
    inp = sys.stdin.buffer.raw
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    while True:
        want = len(buf)
        if k < len(marks):
            if total == marks[k]:
                with open(os.path.join(ctl, "at-%d.tmp" % k), "w") as f:
                    f.write("%d\n" % total)
                os.rename(os.path.join(ctl, "at-%d.tmp" % k), os.path.join(ctl, "at-%d" % k))
                go = os.path.join(ctl, "go-%d" % k)
                end = time.monotonic() + 300
                while not os.path.exists(go):
                    if time.monotonic() > end:
                        print("paced_sha: no go-%d within 300 s" % k, file=sys.stderr)
                        return 1
                    time.sleep(0.01)
                k += 1
                continue
            want = min(want, marks[k] - total)
        n = inp.readinto(view[:want])
        if not n:
            break
        h.update(view[:n])
        total += n
    print("bytes=%d sha256=%s" % (total, h.hexdigest()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
