#!/usr/bin/env python3
"""Seed-style FIFO ping server: the baseline of `scripts/bench`, not part of fifo-pingd.

Written for this project in the style of the seed's Python server (a classic named-pipe
ping server): make the FIFO, open it read-only, read 4 bytes at a time with os.read,
print each message, stop at "end", remove the FIFO.

Two deliberate differences, both so that the benchmark can run it safely:
- it stops at end-of-file instead of spinning on read() == 0 (the seed's loop burns a
  core once its writer goes away);
- it counts the pings and prints `pings=N` on stderr at the end, so the benchmark can
  check that every message was seen (the count costs far less than the print).

usage: seed_server.py FIFO_PATH      (stdout: one "Server: Received ..." line per message)
"""

import os
import sys


def main() -> int:
    path = sys.argv[1]
    os.mkfifo(path)
    pings = 0
    try:
        fd = os.open(path, os.O_RDONLY)
        while True:
            data = os.read(fd, 4)
            if not data:
                break
            message = data.decode()
            print("Server: Received " + message)
            if message == "end":
                break
            if message == "ping":
                pings += 1
        os.close(fd)
    finally:
        os.remove(path)
    print(f"seed_server pings={pings}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
