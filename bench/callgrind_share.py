#!/usr/bin/env python3
"""callgrind_share.py: the share of a program's instructions spent in functions whose names
match a pattern, from a callgrind output file written with --compress-strings=no
--compress-pos=no.

It sums the inclusive cost of every call edge that enters a matching function from a
non-matching one (nested matching calls are inside that cost, so they are not counted twice)
and divides by the program's total. Work inlined into non-matching callers (an atomic add)
is not seen; every label lookup, histogram bucket search and encoding is a call and is.

    callgrind_share.py FILE REGEX   ->   "<matched Ir> <total Ir> <percent>"
"""
import re
import sys


def share(path, pattern):
    rx = re.compile(pattern)
    total = 0
    matched = 0
    fn_match = False
    callee_match = False
    pending_call = False
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                total = max(total, int(line.split()[1]))
                continue
            if line.startswith("fn="):
                fn_match = bool(rx.search(line[3:]))
                continue
            if line.startswith("cfn="):
                callee_match = bool(rx.search(line[4:]))
                continue
            if line.startswith("calls="):
                pending_call = True
                continue
            if not line or not (line[0].isdigit() or line[0] in "+-*"):
                continue
            fields = line.split()
            if len(fields) < 2:
                continue
            if pending_call:
                pending_call = False
                if callee_match and not fn_match:
                    matched += int(fields[1])
    return matched, total


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    matched, total = share(sys.argv[1], sys.argv[2])
    if total == 0:
        sys.exit(f"{sys.argv[1]}: no summary line (is it a callgrind output file?)")
    print(matched, total, f"{100.0 * matched / total:.3f}")


if __name__ == "__main__":
    main()
