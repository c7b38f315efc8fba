#!/usr/bin/env python3
"""Sums a libtorch / torch.profiler chrome trace per operator: calls, total and self milliseconds.

    scripts/profile-summary.py TRACE.json [--top N]

TRACE is what `-Drq.bench.profile=PREFIX` (TransformerBench) or torch.profiler's
export_chrome_trace writes. Self time = an event's duration minus the durations of the events
nested directly inside it on the same thread. Prints the top operators by self time and the
wall time of the trace (first start to last end).
"""
import json
import sys
from collections import defaultdict


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        sys.exit(2)
    top = 30
    if "--top" in args:
        i = args.index("--top")
        top = int(args[i + 1])
        del args[i:i + 2]
    with open(args[0]) as f:
        data = json.load(f)
    events = data["traceEvents"] if isinstance(data, dict) else data
    spans = [e for e in events if e.get("ph") == "X" and "dur" in e
             and e.get("cat", "cpu_op") in ("cpu_op", "Operator", "user_annotation", "")]
    by_tid = defaultdict(list)
    for e in spans:
        by_tid[(e.get("pid"), e.get("tid"))].append(e)
    calls = defaultdict(int)
    total = defaultdict(float)
    self_t = defaultdict(float)
    start, end = float("inf"), 0.0
    for evs in by_tid.values():
        evs.sort(key=lambda e: (float(e["ts"]), -float(e["dur"])))
        stack = []  # [end, name, child_time]
        def pop():
            t_end, name, child, dur = stack.pop()
            self_t[name] += dur - child
        for e in evs:
            ts, dur = float(e["ts"]), float(e["dur"])
            start, end = min(start, ts), max(end, ts + dur)
            while stack and stack[-1][0] <= ts:
                pop()
            if stack:
                stack[-1][2] += dur
            calls[e["name"]] += 1
            total[e["name"]] += dur
            stack.append([ts + dur, e["name"], 0.0, dur])
        while stack:
            pop()
    wall = (end - start) / 1000 if spans else 0
    busy = sum(self_t.values()) / 1000
    print(f"trace wall {wall:.1f} ms, operator self time {busy:.1f} ms, {sum(calls.values())} calls")
    print(f"{'operator':<44} {'calls':>6} {'self ms':>9} {'total ms':>9}")
    for name in sorted(self_t, key=lambda n: -self_t[n])[:top]:
        print(f"{name[:44]:<44} {calls[name]:>6} {self_t[name] / 1000:>9.1f} {total[name] / 1000:>9.1f}")


if __name__ == "__main__":
    main()
