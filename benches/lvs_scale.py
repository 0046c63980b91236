#!/usr/bin/env python3
"""Scale benchmark (issue "Scale", part 2): N real servers under V virtual servers
(default 40,000 under 2,000), TCP_CHECK at delay_loop 1 s, vigil and keepalived 2.2.7
in the same run, in the QEMU guest with the real IPVS (one TCG vCPU).

Prints figures; asserts nothing about time. For each daemon in turn, in the guest:

  start-up    from the daemon's exec to a complete IPVS table (V services, N
              destinations in `ipvsadm -Ln`, polled every second)
  checks/s    connections the listener accepted per second, for both
              (keepalived counts nothing we can read; vigil's status at this
              size is megabytes of JSON over the serial console)
  cpu%, rss   the checker child's, over the window (/proc/PID/stat, status)
  reload      a config that changes one real server's weight (1 -> 2) is copied
              over the running one and the daemon gets SIGHUP: the time from
              the signal to the new weight in the kernel (`ipvsadm -Ln -t
              VIP:80`, polled as fast as the guest runs it); then, once the
              daemon has had RELOAD_QUIET seconds, `ipvsadm -Sn` before and
              after are compared: entries added, removed or changed other
              than the one weight are "other entries changed"; of the rest,
              those out of their place (a destination deleted and added again
              moves to its service's end) are "moved": both are other entries
              touched. vigil logs every IPVS operation (`IPVS: ...`, -l) and,
              per reload, how many checker tasks kept running and how many it
              starts: both are read from its log after the SIGHUP.

usage: benches/lvs_scale.py [--n 40000] [--vs 2000] [--window 20] [--settle 20]
                            [--mem 3072] [--only vigil|keepalived] [--bin PATH]
--smoke: 200 real servers under 10 virtual servers, short windows (a quick look; the
test suite's functional form is in tests/lvs_guest.rs, in its own boot).
"""
import argparse, os, re, shutil, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guest_console import Console, enter_shell
from lvs_checkers import BIN, ROOT, build_sink, rs_addr
import lvs_guest

PORT = 18080
VIP0 = "10.99.0.1"
# After a reload, how long the daemon gets before the table is compared.
RELOAD_QUIET = 10


def vip(v):
    return f"10.{99 + v // 62500}.{(v // 250) % 250}.{v % 250 + 1}"


def make_config(n, vs_count, port, weight0=1):
    """N real servers spread evenly over vs_count virtual servers; real server 0
    (of the first virtual server) has weight `weight0`."""
    out = ["global_defs {\n    router_id lvs_scale\n}\n"]
    per = (n + vs_count - 1) // vs_count
    i = 0
    for v in range(vs_count):
        if i >= n:
            break
        out.append(f"virtual_server {vip(v)} 80 {{\n    delay_loop 1\n    lb_algo rr\n"
                   "    lb_kind NAT\n    protocol TCP\n")
        for _ in range(min(per, n - i)):
            w = weight0 if i == 0 else 1
            out.append(f"    real_server {rs_addr(i)} {port} {{\n        weight {w}\n"
                       "        TCP_CHECK {\n            connect_timeout 3\n        }\n    }\n")
            i += 1
        out.append("}\n")
    return "".join(out)


