#!/usr/bin/env python3
"""A small tool for the ingestion tests."""

import sys

LIMIT = 10


class Counter:
    """Counts things."""

    def __init__(self):
        self.n = 0

    def add(self, k=1):
        self.n += k
        return self.n


def main(argv):
    c = Counter()
    for _ in argv[:LIMIT]:
        c.add()
    print(c.n)


if __name__ == "__main__":
    main(sys.argv[1:])
