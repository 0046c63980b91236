#!/usr/bin/env python3
"""Checker benchmark: N real servers with TCP_CHECK at delay_loop 1 s,
vigil and keepalived side by side on the host, in the same run.

Prints figures; asserts nothing about time. For each N it writes a
keepalived.conf with N real servers (distinct 127.x.y.z addresses, all
reaching one local listener, benches/tcp_sink.c) spread over a few virtual
servers (N = 0: one virtual server without real servers, the base line),
starts the daemon's checker (`vigil -n -C -m`, `keepalived -n -C`), lets the
checks spread out, then measures over a window:

  cpu%        the checker child's utime+stime / wall time (/proc/PID/stat)
  rss         its VmRSS at the end of the window (KiB); per RS: the rise
              over the same daemon's N = 0 row, divided by N
  checks/s    vigil: delta of `checks_run` in `vigil status --json`;
              keepalived counts nothing we can read: connections accepted
  ok          checks that succeeded (vigil: -D logs each failure)
  allocs      delta of vigil's mem.allocs / delta of checks_run
  syscalls    system calls per check: `strace -c -f -p CHECKER` for
              --strace seconds after the window, divided by the connections
              the listener accepted meanwhile (strace slows the daemon, so
              only the ratio counts); the busiest calls are listed too

The host kernel here has no IPVS. vigil's checker logs that once and checks
anyway. keepalived 2.2.7 refuses to start its checker without IPVS ("IPVS:
Can't initialize ipvs"), so it runs with benches/ipvs_shim.c preloaded, which
answers its IPVS socket options as an empty table would (no system call: the
checks' own calls are what strace sees). --guest also measures both in the
QEMU guest, with the real IPVS.

usage: benches/lvs_checkers.py [--n 0,1000,10000] [--window 20] [--settle 10]
                               [--strace 5] [--bin PATH] [--no-keepalived]
                               [--guest] [--guest-only] [--smoke]
--smoke: the smallest form, for the test suite (tests/check_cost.rs): N = 20,
short windows; exits non-zero when a daemon does not start or runs no checks.
"""
import argparse, json, os, re, resource, shutil, signal, socket, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")),
                   "x86_64-unknown-linux-musl/release/vigil")
VS_COUNT = 10
TICK = os.sysconf("SC_CLK_TCK")


def rs_addr(i):
    """The i-th real server: 127.A.B.C, B and C in 1..250."""
    return f"127.{20 + i // 62500}.{(i // 250) % 250 + 1}.{i % 250 + 1}"


def make_config(n, port, vs_count=VS_COUNT):
    out = ["global_defs {\n    router_id lvs_bench\n}\n"]
    per = (n + vs_count - 1) // vs_count
    i = 0
    for v in range(vs_count):
        # N = 0: one virtual server without real servers, so that both
        # checkers start (keepalived starts none without virtual servers).
        if i >= n and v > 0:
            break
        out.append(f"virtual_server 10.99.0.{v + 1} 80 {{\n    delay_loop 1\n    lb_algo rr\n"
                   "    lb_kind NAT\n    protocol TCP\n")
        for _ in range(min(per, n - i)):
            out.append(f"    real_server {rs_addr(i)} {port} {{\n"
                       "        TCP_CHECK {\n            connect_timeout 3\n        }\n    }\n")
            i += 1
        out.append("}\n")
    return "".join(out)


def build_c(dest, src, flags):
    for cc in (["musl-gcc"], ["cc"]):
        if shutil.which(cc[0]):
            subprocess.run(cc + ["-O2"] + flags + ["-o", dest, os.path.join(ROOT, src)],
                           check=True, timeout=120)
            return dest
    sys.exit(f"lvs_checkers: needs musl-gcc or cc to build {src}")


def build_sink(dest):
    return build_c(dest, "benches/tcp_sink.c", ["-static"])


def build_shim(dest):
    """keepalived's IPVS stand-in (glibc: keepalived is Debian's)."""
    if not shutil.which("cc"):
        return None
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", dest,
                    os.path.join(ROOT, "benches/ipvs_shim.c"), "-ldl"], check=True, timeout=120)
    return dest


