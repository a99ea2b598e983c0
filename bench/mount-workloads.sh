#!/usr/bin/env bash
# bench/mount-workloads.sh DIR — the mount benchmark's workloads on any directory (a tsmfs
# mount, a MooseFS mount, a local folder), one JSON object on stdout. Used by bench/mount.js.
# Needs fio, python3, tar; root to drop caches between writing and reading.
set -euo pipefail
D=$(mktemp -d "$1/.bench.XXXXXX")
L=$(mktemp -d)
trap 'rm -rf "$D" "$L"' EXIT
SEQ_MIB=${BENCH_SEQ_MIB:-1024}
RAND_SECS=${BENCH_RAND_SECS:-15}
export SMALL_N=${BENCH_SMALL_N:-5000}
drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
now() { date +%s.%N; }
rate() { python3 -c "import sys; print(round($1 / ($3 - $2), 1))"; }
log() { echo "[mount-workloads] $*" >&2; }

log "sequential write ${SEQ_MIB} MiB"
t0=$(now); dd if=/dev/zero of="$D/seq" bs=1M count="$SEQ_MIB" conv=fsync status=none; t1=$(now)
seq_write=$(rate "$SEQ_MIB" "$t0" "$t1")
drop
log "sequential read"
t0=$(now); dd if="$D/seq" of=/dev/null bs=1M status=none; t1=$(now)
seq_read=$(rate "$SEQ_MIB" "$t0" "$t1")
rm -f "$D/seq"

fio_iops() { # rw
  fio --name=r --directory="$D" --filename=rand --size=256M --bs=4k --ioengine=psync --iodepth=1 \
      --rw="$1" --time_based --runtime="$RAND_SECS" --invalidate=1 --output-format=json 2>/dev/null \
    | python3 -c "import json,sys; j=json.load(sys.stdin)['jobs'][0]; print(round(j['read']['iops'] + j['write']['iops']))"
}
log "fio 4k random read/write"
fio --name=prep --directory="$D" --filename=rand --size=256M --bs=1M --rw=write --end_fsync=1 --output=/dev/null
rand_read=$(fio_iops randread)
rand_write=$(fio_iops randwrite)
rm -f "$D/rand"

log "metadata: 10,000 files create/stat/rename/unlink; $SMALL_N x 4 KiB files write/read"
meta=$(python3 - "$D" <<'PY'
import os, sys, time, json
d = os.path.join(sys.argv[1], 'meta'); os.mkdir(d)
N = 10000
def timed(f):
    t = time.time(); f(); return round(N / (time.time() - t))
r = {}
r['create'] = timed(lambda: [os.close(os.open(f'{d}/f{i}', os.O_CREAT | os.O_WRONLY, 0o644)) for i in range(N)])
os.system('sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null')
r['stat'] = timed(lambda: [os.stat(f'{d}/f{i}') for i in range(N)])
r['rename'] = timed(lambda: [os.rename(f'{d}/f{i}', f'{d}/g{i}') for i in range(N)])
r['unlink'] = timed(lambda: [os.unlink(f'{d}/g{i}') for i in range(N)])
s = os.path.join(sys.argv[1], 'small'); os.mkdir(s)
M = int(os.environ['SMALL_N']); data = os.urandom(4096)
def write():
    for i in range(M):
        with open(f'{s}/f{i}', 'wb') as f: f.write(data)
def read():
    for i in range(M):
        with open(f'{s}/f{i}', 'rb') as f: f.read()
print(json.dumps(r), file=sys.stderr)
t = time.time(); write(); r['small_write'] = round(M / (time.time() - t)); r['small_n'] = M
os.system('sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null')
t = time.time(); read(); r['small_read'] = round(M / (time.time() - t))
print(json.dumps(r))
PY
)

log "real tree: tar -x and rm -rf of /usr/include"
tar -C / -cf "$L/tree.tar" usr/include
files=$(tar -tf "$L/tree.tar" | wc -l)
t0=$(now); tar -C "$D" -xf "$L/tree.tar"; t1=$(now)
untar=$(python3 -c "print(round($t1 - $t0, 2))")
drop
t0=$(now); rm -rf "$D/usr"; t1=$(now)
rmrf=$(python3 -c "print(round($t1 - $t0, 2))")

cat <<JSON
{"seq_write_MiBps": $seq_write, "seq_read_MiBps": $seq_read, "rand_read_4k_iops": $rand_read, "rand_write_4k_iops": $rand_write, "meta_ops_per_s": $meta, "tree_entries": $files, "untar_s": $untar, "rm_rf_s": $rmrf}
JSON
