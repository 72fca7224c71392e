#!/usr/bin/env python3
"""Seed-style FIFO ping client: a baseline of `scripts/bench`, not part of fifo-pingd.

Written for this project in the style of the seed's Python client (a classic
named-pipe ping client): open the FIFO write-only, then per message one
os.write(b"ping") and one print, then "end", then close.

One addition, so that the benchmark does not time the interpreter's start-up:
once the FIFO is open it prints "ready" on stderr and waits for a line on stdin.

usage: seed_client.py FIFO_PATH ROUNDS      (stdout: one "Client: Sent ping" line per message)
"""

import os
import sys


def main() -> int:
    path = sys.argv[1]
    rounds = int(sys.argv[2])
    fd = os.open(path, os.O_WRONLY)
    print("ready", file=sys.stderr, flush=True)
    sys.stdin.readline()
    i = 0
    while i != rounds:
        os.write(fd, b"ping")
        print("Client: Sent ping")
        i += 1
    os.write(fd, b"end")
    os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