SCALE_SH = r'''#!/bin/sh
# scale.sh IMPL N VS SETTLE WINDOW: one daemon; prints @@-marked samples.
impl=$1 n=$2 vs=$3 settle=$4 window=$5
ulimit -n 1048576 2>/dev/null || ulimit -n 65536
ipvsadm -C
rm -f /tmp/acc /tmp/c.pid /tmp/p.pid /tmp/d.log
cp /bench/scale.conf /tmp/cur.conf
/bench/tcp_sink PORT /tmp/acc >/tmp/sink.log 2>&1 &
sink=$!
echo "@@START $(cut -d' ' -f1 /proc/uptime)"
if [ "$impl" = keepalived ]; then
    keepalived -n -l -C -f /tmp/cur.conf -p /tmp/p.pid -c /tmp/c.pid >/tmp/d.log 2>&1 &
else
    /bench/vigil -n -l -G -C -m --watchdog-interval=WATCHDOG_MS -f /tmp/cur.conf -p /tmp/p.pid \
        -r /tmp/r.pid -c /tmp/c.pid --control /tmp/v.sock >/tmp/d.log 2>&1 &
fi
daemon=$!
# /proc/net/ip_vs: cheaper than ipvsadm at 40,000 entries under TCG.
count() {
    awk '/^TCP/ { s++ } /^  -> [0-9A-F]+:/ { d++ } END { print s + 0, d + 0 }' /proc/net/ip_vs
}
i=0
while [ $i -lt 1800 ]; do
    c=$(count)
    [ "$c" = "$vs $n" ] && break
    kill -0 $daemon 2>/dev/null || break
    sleep 1; i=$((i + 1))
done
echo "@@TABLE $(cut -d' ' -f1 /proc/uptime) $c"
pid=$(cat /tmp/c.pid 2>/dev/null)
switches() {
    cat /proc/$1/task/*/status 2>/dev/null | awk '/_ctxt_switches/ { n += $2 } END { print n + 0 }'
}
# Checks/s for both: connections the listener accepted (vigil's status
# JSON at this size would take minutes over the serial console).
sample() {
    # The checker child as it is now (a restarted one shows as another pid).
    echo "@@P $1 $pid $(cat /tmp/c.pid)"
    echo "@@T $1 $(cat /proc/uptime) | $(cat /proc/$pid/stat) | $(grep VmRSS /proc/$pid/status) $(grep VmHWM /proc/$pid/status) | $(cat /tmp/acc)"
    echo "@@W $1 $(switches $(cat /tmp/p.pid 2>/dev/null)) $(switches $pid)"
}
if [ -z "$pid" ] || [ ! -d /proc/$pid ]; then
    echo "@@X no checker child"; tail -n 20 /tmp/d.log
else
    sleep $settle
    sample 0
    sleep $window
    sample 1
    # The reload: one real server's weight 1 -> 2.
    ipvsadm -Sn >/tmp/before
    mark=$(wc -c </tmp/d.log)
    cp /bench/scale-reload.conf /tmp/cur.conf
    t0=$(cut -d' ' -f1 /proc/uptime)
    kill -HUP $(cat /tmp/p.pid)
    i=0 seen=
    while [ $i -lt 20000 ]; do
        ipvsadm -Ln -t VIP0:80 | grep -q "RS0:PORT *Masq *2 " && { seen=1; break; }
        i=$((i + 1))
        # Bounded: RELOAD_BOUND s.
        [ $((i % 20)) = 0 ] && [ "$(cut -d. -f1 /proc/uptime)" -gt "$(( ${t0%.*} + RELOAD_BOUND ))" ] && break
    done
    t1=$(cut -d' ' -f1 /proc/uptime)
    if [ -n "$seen" ]; then
        echo "@@RELOAD $t0 $t1 $i"
    else
        echo "@@NORELOAD $t0 $t1 $i"; tail -n 30 /tmp/d.log | sed 's/^/@@LOG /'
    fi
    sleep RELOAD_QUIET
    ipvsadm -Sn >/tmp/after
    echo "@@LINES $(wc -l </tmp/before) $(wc -l </tmp/after)"
    # Entries added or removed (or changed: one of each), as sets (the guest's busybox has
    # no diff); and, apart, the lines whose place changed (a destination deleted and added
    # again moves to its service's end): compared in order once the changed ones are out.
    awk 'NR == FNR { a[$0]++; next } { if (a[$0] > 0) a[$0]--; else print "> " $0 }
         END { for (k in a) if (a[k] > 0) print "< " k }' /tmp/before /tmp/after >/tmp/diff
    head -n 20 /tmp/diff | sed 's/^/@@DIFF /'
    echo "@@DIFFN $(wc -l </tmp/diff)"
    sed -n 's/^[<>] //p' /tmp/diff >/tmp/changed
    awk 'NR == FNR { c[$0] = 1; next } !($0 in c)' /tmp/changed /tmp/before >/tmp/b.kept
    awk 'NR == FNR { c[$0] = 1; next } !($0 in c)' /tmp/changed /tmp/after >/tmp/a.kept
    echo "@@MOVED $(awk 'NR == FNR { a[FNR] = $0; next } a[FNR] != $0 { n++ } END { print n + 0 }' /tmp/b.kept /tmp/a.kept)"
    tail -c +$((mark + 1)) /tmp/d.log >/tmp/reload.log
    echo "@@OPS $(grep -c 'IPVS: ' /tmp/reload.log)"
    # A check's verdict in the window moves an entry too: counted apart from the reload's.
    echo "@@TRANS $(grep -cE 'real server .* (up|down)$' /tmp/reload.log)"
    grep 'kept running' /tmp/reload.log | sed 's/^/@@LOG /'
    grep 'IPVS: \|eload\|weight' /tmp/reload.log | head -n 20 | sed 's/^/@@LOG /'
    echo "@@PID $pid $(cat /tmp/c.pid)"
    sample 2
fi
kill -TERM $daemon
i=0
while kill -0 $daemon 2>/dev/null && [ $i -lt 600 ]; do sleep 0.5; i=$((i + 1)); done
kill -KILL $daemon 2>/dev/null
kill -KILL $sink
wait
ipvsadm -C
echo "@@DONE $impl $n"
'''