def free_port():
    s = socket.socket()
    s.bind(("0.0.0.0", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def raise_nofile():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)


def switches(pid):
    """Wake-ups so far of every thread of `pid`: its context switches."""
    n = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{t}/status") as f:
            for line in f:
                if "_ctxt_switches" in line:
                    n += int(line.split()[1])
    return n


def proc_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def read_sink(path):
    try:
        with open(path) as f:
            n, t = f.read().split()
        return int(n), float(t)
    except (OSError, ValueError):
        return None


def stop(p, grace=10):
    if p is None or p.poll() is not None:
        return
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=10)


def read_pid(path, timeout=30, proc=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"daemon exited with {proc.returncode}; see the log")
        try:
            with open(path) as f:
                pid = int(f.read().split()[0])
            if os.path.isdir(f"/proc/{pid}"):
                return pid
        except (OSError, ValueError, IndexError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"no pid in {path} within {timeout}s")


class Vigil:
    name = "vigil"

    def __init__(self, binary, tmp, conf):
        self.bin, self.tmp = binary, tmp
        self.ctl = os.path.join(tmp, "ctl.sock")
        self.log = open(os.path.join(tmp, "vigil.log"), "wb")
        self.p = subprocess.Popen(
            [binary, "-n", "-l", "-D", "-G", "-C", "-m", "--watchdog-interval=1000", "-f", conf,
             "-p", os.path.join(tmp, "vigil.pid"), "-r", os.path.join(tmp, "vrrp.pid"),
             "-c", os.path.join(tmp, "checkers.pid"), "--control", self.ctl],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            preexec_fn=raise_nofile)

    def status(self):
        r = subprocess.run([self.bin, "status", "--json", "--control", self.ctl],
                           capture_output=True, timeout=10)
        if r.returncode != 0:
            return None
        s = json.loads(r.stdout)
        for c in s.get("children", []):
            if c.get("role") in ("check", "checker", "checkers") and c.get("pid"):
                return c
        return None

    def checker(self, timeout=30):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.p.poll() is not None:
                raise RuntimeError(f"vigil exited with {self.p.returncode}; see the log")
            c = self.status()
            if c and c.get("last_answer_ms") is not None:
                return c["pid"]
            time.sleep(0.2)
        raise TimeoutError("no checker child answering within %ss" % timeout)

    def fresh(self, prev_checks, timeout=10):
        """A status whose checks_run came from a newer hello than prev_checks."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            t = time.monotonic()
            c = self.status()
            if c and c["checks_run"] != prev_checks:
                return c, t - c["last_answer_ms"] / 1000.0
            time.sleep(0.1)
        raise TimeoutError("checks_run did not move within %ss" % timeout)

    def sample(self, prev=None, n=0):
        """(counters, time they were taken) for `figures`; N = 0 runs no
        checks: the latest status as it is."""
        if n == 0:
            return (self.status(), time.monotonic(), 0)
        c, t = self.fresh(prev[0]["checks_run"] if prev else -1)
        return (c, t, self.failures())

    def figures(self, s0, s1):
        if not s0 or not s1 or not s0[0] or not s1[0]:
            return {"rate": 0.0, "ok": None, "allocs": None}
        if s1[0]["checks_run"] == 0:
            return {"rate": 0.0, "ok": None, "allocs": None, "heap": s1[0]["mem"].get("live_bytes")}
        (c0, t0, f0), (c1, t1, f1) = s0, s1
        checks = c1["checks_run"] - c0["checks_run"]
        steady = lambda c: c["mem"]["allocs"] - c["mem"].get("on_request", 0)
        return {"rate": checks / (t1 - t0), "checks": checks,
                "ok": 1.0 - (f1 - f0) / checks if checks else 0.0,
                "allocs": (steady(c1) - steady(c0)) / checks if checks else None,
                "heap": c1["mem"].get("live_bytes")}

    def failures(self):
        """Failed checks so far: with -D each one is a debug line in the log."""
        self.log.flush()
        n = 0
        with open(self.log.name, "rb") as f:
            for line in f:
                if b"TCP_CHECK " in line and b"real server" not in line:
                    n += 1
        return n

    def close(self):
        stop(self.p)
        self.log.close()


class Keepalived:
    """Debian's keepalived, checker only, IPVS answered by the shim."""
    name = "keepalived"

    def __init__(self, shim, tmp, conf):
        self.tmp = tmp
        self.log = open(os.path.join(tmp, "keepalived.log"), "wb")
        env = dict(os.environ, LD_PRELOAD=shim)
        self.p = subprocess.Popen(
            ["keepalived", "-n", "-l", "-C", "-f", conf, "-p", os.path.join(tmp, "k.pid"),
             "-c", os.path.join(tmp, "kc.pid"), "-r", os.path.join(tmp, "kr.pid")],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            preexec_fn=raise_nofile, env=env)

    def checker(self, timeout=30):
        return read_pid(os.path.join(self.tmp, "kc.pid"), timeout, self.p)

    def sample(self, prev=None, n=0):
        return None

    def figures(self, s0, s1):
        # keepalived counts nothing we can read: every check is a connection.
        return {"rate": None, "ok": None, "allocs": None}

    def close(self):
        stop(self.p)
        self.log.close()


