"""The guest half of benches/lvs_checkers.py: keepalived and vigil side by
side in one QEMU guest (TCG, one vCPU), where keepalived's checker has the
IPVS it insists on.

An overlay (qemu/run --overlay) brings the configs, the listener
(tcp_sink, static), the vigil binary under test (the image's /init may be an
older build) and bench.sh, which runs each daemon with `-C` in turn from the
guest's shell, samples /proc around a window and prints marked lines; the
figures are computed here. PID 1 runs a config without virtual servers, so
its own checker child stays idle. keepalived has no check counter: its
checks per second are the connections the listener accepted per second.
"""
import os, re, shutil, subprocess, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from guest_console import Console, enter_shell
PORT = 18080

BENCH_SH = r'''#!/bin/sh
# bench.sh IMPL N WINDOW SETTLE: one daemon, one size; prints @@-marked samples.
impl=$1 n=$2 window=$3 settle=$4
ulimit -n 65536
ipvsadm -C
rm -f /tmp/acc /tmp/c.pid /tmp/p.pid
/bench/tcp_sink PORT /tmp/acc >/tmp/sink.log 2>&1 &
sink=$!
if [ "$impl" = keepalived ]; then
    keepalived -n -l -C -f /bench/k$n.conf -p /tmp/p.pid -c /tmp/c.pid >/tmp/d.log 2>&1 &
else
    /bench/vigil -n -l -D -G -C -m --watchdog-interval=1000 -f /bench/k$n.conf -p /tmp/p.pid \
        -r /tmp/r.pid -c /tmp/c.pid --control /tmp/v.sock >/tmp/d.log 2>&1 &
fi
daemon=$!
i=0
while [ ! -s /tmp/c.pid ] && [ $i -lt 120 ]; do sleep 0.5; i=$((i + 1)); done
pid=$(cat /tmp/c.pid 2>/dev/null)
sample() {
    if [ "$impl" = vigil ]; then
        echo "@@J $1 $(/bench/vigil status --json --control /tmp/v.sock)"
        echo "@@F $1 $(grep 'TCP_CHECK ' /tmp/d.log | grep -vc 'real server')"
    fi
    echo "@@T $1 $(cat /proc/uptime) | $(cat /proc/$pid/stat) | $(grep VmRSS /proc/$pid/status) $(grep VmHWM /proc/$pid/status) | $(cat /tmp/acc)"
    echo "@@W $1 $(switches $(cat /tmp/p.pid 2>/dev/null)) $(switches $pid)"
}
# Wake-ups so far of every thread of process $1: its context switches.
switches() {
    cat /proc/$1/task/*/status 2>/dev/null | awk '/_ctxt_switches/ { n += $2 } END { print n + 0 }'
}
if [ -n "$pid" ] && [ -d /proc/$pid ]; then
    sleep $settle
    sample 0
    sleep $window
    sample 1
else
    echo "@@X no checker child"; tail -n 20 /tmp/d.log
fi
kill -TERM $daemon
i=0
while kill -0 $daemon 2>/dev/null && [ $i -lt 60 ]; do sleep 0.5; i=$((i + 1)); done
kill -KILL $daemon 2>/dev/null
kill -KILL $sink
wait
ipvsadm -C
echo "@@DONE $impl $n"
'''


def parse_t(line):
    up, stat, mem, acc = line.split(" | ")
    fields = stat.rsplit(")", 1)[1].split()
    kb = [int(x) for x in re.findall(r"(\d+) kB", mem)]
    n, _t = acc.split()
    return {"up": float(up.split()[0]), "ticks": int(fields[11]) + int(fields[12]),
            "rss": kb[0] if kb else None, "hwm": kb[1] if len(kb) > 1 else None, "acc": int(n)}


def checker_status(js):
    import json
    s = json.loads(js)
    for c in s.get("children", []):
        if c.get("role") == "check":
            return c
    return None