def figures(impl, n, vs, out):
    # A sample of a checker child that is gone (restarted) has no /proc figures.
    live = "\n".join(l for l in out.splitlines() if not re.match(r"\s*@@T \d [\d.]+ [\d.]+ \|\s+\|", l))
    row = lvs_guest.figures(impl, n, live) or {"impl": impl, "n": n}
    row["vs"] = vs
    start = re.search(r"@@START ([\d.]+)", out)
    table = re.search(r"@@TABLE ([\d.]+) (\d+) (\d+)", out)
    if start and table:
        row["table_s"] = float(table.group(1)) - float(start.group(1))
        row["table_complete"] = (int(table.group(2)), int(table.group(3))) == (vs, n)
        row["table_seen"] = f"{table.group(2)} VS, {table.group(3)} RS"
    m = re.search(r"@@RELOAD ([\d.]+) ([\d.]+) (\d+)", out)
    if m:
        row["reload_s"] = float(m.group(2)) - float(m.group(1))
        row["reload_polls"] = int(m.group(3))
    m = re.search(r"@@NORELOAD ([\d.]+) ([\d.]+)", out)
    if m:
        row["no_reload_after"] = float(m.group(2)) - float(m.group(1))
    m = re.search(r"@@LINES (\d+) (\d+)", out)
    if m:
        row["lines"] = (int(m.group(1)), int(m.group(2)))
    m = re.search(r"@@DIFFN (\d+)", out)
    if m:
        row["diff_lines"] = int(m.group(1))
    row["diff"] = re.findall(r"@@DIFF (.*)", out)
    m = re.search(r"@@MOVED (\d+)", out)
    if m:
        row["moved"] = int(m.group(1))
    m = re.search(r"@@OPS (\d+)", out)
    if m and impl == "vigil":
        row["ops"] = int(m.group(1))
    m = re.search(r"@@TRANS (\d+)", out)
    if m and impl == "vigil":
        row["transitions"] = int(m.group(1))
    m = re.search(r"kept running, (\d+) to start", out)
    k = re.search(r"(\d+) checker task\(s\) kept running", out)
    if m and k:
        row["tasks"] = (int(k.group(1)), int(m.group(1)))
    pids = re.findall(r"@@P \d (\d+) (\d+)", out)
    row["child_restarted"] = any(a != b for a, b in pids)
    m = re.search(r"@@PID (\d+) (\d+)", out)
    if m:
        row["same_child"] = m.group(1) == m.group(2)
    m = re.search(r"@@T 2 (.*)$", live, re.M)
    if m:
        row["rss_after"] = lvs_guest.parse_t(m.group(1).strip())["rss"]
    row["log"] = re.findall(r"@@LOG (.*)", out)
    return row


def measure(binary, n, vs, window, settle, mem, only, watchdog_ms=5000, reload_bound=900):
    tmp = tempfile.mkdtemp(prefix="vigil-lvs-scale-")
    try:
        ov = os.path.join(tmp, "overlay")
        os.makedirs(os.path.join(ov, "bench"))
        os.makedirs(os.path.join(ov, "etc/keepalived"))
        with open(os.path.join(ov, "etc/keepalived/keepalived.conf"), "w") as f:
            f.write("global_defs {\n    router_id lvs_scale_guest\n}\n")
        with open(os.path.join(ov, "bench/scale.conf"), "w") as f:
            f.write(make_config(n, vs, PORT))
        with open(os.path.join(ov, "bench/scale-reload.conf"), "w") as f:
            f.write(make_config(n, vs, PORT, weight0=2))
        sh = (SCALE_SH.replace("RELOAD_QUIET", str(RELOAD_QUIET)).replace("WATCHDOG_MS", str(watchdog_ms))
              .replace("RELOAD_BOUND", str(reload_bound)).replace("VIP0", VIP0)
              .replace("RS0", rs_addr(0)).replace("PORT", str(PORT)))
        with open(os.path.join(ov, "bench/scale.sh"), "w") as f:
            f.write(sh)
        build_sink(os.path.join(ov, "bench/tcp_sink"))
        shutil.copy(binary, os.path.join(ov, "bench/vigil"))
        impls = [i for i in ("keepalived", "vigil") if not only or only == i]
        per_run = 1800 + settle + window + 2 * RELOAD_QUIET + 600
        image = os.environ.get("VIGIL_IMAGE_OUT")
        kad = os.path.join(image or os.path.join(ROOT, "target/image"), "keepalived")
        con = Console([os.path.join(ROOT, "qemu/run"), "--name", "lvsscale", "--mem", str(mem),
                       "--pace", "0", "--timeout", str(300 + len(impls) * per_run),
                       "--overlay", kad, "--overlay", ov] + (["--image", image] if image else []))
        rows, powered_off = [], False
        try:
            enter_shell(con)
            for impl in impls:
                print(f"guest: {impl}, {n} real servers under {vs} virtual servers ...", flush=True)
                start = len(con.buf)
                con.send(f"sh /bench/scale.sh {impl} {n} {vs} {int(settle)} {int(window)}")
                # The marked lines as they come (a run at this size takes minutes).
                shown, end = start, time.monotonic() + per_run
                while True:
                    try:
                        con.read_until(f"@@DONE {impl} {n}", 20)
                        break
                    except TimeoutError:
                        if time.monotonic() > end:
                            raise
                    finally:
                        cut = con.buf.rfind("\n", shown) + 1
                        for line in con.buf[shown:cut].splitlines():
                            if "@@" in line and not line.startswith(("@@T", "@@DIFF ")):
                                print(f"  {impl}: {line.strip()[:200]}", flush=True)
                        shown = max(shown, cut)
                out = con.buf[start:]
                keep = os.environ.get("LVS_SCALE_CONSOLE")
                if keep:
                    with open(f"{keep}.{impl}", "w") as f:
                        f.write(out)
                try:
                    row = figures(impl, n, vs, out)
                except (ValueError, IndexError, KeyError) as e:
                    print(f"guest: {impl}: unreadable samples ({e}); console:\n{out[-4000:]}", flush=True)
                    continue
                print({k: v for k, v in row.items() if k not in ("diff", "log")}, flush=True)
                for line in row["log"][:12] + [f"diff {d}" for d in row["diff"][:10]]:
                    print(f"  {impl}: {line}", flush=True)
                rows.append(row)
            con.send("exit")
            con.read_until(r"vigil> ", 30)
            con.send("poweroff")
            powered_off = True
        finally:
            con.close(wait=90 if powered_off else 0)
        return rows
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fmt(v, f="{:,.1f}"):
    return "-" if v is None else f.format(v)