def strace_calls(pid, secs, count_file):
    """System calls of `pid` (all its threads) over `secs`: (total, {name:
    calls}, connections the listener accepted meanwhile)."""
    if not shutil.which("strace") or secs <= 0:
        return None
    out = tempfile.mktemp(prefix="strace-", suffix=".txt")
    st = subprocess.Popen(["strace", "-c", "-f", "-qq", "-o", out, "-p", str(pid)],
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)  # attached by now (its threads too)
    a0 = read_sink(count_file)
    time.sleep(secs)
    a1 = read_sink(count_file)
    st.send_signal(signal.SIGINT)
    try:
        st.wait(timeout=20)
    except subprocess.TimeoutExpired:
        st.kill()
        st.wait()
    # The listener writes its count every 200 ms: scale its rate to the window.
    accepted = (a1[0] - a0[0]) / (a1[1] - a0[1]) * (secs + 0.5) if a1[1] > a0[1] else 0.0
    calls, total = {}, None
    try:
        with open(out) as f:
            for line in f:
                cols = line.split()
                if len(cols) >= 5 and re.match(r"^[\d.]+$", cols[0]):
                    name = cols[-1]
                    n = int(cols[3])
                    if name == "total":
                        total = n
                    else:
                        calls[name] = n
        os.unlink(out)
    except OSError:
        return None
    return total, calls, accepted