def measure(binary, ns, window, settle, sink_bin, tmp_root, make_config, mem_mb=1024):
    ov = tempfile.mkdtemp(prefix="overlay-", dir=tmp_root)
    os.makedirs(os.path.join(ov, "bench"))
    os.makedirs(os.path.join(ov, "etc/keepalived"))
    with open(os.path.join(ov, "etc/keepalived/keepalived.conf"), "w") as f:
        f.write("global_defs {\n    router_id lvs_bench_guest\n}\n")
    for n in ns:
        with open(os.path.join(ov, f"bench/k{n}.conf"), "w") as f:
            f.write(make_config(n, PORT))
    with open(os.path.join(ov, "bench/bench.sh"), "w") as f:
        f.write(BENCH_SH.replace("PORT", str(PORT)))
    shutil.copy(sink_bin, os.path.join(ov, "bench/tcp_sink"))
    shutil.copy(binary, os.path.join(ov, "bench/vigil"))
    per_run = settle + window + 60
    total = 300 + len(ns) * 2 * per_run
    # The image gives the kernel, keepalived and ipvsadm; vigil comes in the
    # overlay. VIGIL_IMAGE_OUT names another image, as for image/build.
    image = os.environ.get("VIGIL_IMAGE_OUT")
    # keepalived is not in the appliance image; image/build leaves it in an overlay.
    kad = os.path.join(image or os.path.join(ROOT, "target/image"), "keepalived")
    con = Console([os.path.join(ROOT, "qemu/run"), "--name", "lvsbench", "--mem", str(mem_mb),
                   "--pace", "0", "--timeout", str(int(total)), "--overlay", kad, "--overlay", ov]
                  + (["--image", image] if image else []))
    rows = []
    powered_off = False
    try:
        enter_shell(con)
        for n in ns:
            for impl in ("keepalived", "vigil"):
                print(f"guest: {impl}, {n} real servers ...", flush=True)
                start = len(con.buf)
                con.send(f"sh /bench/bench.sh {impl} {n} {int(window)} {int(settle)}")
                con.read_until(f"@@DONE {impl} {n}", per_run + 120)
                out = con.buf[start:]
                try:
                    rows.append(figures(impl, n, out))
                except (ValueError, IndexError, KeyError) as e:
                    print(f"guest: {impl} {n}: unreadable samples ({e}); console:\n{out[-3000:]}")
                if rows and rows[-1]:
                    print(rows[-1], flush=True)
        con.send("exit")
        con.read_until(r"vigil> ", 30)
        con.send("poweroff")
        powered_off = True
    finally:
        # After a failure there is no poweroff to wait for: qemu/run is stopped.
        con.close(wait=90 if powered_off else 0)
        shutil.rmtree(ov, ignore_errors=True)
    return [r for r in rows if r]


def figures(impl, n, out):
    t = {}
    j = {}
    fails = {}
    wake = {}
    for line in out.splitlines():
        m = re.search(r"@@T (\d) (.*)$", line)
        if m:
            t[m.group(1)] = parse_t(m.group(2).strip())
        m = re.search(r"@@J (\d) (\{.*\})\s*$", line)
        if m:
            j[m.group(1)] = checker_status(m.group(2))
        m = re.search(r"@@W (\d) (\d+) (\d+)", line)
        if m:
            wake[m.group(1)] = (int(m.group(2)), int(m.group(3)))
        m = re.search(r"@@F (\d) (\d+)", line)
        if m:
            fails[m.group(1)] = int(m.group(2))
    if "@@X" in out or len(t) < 2:
        print(f"guest: {impl} {n}: no figures; console:\n{out[-2000:]}")
        return None
    t0, t1 = t["0"], t["1"]
    dt = t1["up"] - t0["up"]
    row = {"where": "guest (TCG)", "impl": impl, "n": n, "cpu": 100.0 * (t1["ticks"] - t0["ticks"]) / 100 / dt,
           "rss": t1["rss"], "hwm": t1["hwm"], "sink_cpu": None, "allocs": None}
    accepted = (t1["acc"] - t0["acc"]) / dt
    if wake.get("0") and wake.get("1"):
        row["wake_parent"] = (wake["1"][0] - wake["0"][0]) / dt
        row["wake_check"] = (wake["1"][1] - wake["0"][1]) / dt
    if impl == "vigil" and j.get("0") and j.get("1"):
        c0, c1 = j["0"], j["1"]
        checks = c1["checks_run"] - c0["checks_run"]
        # checks_run is as of each status's last hello answer.
        span = dt - c1["last_answer_ms"] / 1000.0 + c0["last_answer_ms"] / 1000.0
        row["rate"] = checks / span if span > 0 else 0.0
        steady = lambda c: c["mem"]["allocs"] - c["mem"].get("on_request", 0)
        row["allocs"] = (steady(c1) - steady(c0)) / checks if checks else None
        row["ok"] = 1.0 - (fails.get("1", 0) - fails.get("0", 0)) / checks if checks else 0.0
    else:
        # keepalived counts nothing we can read: every check is a connection.
        row["rate"] = accepted
        row["ok"] = None
    return row