def print_table(rows):
    print()
    print("| daemon | VS | real servers | start-up to full table s | checks/s | checker CPU % | RSS KiB | "
          "reload: SIGHUP to change in kernel s | other IPVS entries changed, moved | IPVS ops in the reload's window | "
          "checker tasks kept, started |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        table = fmt(r.get("table_s")) + ("" if r.get("table_complete", True) else f" (only {r.get('table_seen')})")
        rate = fmt(r.get("rate"), "{:,.0f}") + (" (accepted)" if r["impl"] == "keepalived" and r.get("rate") else "")
        # The changed weight is one line out and one in.
        other = "-" if r.get("diff_lines") is None else f"{max(0, r['diff_lines'] - 2)}, {fmt(r.get('moved'), '{}')}"
        tasks = "-" if not r.get("tasks") else f"{r['tasks'][0]:,}, {r['tasks'][1]:,}"
        rss = fmt(r.get("rss"), "{:,}") + ("" if r.get("rss_after") is None else f" ({r['rss_after']:,} after)")
        reload = fmt(r.get("reload_s"), "{:.2f}")
        ops = fmt(r.get("ops"), "{}") + ("" if r.get("transitions") is None else f" ({r['transitions']} check transitions)")
        if r.get("reload_s") is None and r.get("no_reload_after") is not None:
            reload = f"not within {r['no_reload_after']:.0f} (--reload-bound)"
        print(f"| {r['impl']} | {r['vs']:,} | {r['n']:,} | {table} | {rate} | {fmt(r.get('cpu'))} | {rss} | "
              f"{reload} | {other} | {ops} | {tasks} |")
    print(f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, QEMU TCG guest, 1 vCPU")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=40000)
    ap.add_argument("--vs", type=int, default=2000)
    ap.add_argument("--window", type=float, default=20)
    ap.add_argument("--settle", type=float, default=20)
    ap.add_argument("--mem", type=int, default=3072, help="guest memory, MiB")
    ap.add_argument("--only", choices=("vigil", "keepalived"))
    ap.add_argument("--bin", default=BIN)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--watchdog-ms", type=int, default=5000, help="vigil's --watchdog-interval")
    ap.add_argument("--reload-bound", type=int, default=900, help="the longest wait for the reload's change, s")
    a = ap.parse_args()
    if a.smoke:
        a.n, a.vs, a.window, a.settle = 200, 10, 5, 5
    if not os.access(a.bin, os.X_OK):
        sys.exit(f"{a.bin}: build it first (cargo build --release --target x86_64-unknown-linux-musl)")
    rows = measure(a.bin, a.n, a.vs, a.window, a.settle, a.mem, a.only, a.watchdog_ms, a.reload_bound)
    print_table(rows)
    bad = [r for r in rows if not r.get("table_complete") or r.get("reload_s") is None]
    if bad:
        sys.exit(f"lvs_scale: a daemon did not complete its table or its reload: {[r['impl'] for r in bad]}")


if __name__ == "__main__":
    main()