def measure_host(kind, binary, n, window, settle, strace_secs, sink_bin, tmp_root, keep_log=None):
    tmp = tempfile.mkdtemp(prefix=f"{kind}-n{n}-", dir=tmp_root)
    port = free_port()
    conf = os.path.join(tmp, "keepalived.conf")
    with open(conf, "w") as f:
        f.write(make_config(n, port))
    count = os.path.join(tmp, "accepts")
    sink = subprocess.Popen([sink_bin, str(port), count], stdin=subprocess.DEVNULL,
                            preexec_fn=raise_nofile)
    d = None
    try:
        end = time.monotonic() + 10
        while read_sink(count) is None:
            if time.monotonic() > end or sink.poll() is not None:
                raise RuntimeError("tcp_sink did not start")
            time.sleep(0.05)
        d = Vigil(binary, tmp, conf) if kind == "vigil" else Keepalived(binary, tmp, conf)
        pid = d.checker()
        # Start-up takes keepalived a while at 10,000 (it activates each
        # checker with a log line): --settle counts from the first check.
        first = time.monotonic()
        end = first + 300
        while n > 0 and read_sink(count)[0] == 0 and time.monotonic() < end:
            if d.p.poll() is not None:
                raise RuntimeError(f"{d.name} exited with {d.p.returncode}")
            time.sleep(0.2)
        started = time.monotonic() - first
        time.sleep(settle)
        s0 = d.sample(n=n)
        cpu0, w0, a0 = cpu_ticks(pid), time.monotonic(), read_sink(count)
        wp0, wc0 = switches(d.p.pid), switches(pid)
        time.sleep(window)
        s1 = d.sample(s0, n=n)
        cpu1, w1, a1 = cpu_ticks(pid), time.monotonic(), read_sink(count)
        wp1, wc1 = switches(d.p.pid), switches(pid)
        row = {"where": "host", "impl": d.name, "n": n, "first_check": started,
               "cpu": 100.0 * (cpu1 - cpu0) / TICK / (w1 - w0),
               "rss": proc_kb(pid, "VmRSS"), "hwm": proc_kb(pid, "VmHWM"),
               "accepted": (a1[0] - a0[0]) / (a1[1] - a0[1]) if a1[1] > a0[1] else 0.0,
               "wake_parent": (wp1 - wp0) / (w1 - w0), "wake_check": (wc1 - wc0) / (w1 - w0)}
        row.update(d.figures(s0, s1))
        if row["rate"] is None:
            row["rate"] = row["accepted"]
        sc = strace_calls(pid, strace_secs, count) if n > 0 else None
        if sc:
            total, calls, accepted = sc
            row["syscalls"] = total / accepted if accepted and total is not None else None
            row["calls"] = {k: v / accepted for k, v in calls.items()} if accepted else {}
        if d.p.poll() is not None or not os.path.isdir(f"/proc/{pid}"):
            raise RuntimeError(f"{d.name} stopped during the measurement")
        return row
    except (OSError, RuntimeError, TimeoutError):
        # Say why: the daemon's last lines (a restarted child, a crash).
        if d:
            d.log.flush()
            with open(d.log.name, "rb") as f:
                tail = f.read()[-3000:].decode(errors="replace")
            print(f"{d.name} {n}: the checker went away; its log ends:\n{tail}", flush=True)
        raise
    finally:
        if d:
            d.close()
        stop(sink, grace=5)
        if keep_log:
            for f in os.listdir(tmp):
                if f.endswith(".log"):
                    shutil.copy(os.path.join(tmp, f), f"{keep_log}.{f[:-4]}.n{n}")
        shutil.rmtree(tmp, ignore_errors=True)


def per_rs(rows):
    """RSS per real server: the rise over the same daemon's N = 0 row."""
    base = {(r["where"], r["impl"]): r["rss"] for r in rows if r["n"] == 0 and r.get("rss")}
    for r in rows:
        b = base.get((r["where"], r["impl"]))
        if r["n"] > 0 and r.get("rss"):
            r["rss_per_rs"] = (r["rss"] - (b or 0)) / r["n"]
            r["per_rs_base"] = b is not None


