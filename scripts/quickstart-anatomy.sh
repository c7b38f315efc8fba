#!/usr/bin/env bash
# scripts/quickstart-anatomy.sh OUT [STEPS1 [STEPS2]]: where the quickstart's time goes (docs/quickstart-history.md "Session 11"):
# runs `bin/rq quickstart --out OUT --max-steps STEPS1 --stage2-max-steps STEPS2` (default 60 / 60) with every step
# logged, samples every thread's CPU time of the JVM from /proc every 0.5 s, then prints
#  - per training stage, rank 0's shares of the wall time between consecutive logged steps (after step 10):
#    forward, backward, optimizer, all-reduce (wait / copies / transfer) and the time outside the step;
#  - per stage of the quickstart (from the console's timestamps), the CPU seconds of each group of threads: Spark's
#    task threads (the ranks when training), the JIT compilers, GC, the image loader, the driver's main thread (and
#    libtorch's OpenMP workers it started, which carry the same name), Spark's other threads.
# A stage's window runs from its first timestamped console line to the next stage's (decode logs only at its end, so
# its CPU counts under tokenize; report's under sample). Thread CPU and shares hold on a loaded machine; the wall
# times do not. About 2 minutes at 15 / 15 (load 3), 3-5 minutes idle at 60 / 60.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[[ $# -ge 1 ]] || { echo "usage: $0 OUT [STEPS1 [STEPS2]]" >&2; exit 2; }
OUT=$1 S1=${2:-60} S2=${3:-60}
[[ -e "$OUT" ]] && { echo "$OUT exists: pass a new folder" >&2; exit 2; }
WORK="$(mktemp -d "${TMPDIR:-/tmp}/rq-anatomy-XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
"$ROOT/bin/rq" --help > /dev/null # build first, so that the sampler sees the quickstart's JVM only
"$ROOT/bin/rq" quickstart --out "$OUT" --max-steps "$S1" --stage2-max-steps "$S2" --set train.log_every=1 \
  --stage2-set train.log_every=1 > "$WORK/console.log" 2>&1 &
PID=""
for _ in $(seq 1 300); do
  PID=$(pgrep -f "java.*quickstart --out $OUT " | head -1 || true)
  [[ -n "$PID" ]] && break
  sleep 0.1
done
[[ -n "$PID" ]] || { echo "the quickstart's JVM did not start" >&2; cat "$WORK/console.log" >&2; exit 1; }
python3 - "$PID" "$WORK/threads.txt" <<'PY'
import os, sys, time
pid, out = sys.argv[1], sys.argv[2]
hz = os.sysconf('SC_CLK_TCK')
with open(out, 'w') as f:
    while os.path.exists(f'/proc/{pid}'):
        t = time.time()
        try:
            tids = os.listdir(f'/proc/{pid}/task')
        except OSError:
            break
        for tid in tids:
            try:
                s = open(f'/proc/{pid}/task/{tid}/stat').read()
            except OSError:
                continue
            comm = s[s.index('(') + 1:s.rindex(')')].replace(' ', '_')
            fs = s[s.rindex(')') + 2:].split()
            f.write(f'{t:.2f} {tid} {comm} {(int(fs[11]) + int(fs[12])) / hz:.2f}\n')
        f.flush()
        time.sleep(0.5)
PY
wait %1 || { tail -5 "$WORK/console.log" >&2; exit 1; }
cp "$WORK/console.log" "$OUT/anatomy-console.log"
python3 - "$OUT" "$WORK/threads.txt" "$WORK/console.log" <<'PY'
import collections, datetime, glob, json, re, sys
out, threads, console = sys.argv[1:4]
for stage in ('train', 'stage2'):
    rows = []
    for f in sorted(glob.glob(f'{out}/{stage}/metrics/*.jsonl')):
        rows += [json.loads(l) for l in open(f) if l.strip()]
    rows = sorted((r for r in rows if r.get('event') == 'step'), key=lambda r: r['step'])
    tot = collections.Counter()
    for a, b in zip(rows, rows[1:]):
        if b['step'] != a['step'] + 1 or b['step'] <= 10:
            continue
        s, f, bw, ar = b['step_seconds'], b['forward_seconds'], b['backward_seconds'], b['allreduce_seconds']
        w, c = b['allreduce_wait_seconds'], b['allreduce_copy_seconds']
        for k, v in dict(wall=b['time'] - a['time'], forward=f, backward=bw, optimizer=s - f - bw - ar, allreduce=ar,
                         wait=w, copies=c, transfer=ar - w - c, outside=b['time'] - a['time'] - s).items():
            tot[k] += v
    if tot['wall'] > 0:
        print(f"{stage}: rank 0, steps 11-{rows[-1]['step']}: " + ", ".join(
            f"{k} {100 * tot[k] / tot['wall']:.1f} %" for k in
            ('forward', 'backward', 'optimizer', 'allreduce', 'wait', 'copies', 'transfer', 'outside')))
# stage windows from the console's "== name" headers and the HH:MM:SS of the log lines after them
samples = collections.defaultdict(list)
for line in open(threads):
    p = line.split()
    if len(p) == 4:
        samples[p[1]].append((float(p[0]), p[2], float(p[3])))
t_first = min(s[0][0] for s in samples.values())
t_last = max(s[-1][0] for s in samples.values())
day = datetime.datetime.fromtimestamp(t_first, datetime.timezone.utc).date()
marks, current = [], 'start'
marks.append((current, t_first))
for line in open(console):
    m = re.match(r'== (\S+)', line)
    if m:
        current = m.group(1)
        marks.append((current, None))
        continue
    m = re.match(r'(\d\d):(\d\d):(\d\d) ', line)
    if m and marks[-1][1] is None:
        t = datetime.datetime(day.year, day.month, day.day, int(m.group(1)), int(m.group(2)), int(m.group(3)),
                              tzinfo=datetime.timezone.utc).timestamp()
        marks[-1] = (marks[-1][0], t)
marks = [(n, t) for n, t in marks if t is not None] + [('end', t_last)]
def cpu_at(ss, t):
    v = 0.0
    for tt, _, c in ss:
        if tt > t:
            break
        v = c
    return v
def group(comm):
    for name, pat in (('Spark task threads (the ranks when training)', r'^Executor_task'),
                      ('JIT compilers', r'Compiler'), ('GC', r'^(G1|GC)'), ('image loader', r'^rq-(loader|block|read)'),
                      ('main thread + its OpenMP workers', r'^java$')):
        if re.search(pat, comm):
            return name
    return 'Spark and other threads'
print('thread CPU per stage (s); a stage runs from its first timestamped log line to the next stage\'s:')
for (name, t0), (_, t1) in zip(marks, marks[1:]):
    g = collections.Counter()
    for ss in samples.values():
        g[group(ss[-1][1])] += cpu_at(ss, t1) - cpu_at(ss, t0)
    print(f"  {name:18s} {t1 - t0:6.1f} s wall, {sum(g.values()):6.1f} s CPU: " + ", ".join(
        f"{k} {v:.1f}" for k, v in g.most_common() if v >= 0.05))
PY
