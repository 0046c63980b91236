"""The serial console of a guest booted by qemu/run, for the benchmarks: start it, wait for a
pattern, send a line, close it (qemu/run's own trap kills qemu and removes its namespace)."""

import os, re, select, subprocess, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Console:
    def __init__(self, cmd):
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, cwd=ROOT)
        self.buf = ""

    def read_until(self, pattern, timeout):
        rx = re.compile(pattern)
        end = time.time() + timeout
        while True:
            m = rx.search(self.buf)
            if m:
                return m
            left = end - time.time()
            if left <= 0:
                raise TimeoutError(f"no {pattern!r} within {timeout}s; console tail:\n{self.buf[-3000:]}")
            r, _, _ = select.select([self.p.stdout], [], [], min(left, 0.5))
            if r:
                chunk = os.read(self.p.stdout.fileno(), 65536)
                if not chunk:
                    raise EOFError(self.buf[-3000:])
                self.buf += chunk.decode(errors="replace")

    def send(self, line):
        self.p.stdin.write((line + "\n").encode())
        self.p.stdin.flush()

    def close(self, wait=60):
        try:
            self.p.stdin.close()
        except Exception:
            pass
        try:
            self.p.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            self.p.terminate()  # qemu/run kills qemu and removes its namespace
            try:
                self.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def enter_shell(con):
    """From the appliance console's prompt to a quiet busybox shell: `sh`, then
    echo markers until one comes back (the first lines may be eaten while the
    shell starts), then the kernel's console messages off."""
    con.read_until(r"vigil> ", 240)
    con.send("sh")
    con.read_until(r"starting a shell", 30)
    for k in range(20):
        con.send(f"printf '@@R%s@@\\n' {k}")
        try:
            con.read_until(f"@@R{k}@@", 3)
            break
        except TimeoutError:
            pass
    con.send("dmesg -n 1")