def print_table(rows):
    per_rs(rows)
    print()
    print("| where | daemon | real servers | RSS KiB (peak) | KiB per RS | syscalls per check | checks/s | checker CPU % | checks ok | allocs/check | wake-ups/s parent, checker |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        allocs = "-" if r.get("allocs") is None else f"{r['allocs']:.2f}"
        rss = "-" if r.get("rss") is None else f"{r['rss']:,} ({r.get('hwm') or 0:,})"
        # Per real server only against the same daemon's N = 0 row.
        prs = "-" if r.get("rss_per_rs") is None or not r.get("per_rs_base") else f"{r['rss_per_rs']:.2f}"
        ok = "-" if r.get("ok") is None else f"{100 * r['ok']:.1f}%"
        sc = "-" if r.get("syscalls") is None else f"{r['syscalls']:.1f}"
        rate = "-" if r["n"] == 0 else f"{r['rate']:,.0f}" + (" (accepted)" if r["impl"] == "keepalived" else "")
        wake = "-" if r.get("wake_check") is None else f"{r['wake_parent']:.1f}, {r['wake_check']:,.0f}"
        print(f"| {r['where']} | {r['impl']} | {r['n']:,} | {rss} | {prs} | {sc} | "
              f"{rate} | {r['cpu']:.1f} | {ok} | {allocs} | {wake} |")
    heap = [r for r in rows if r.get("heap")]
    if heap:
        print()
        print("vigil's heap in use (its counting allocator, -m): " + ", ".join(
            f"{r['n']:,} RS {r['heap'] / 1024:,.0f} KiB" for r in heap))
    detail = [r for r in rows if r.get("calls")]
    if detail:
        print()
        print("System calls per check, the busiest (strace -c -f):")
        for r in detail:
            top = sorted(r["calls"].items(), key=lambda kv: -kv[1])[:8]
            print(f"  {r['impl']} {r['n']:,}: " + ", ".join(f"{k} {v:.2f}" for k, v in top))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", default="0,1000,10000", help="comma-separated real-server counts")
    ap.add_argument("--window", type=float, default=20, help="measurement window, s")
    ap.add_argument("--settle", type=float, default=10, help="wait after start before measuring, s")
    ap.add_argument("--strace", type=float, default=5, help="strace window after it, s (0: none)")
    ap.add_argument("--bin", default=BIN)
    ap.add_argument("--no-keepalived", action="store_true", help="vigil only")
    ap.add_argument("--only", choices=("vigil", "keepalived"), help="one daemon only")
    ap.add_argument("--guest", action="store_true", help="also measure vigil and keepalived in the QEMU guest")
    ap.add_argument("--guest-only", action="store_true")
    ap.add_argument("--keep-log", metavar="PATH", help="copy the daemons' logs to PATH.NAME.nN")
    ap.add_argument("--smoke", action="store_true",
                    help="the test suite's form: N = 20, short windows, fails when nothing is checked")
    a = ap.parse_args()
    if a.smoke:
        a.n, a.window, a.settle, a.strace = "20", 3, 2, (a.strace and 3)
    ns = [int(x) for x in a.n.split(",")]
    if not os.access(a.bin, os.X_OK):
        sys.exit(f"{a.bin}: build it first (cargo build --release --target x86_64-unknown-linux-musl)")
    tmp_root = tempfile.mkdtemp(prefix="vigil-lvs-bench-")
    rows = []
    try:
        sink_bin = build_sink(os.path.join(tmp_root, "tcp_sink"))
        shim = None
        if not a.no_keepalived and shutil.which("keepalived"):
            shim = build_shim(os.path.join(tmp_root, "ipvs_shim.so"))
        if not shim:
            print("lvs_checkers: no keepalived (or no cc for its IPVS shim): vigil only", flush=True)
        if not a.guest_only:
            for n in ns:
                for kind, binary in (("vigil", a.bin), ("keepalived", shim)):
                    if not binary or (a.only and a.only != kind):
                        continue
                    print(f"host: {kind}, {n} real servers ...", flush=True)
                    rows.append(measure_host(kind, binary, n, a.window, a.settle, a.strace,
                                             sink_bin, tmp_root, a.keep_log))
                    print_table(rows[-1:])
        if a.guest or a.guest_only:
            import lvs_guest
            rows += lvs_guest.measure(a.bin, [n for n in ns if n > 0], a.window, a.settle,
                                      sink_bin, tmp_root, make_config)
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    print_table(rows)
    print(f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
          f"kernel {os.uname().release}")
    if a.smoke:
        # For tests/check_cost.rs: one line per row it reads.
        for r in rows:
            if r["n"] > 0:
                sc = "-" if r.get("syscalls") is None else f"{r['syscalls']:.2f}"
                print(f"@@ROW {r['impl']} {r['n']} {r['rate']:.1f} {sc}")
        # Functional only: each daemon started and checked; no figure is
        # held against the clock.
        bad = [r for r in rows if r["n"] > 0 and not (r["rate"] > 0)]
        bad += [r for r in rows if r["impl"] == "vigil" and r["n"] > 0 and r.get("ok") != 1.0]
        if bad:
            sys.exit(f"lvs_checkers --smoke: no checks, or failed ones: {bad}")


if __name__ == "__main__":
    main()
