#!/usr/bin/env python3
"""gcwatch benchmarks: every row side by side in one run, one Markdown table.

Run through bench/run, which builds the release binary and installs the
comparison tools. Python 3.11 standard library only.
"""

import argparse
import datetime
import os
import queue
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
GCWATCH = os.path.join(TARGET, "release", "gcwatch")
CLK_TCK = os.sysconf("SC_CLK_TCK")
ROW_LABELS = {
    "package": "1. cold package",
    "hash": "2. cold hash only",
    "unchanged": "3. touch → unchanged",
    "latency": "4. save → build received",
    "idle": "5. idle watch",
    "many": "6. many functions",
    "big": "7. big function RSS",
}
ROW_NAMES = list(ROW_LABELS)


class RowError(Exception):
    """A step of a row went wrong: the row is reported as errored."""


class Skip(Exception):
    """A row cannot run here (a tool is missing): reported, not an error."""


# --------------------------------------------------------------------------
# Processes


LIVE = []  # every process started by spawn(), stopped at the end whatever happens


class Proc:
    """A child process whose stdout and stderr lines are read by two threads
    and kept with the wall-clock time they arrived."""

    def __init__(self, argv, cwd=None, env=None, name=""):
        self.name = name or os.path.basename(argv[0])
        self.argv = argv
        self.p = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.started = time.time()
        self.out = queue.Queue()
        self.err = queue.Queue()
        self.errors_seen = 0
        self.out_all = []
        self.err_all = []
        self.threads = [
            threading.Thread(target=self._read, args=(self.p.stdout, self.out, self.out_all), daemon=True),
            threading.Thread(target=self._read, args=(self.p.stderr, self.err, self.err_all), daemon=True),
        ]
        for t in self.threads:
            t.start()
        LIVE.append(self)

    @property
    def pid(self):
        return self.p.pid

    def _read(self, stream, q, keep):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            keep.append(line)
            q.put((time.time(), line))
        stream.close()

    def next_line(self, q, pred, timeout, what):
        """The first line of q (after those already taken) for which pred is true."""
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise RowError(f"{self.name}: no {what} within {timeout:.0f} s{self.tail()}")
            try:
                t, line = q.get(timeout=min(left, 0.5))
            except queue.Empty:
                if self.p.poll() is not None and q.empty():
                    raise RowError(f"{self.name} exited ({self.p.returncode}) before {what}{self.tail()}")
                continue
            r = pred(t, line)
            if r:
                return r

    def event(self, name, timeout, pred=None):
        """The next JSON event line `name` on stdout (matching pred), as a dict with `_t`."""

        def match(t, line):
            try:
                ev = json.loads(line)
            except ValueError:
                return None
            if not isinstance(ev, dict):
                return None
            if ev.get("event") == "error":
                self.errors_seen += 1
                if self.errors_seen <= 3:
                    print(f"    [{self.name}] {line}", file=sys.stderr)
                elif self.errors_seen == 4:
                    print(f"    [{self.name}] (more error events not shown)", file=sys.stderr)
            ev["_t"] = t
            if ev.get("event") == name and (pred is None or pred(ev)):
                return ev
            return None

        return self.next_line(self.out, match, timeout, f"'{name}' event")

    def drain(self, quiet_for, limit):
        """Collect stdout events until nothing came for quiet_for seconds (at most limit)."""
        evs = []
        end = time.time() + limit
        last = time.time()
        while time.time() < end and time.time() - last < quiet_for:
            try:
                t, line = self.out.get(timeout=0.2)
            except queue.Empty:
                continue
            last = t
            try:
                ev = json.loads(line)
                ev["_t"] = t
                evs.append(ev)
            except ValueError:
                pass
        return evs

    def tail(self, n=15):
        out = "\n".join("      out| " + l for l in self.out_all[-n:])
        err = "\n".join("      err| " + l for l in self.err_all[-n:])
        return ("\n" + out if out else "") + ("\n" + err if err else "")

    def stop(self, timeout=10):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.p.wait()
        else:
            # The leader is gone; children of its group (sh, zip, curl) may not be.
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for t in self.threads:
            t.join(timeout=5)
        if self in LIVE:
            LIVE.remove(self)


def stop_all():
    for p in list(LIVE):
        p.stop()


def run(argv, cwd=None, env=None, timeout=3600, check=True, shell=False):
    """Runs a command to its end; returns (wall seconds, stdout, stderr)."""
    t0 = time.perf_counter()
    r = subprocess.run(
        argv, cwd=cwd, env=env, shell=shell, timeout=timeout,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    wall = time.perf_counter() - t0
    out = r.stdout.decode("utf-8", "replace")
    err = r.stderr.decode("utf-8", "replace")
    if check and r.returncode != 0:
        raise RowError(f"{argv if not shell else argv!s} exited {r.returncode}\n      out| {out[-1500:]}\n      err| {err[-1500:]}")
    return wall, out, err


def run_rusage(argv, cwd=None, env=None, timeout=3600):
    """Runs a command; returns (exit code, max RSS in bytes, output).

    wait4's ru_maxrss would count the forked Python before exec, so the peak is
    taken from GNU time where it is installed, else from VmHWM polled every 5 ms."""
    gnu_time = "/usr/bin/time"
    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile(prefix="time-", dir=(env or {}).get("TMPDIR")) as tf:
        use_time = os.access(gnu_time, os.X_OK)
        full = [gnu_time, "-v", "-o", tf.name, *argv] if use_time else argv
        p = subprocess.Popen(full, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        hwm = 0
        while p.poll() is None:
            if not use_time:
                try:
                    hwm = max(hwm, proc_status(p.pid, "VmHWM"))
                except (OSError, ValueError):
                    pass
            if time.time() > deadline:
                p.kill()
                p.wait()
                break
            time.sleep(0.005)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
        if use_time:
            for line in open(tf.name):
                if "Maximum resident set size" in line:
                    hwm = int(line.rsplit(":", 1)[1]) * 1024
    return p.returncode, hwm, text


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


# --------------------------------------------------------------------------
# Inputs


def crate_sources():
    """The crate folders of the cargo registry (every registry index)."""
    home = os.environ.get("CARGO_HOME") or os.path.expanduser("~/.cargo")
    base = os.path.join(home, "registry", "src")
    dirs = []
    if os.path.isdir(base):
        for index in sorted(os.listdir(base)):
            d = os.path.join(base, index)
            if os.path.isdir(d):
                dirs += [os.path.join(d, c) for c in sorted(os.listdir(d))]
    if not dirs:
        raise RowError(f"no crate sources under {base}: build something with cargo first")
    return dirs


def regular_files(top):
    """Relative paths of the regular files under top (links not followed), sorted."""
    out = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        for n in sorted(filenames):
            p = os.path.join(dirpath, n)
            if os.path.isfile(p) and not os.path.islink(p):
                out.append(os.path.relpath(p, top))
    return out


_CRATE_FILES = None


def crate_files():
    """(crate folder, relative path) of every regular file of the crate sources."""
    global _CRATE_FILES
    if _CRATE_FILES is None:
        _CRATE_FILES = []
        for c in crate_sources():
            for rel in regular_files(c):
                _CRATE_FILES.append((c, os.path.join(os.path.basename(c), rel)))
    return _CRATE_FILES


def root_file(dest):
    """The emulator refuses a zip with no file at its root, as GreenCloud does."""
    os.makedirs(dest, exist_ok=True)
    with open(os.path.join(dest, "index.js"), "w") as f:
        f.write("module.exports = () => 'hi';\n")


def copy_crates(dest, limit=None):
    """Copies the crate sources (or their first `limit` files) into dest."""
    root_file(dest)
    files = crate_files()
    if limit is not None:
        files = files[:limit]
    for c, rel in files:
        dst = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(os.path.join(os.path.dirname(c), rel), dst)
    return len(files)


def spread_crates(dest, total, folders):
    """`total` files copied from the crate sources (round after round, each
    round under its own `cN/` subfolder), cut into `folders` runs of
    consecutive files, one per folder dest/f000.../ (so each folder holds
    whole crates, not a skeleton of every crate); returns the folder names."""
    files = crate_files()
    names = [f"f{i:03d}" for i in range(folders)]
    for n in names:
        root_file(os.path.join(dest, n))
    for i in range(total):
        c, rel = files[i % len(files)]
        dst = os.path.join(dest, names[i * folders // total], f"c{i // len(files)}", rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(os.path.join(os.path.dirname(c), rel), dst)
    return names


def fid(n):
    return f"{0x66787c5e84809f8a29d00000 + n:024x}"


def project(path, functions, url="http://127.0.0.1:9/v1", debounce_ms=100, max_files=1_000_000,
            max_zip_mb=100, poll_interval_ms=100):
    """Writes greencloud.toml in path for [(name, function folder)]; returns the config path."""
    os.makedirs(path, exist_ok=True)
    lines = [
        "[api]",
        f'url = "{url}"',
        f"poll_interval_ms = {poll_interval_ms}",
        "",
        "[watch]",
        f"debounce_ms = {debounce_ms}",
        f"max_wait_ms = {max(5000, debounce_ms)}",
        # The comparison tools ship every file; so does gcwatch here.
        "ignore_files = []",
        f"max_files = {max_files}",
        f"max_zip_mb = {max_zip_mb}",
        "",
    ]
    for i, (name, folder) in enumerate(functions):
        lines += ["[[functions]]", f'name = "{name}"', f'path = "{os.path.abspath(folder)}"', f'id = "{fid(i)}"', ""]
    cfg = os.path.join(path, "greencloud.toml")
    with open(cfg, "w") as f:
        f.write("\n".join(lines))
    return cfg


def clear_state(cfg):
    shutil.rmtree(os.path.join(os.path.dirname(cfg), ".gcwatch"), ignore_errors=True)


def gc(cfg, *args):
    return [GCWATCH, "--config", cfg, "--color", "never", "--log-format", "json", *args]


# --------------------------------------------------------------------------
# Results


def med(xs):
    return statistics.median(xs) if xs else None


class Bench:
    def __init__(self, args):
        self.args = args
        self.tiny = args.tiny
        self.work = args.work
        self.rows = []  # (row, gcwatch, comparison, ratio, target, met)
        self.errors = 0
        self.env = dict(os.environ)
        self.env["TMPDIR"] = os.path.join(self.work, "tmp")
        self.env["NO_COLOR"] = "1"
        self.env["GREENCLOUD_TOKEN"] = "x"
        self.env.pop("RUST_LOG", None)
        self.env.pop("GREENCLOUD_API_KEY", None)
        os.makedirs(self.env["TMPDIR"], exist_ok=True)
        self.repeats = args.repeats or (2 if self.tiny else 7)
        self._crates = None

    def d(self, *parts):
        p = os.path.join(self.work, *parts)
        os.makedirs(p, exist_ok=True)
        return p

    def add(self, row, gc_val, cmp_val="—", ratio=None, target="", met=None):
        r = "—" if ratio is None else f"{ratio:.2f}×"
        m = "" if met is None else ("✓" if met else "✗")
        self.rows.append((row, gc_val, cmp_val, r, target, m))
        print(f"  → {row}: {gc_val} | {cmp_val} | {r} | {target} | {m}", flush=True)

    def have(self, tool):
        return shutil.which(tool, path=self.env.get("PATH")) is not None

    def crates(self):
        """One function folder holding the crate sources (a slice of them when tiny)."""
        if self._crates is None:
            dest = self.d("inputs", "crates")
            n = copy_crates(dest, 1000 if self.tiny else None)
            self._crates = (dest, n)
            print(f"  crate tree: {n} files", flush=True)
        return self._crates

    def serve(self, *extra):
        data = self.d("serve-" + str(len(os.listdir(self.work))))
        p = Proc([GCWATCH, "--color", "never", "--log-format", "json", "-vv", "serve",
                  "--addr", "127.0.0.1:0", "--data", data, *extra], env=self.env, name="serve")
        ev = p.event("listening", 30)
        return p, ev["url"]

    # ---------------------------------------------------------------- rows

    def row_package(self):
        fn, nfiles = self.crates()
        cfg = project(self.d("p-package"), [("crates", fn)], max_zip_mb=4000)
        out_zip = os.path.join(self.work, "tmp", "zip-r.zip")
        gt, zt, gbytes, zbytes = [], [], [], []

        def zip_once():
            if os.path.exists(out_zip):
                os.remove(out_zip)
            w, _, _ = run(["zip", "-r", "-X", "-q", out_zip, "."], cwd=fn, env=self.env)
            return w, os.path.getsize(out_zip)

        def gc_once():
            clear_state(cfg)
            w, out, _ = run(gc(cfg, "package", "crates"), env=self.env)
            ev = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
            ev = [e for e in ev if e.get("event") == "packaged"]
            if not ev:
                raise RowError(f"no packaged event in: {out[-500:]}")
            return w, ev[-1]["bytes"]

        if not self.have("zip"):
            raise Skip("zip missing")
        zip_once(), gc_once()  # warm the page cache for both
        for _ in range(self.repeats):
            w, b = gc_once()
            gt.append(w), gbytes.append(b)
            w, b = zip_once()
            zt.append(w), zbytes.append(b)
        ratio = med(gt) / med(zt)
        self.add(f"1. cold package, {nfiles} files: time", f"{med(gt)*1000:.0f} ms",
                 f"{med(zt)*1000:.0f} ms (zip -r -X)", ratio, "≤ 0.33×", ratio <= 1 / 3)
        sr = med(gbytes) / med(zbytes)
        self.add(f"1. cold package, {nfiles} files: size", f"{med(gbytes)/1e6:.1f} MB",
                 f"{med(zbytes)/1e6:.1f} MB (zip -r -X)", sr, "≤ 1.05×", sr <= 1.05)

    def row_hash(self):
        fn, nfiles = self.crates()
        cfg = project(self.d("p-hash"), [("crates", fn)], max_zip_mb=4000)
        _, helptext, _ = run([GCWATCH, "package", "--help"], env=self.env)
        if "--hash-only" not in helptext:
            raise Skip("--hash-only not in this binary")
        if not self.have("b3sum"):
            raise Skip("b3sum missing")
        pipeline = "find . -type f -print0 | sort -z | xargs -0 b3sum > /dev/null"
        gt, bt = [], []

        def gc_once():
            clear_state(cfg)
            w, out, _ = run(gc(cfg, "package", "crates", "--hash-only"), env=self.env)
            if not any(len(tok) == 64 for tok in out.replace('"', " ").split()):
                raise RowError(f"--hash-only printed no hash: {out[-300:]}")
            return w

        gc_once(), run(pipeline, cwd=fn, env=self.env, shell=True)
        for _ in range(self.repeats):
            gt.append(gc_once())
            bt.append(run(pipeline, cwd=fn, env=self.env, shell=True)[0])
        ratio = med(gt) / med(bt)
        self.add(f"2. cold hash only, {nfiles} files", f"{med(gt)*1000:.0f} ms",
                 f"{med(bt)*1000:.0f} ms (find|sort|b3sum)", ratio, "≤ 1.2×", ratio <= 1.2)

    def row_unchanged(self):
        sizes = [200, 1000] if self.tiny else [1000, 10000, 100000]
        saves = 4 if self.tiny else max(10, self.repeats)
        for size in sizes:
            fn = self.d("inputs", f"tree-{size}")
            if size <= len(crate_files()):
                n = copy_crates(fn, size - 1)
            else:
                spread_crates(fn, size - 2, 1)  # + index.js in f000/ and at the root
                root_file(fn)
                n = size
            files = [os.path.join(fn, r) for r in regular_files(fn)]
            rnd = random.Random(size)
            # `unchanged` is relative to the last submitted hash: record one first.
            serve, url = self.serve("--max-upload-mb", "100000", "--build-delay-ms", "10")
            w = None
            try:
                cfg = project(self.d(f"p-unchanged-{size}"), [("tree", fn)], url=url, debounce_ms=50,
                              max_zip_mb=100000)
                # The emulator fails a build whose zip unpacks to over 1 GiB (the
                # 100k tree); the hash is recorded once it is submitted, which is
                # all this row needs.
                _, out, _ = run(gc(cfg, "build"), env=self.env, timeout=3600, check=False)
                if '"submitted"' not in out:
                    raise RowError(f"gcwatch build submitted nothing:\n{out[-1500:]}")
                w = Proc(gc(cfg, "watch", "--no-initial-build"), env=self.env, name="watch")
                w.event("ready", 600)
                time.sleep(1)
                ms = []
                for i in range(saves):
                    t0 = time.time()
                    path = rnd.choice(files)
                    if i % 2 == 0:
                        os.utime(path)  # touched
                    else:
                        with open(path, "rb") as f:
                            data = f.read()
                        with open(path, "wb") as f:  # rewritten with the same bytes
                            f.write(data)
                    ev = w.event("unchanged", 60, lambda e: e["_t"] >= t0)
                    ms.append(ev["ms"])
                    time.sleep(0.2)
            finally:
                if w:
                    w.stop()
                serve.stop()
            m = med(ms)
            self.add(f"3. touch / same-bytes rewrite → unchanged, {len(files)} files", f"{m:g} ms (worst {max(ms)})",
                     "—", None, "≤ 5 ms", m <= 5)

    def node_function(self):
        dest = self.d("inputs", "node")
        fn = os.path.join(dest, "fn")
        if os.path.isdir(fn):
            return fn
        os.makedirs(fn)
        with open(os.path.join(fn, "index.js"), "w") as f:
            f.write("const express = require('express');\nmodule.exports = (req, res) => res.send('hi');\n")
        if self.tiny:
            # No network in the tiny run: a small stand-in for node_modules.
            with open(os.path.join(fn, "package.json"), "w") as f:
                f.write('{"name": "fn", "version": "1.0.0"}\n')
            n = copy_crates(os.path.join(fn, "node_modules"), 300)
            print(f"  node function: stand-in with {n} files", flush=True)
        else:
            run(["npm", "init", "-y"], cwd=fn, env=self.env)
            run(["npm", "install", "--no-audit", "--no-fund", "express", "lodash", "moment", "axios"],
                cwd=fn, env=self.env, timeout=900)
            print(f"  node function: {len(regular_files(fn))} files after npm install", flush=True)
        return fn

    def row_latency(self):
        src = self.node_function()
        saves = 3 if self.tiny else 20
        debounce = 100
        serve, url = self.serve("--build-delay-ms", "50")
        results = {}
        try:
            def accepted_after(t0, function_id):
                def pred(_t, line):
                    if "build accepted" not in line or function_id not in line:
                        return None
                    stamp = line.split()[0]
                    ts = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
                    return ts if ts >= t0 else None
                return serve.next_line(serve.err, pred, 30, "'build accepted' line")

            def save(fn, i):
                path = os.path.join(fn, "index.js")
                body = f"const express = require('express');\n// save {i}\nmodule.exports = (req, res) => res.send('hi {i}');\n"
                t0 = time.time()
                with open(path, "w") as f:
                    f.write(body)
                return t0

            # gcwatch
            fn = os.path.join(self.work, "inputs", "node", "fn-gcwatch")
            shutil.copytree(src, fn, symlinks=True)
            cfg = project(self.d("p-latency"), [("node", fn)], url=url, debounce_ms=debounce, max_files=1_000_000)
            w = Proc(gc(cfg, "watch", "--no-initial-build"), env=self.env, name="watch")
            try:
                w.event("ready", 120)
                time.sleep(0.5)
                lat = []
                for i in range(saves):
                    t0 = save(fn, i)
                    ts = accepted_after(t0, fid(0))
                    lat.append((ts - t0) * 1000)
                    w.event("status", 60, lambda e: e.get("to") in ("SUCCESS", "FAILED"))
                    time.sleep(0.3)
            finally:
                w.stop()
            results["gcwatch"] = lat

            # watchexec loop
            if not self.have("watchexec"):
                results["watchexec"] = None
            else:
                fn2 = os.path.join(self.work, "inputs", "node", "fn-watchexec")
                shutil.copytree(src, fn2, symlinks=True)
                cmd = (f"cd {fn2} && zip -qrX - . | curl -s --data-binary @- -H \"Content-Type: application/octet-stream\" "
                       f"-H \"Authorization: Bearer x\" {url}/build/{fid(1)}?arch=amd64")
                x = Proc(["watchexec", "--shell=none", "--debounce", f"{debounce}ms", "-w", fn2, "--", "sh", "-c", cmd],
                         env=self.env, name="watchexec")
                try:
                    accepted_after(0, fid(1))  # watchexec runs the command once at start
                    time.sleep(1.0)
                    lat = []
                    for i in range(saves):
                        t0 = save(fn2, i)
                        ts = accepted_after(t0, fid(1))
                        lat.append((ts - t0) * 1000)
                        time.sleep(1.0)
                finally:
                    x.stop()
                results["watchexec"] = lat
        finally:
            serve.stop()
        g = results["gcwatch"]
        x = results["watchexec"]
        gm = med(g)
        n = len(regular_files(src))
        label = f"4. save → build received, node fn {n} files, debounce {debounce} ms"
        if x is None:
            self.add(label, f"{gm:.0f} ms (worst {max(g):.0f})", "skipped (watchexec missing)", None,
                     f"≤ {debounce + 20} ms", gm <= debounce + 20)
        else:
            xm = med(x)
            ratio = gm / xm
            self.add(label, f"{gm:.0f} ms (worst {max(g):.0f})", f"{xm:.0f} ms (worst {max(x):.0f}) (watchexec+zip+curl)",
                     ratio, f"≤ {debounce + 20} ms and ≤ 0.5×", gm <= debounce + 20 and ratio <= 0.5)

    def row_idle(self):
        fn, nfiles = self.crates()
        cfg = project(self.d("p-idle"), [("crates", fn)], max_zip_mb=4000)
        window = 5 if self.tiny else 60
        w = Proc(gc(cfg, "watch", "--no-initial-build", "--local"), env=self.env, name="watch")
        try:
            w.event("ready", 300)
            time.sleep(2)
            c0 = proc_cpu_seconds(w.pid)
            time.sleep(window)
            c1 = proc_cpu_seconds(w.pid)
            rss = proc_status(w.pid, "VmRSS")
        finally:
            w.stop()
        cpu_ms = (c1 - c0) * 1000
        self.add(f"5. idle {window} s watching {nfiles} files: CPU", f"{cpu_ms:.0f} ms", "—", None, "≤ 20 ms", cpu_ms <= 20)
        self.add(f"5. idle {window} s watching {nfiles} files: RSS", f"{rss/2**20:.1f} MB", "—", None, "≤ 40 MB",
                 rss <= 40 * 2**20)

    def row_many(self):
        nfun, total, changed = (10, 2000, 3) if self.tiny else (200, 100000, 20)
        top = self.d("inputs", "many")
        names = spread_crates(top, total, nfun)
        cfg = project(self.d("p-many"), [(n, os.path.join(top, n)) for n in names], debounce_ms=100,
                      max_zip_mb=4000)
        # Time to ready with a fresh state, against the b3sum pipeline on the same files.
        pipeline = "find . -type f -print0 | sort -z | xargs -0 b3sum > /dev/null"
        have_b3 = self.have("b3sum")
        rt, bt, hwm = [], [], []
        reps = 1 if self.tiny else 3
        if have_b3:
            run(pipeline, cwd=top, env=self.env, shell=True)  # warm the page cache
        for _ in range(reps):
            clear_state(cfg)
            w = Proc(gc(cfg, "watch", "--no-initial-build", "--local"), env=self.env, name="watch")
            try:
                t0 = w.started
                ev = w.event("ready", 900)
                rt.append(ev["_t"] - t0)
                hwm.append(proc_status(w.pid, "VmHWM"))
            finally:
                w.stop()
            if have_b3:
                bt.append(run(pipeline, cwd=top, env=self.env, shell=True)[0])
        label = f"6. {nfun} functions, {total} files: fresh start → ready"
        if have_b3:
            ratio = med(rt) / med(bt)
            self.add(label, f"{med(rt)*1000:.0f} ms", f"{med(bt)*1000:.0f} ms (find|sort|b3sum)", ratio, "≤ 2×", ratio <= 2)
        else:
            self.add(label, f"{med(rt)*1000:.0f} ms", "skipped (b3sum missing)", None, "≤ 2×", None)
        self.add(f"6. {nfun} functions, {total} files: RSS at ready", f"{max(hwm)/2**20:.1f} MB", "—", None,
                 "≤ 150 MB", max(hwm) <= 150 * 2**20)

        # A state recorded, then a git checkout that changes exactly `changed` functions.
        clear_state(cfg)
        run(gc(cfg, "build", "--local"), env=self.env, timeout=3600)
        git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "-c", "commit.gpgsign=false"]
        run(git + ["init", "-q", "-b", "base"], cwd=top, env=self.env)
        run(git + ["add", "-A"], cwd=top, env=self.env, timeout=1800)
        run(git + ["commit", "-q", "-m", "base"], cwd=top, env=self.env, timeout=1800)
        run(git + ["checkout", "-q", "-b", "change"], cwd=top, env=self.env)
        for n in names[:: max(1, nfun // changed)][:changed]:
            with open(os.path.join(top, n, "CHANGED.txt"), "w") as f:
                f.write(f"changed {n}\n")
        run(git + ["add", "-A"], cwd=top, env=self.env)
        run(git + ["commit", "-q", "-m", "change"], cwd=top, env=self.env)
        run(git + ["checkout", "-q", "base"], cwd=top, env=self.env)
        # The checkout back to base removed those files: record base again.
        run(gc(cfg, "build", "--local"), env=self.env, timeout=3600)
        w = Proc(gc(cfg, "watch", "--local"), env=self.env, name="watch")
        try:
            w.event("ready", 900)
            w.drain(3, 600)  # the start: every function unchanged
            t0 = time.time()
            run(git + ["checkout", "-q", "change"], cwd=top, env=self.env)
            evs = w.drain(5, 600)
            submitted = [e for e in evs if e.get("event") == "submitted"]
            fns = sorted({e["function"] for e in submitted})
            took = (max(e["_t"] for e in submitted) - t0) * 1000 if submitted else 0
        finally:
            w.stop()
        self.add(f"6. git checkout changing {changed} of {nfun} functions: submitted",
                 f"{len(submitted)} ({len(fns)} functions, last at {took:.0f} ms)", "—", None,
                 f"exactly {changed}", len(submitted) == changed and len(fns) == changed)

    def row_big(self):
        mb = 20 if self.tiny else 200
        fn = self.d("inputs", "big")
        tiny_fn = self.d("inputs", "tiny")
        with open(os.path.join(tiny_fn, "index.js"), "w") as f:
            f.write("module.exports = () => 'hi';\n")
        rnd = random.Random(7)
        half = mb * 2**20 // 2
        for i in range(half // 2**20):
            with open(os.path.join(fn, f"blob-{i:03d}.bin"), "wb") as f:
                f.write(rnd.randbytes(2**20))
        text, written, i = b"", 0, 0
        files = crate_files()
        while written < half:
            c, rel = files[i % len(files)]
            i += 1
            if not rel.endswith((".rs", ".md", ".toml", ".txt")):
                continue
            with open(os.path.join(os.path.dirname(c), rel), "rb") as f:
                text += f.read()
            if len(text) >= 2**20:
                with open(os.path.join(fn, f"text-{written // 2**20:03d}.txt"), "wb") as f:
                    f.write(text)
                written += len(text)
                text = b""
        serve, url = self.serve("--max-upload-mb", "400", "--build-delay-ms", "50")
        try:
            peaks = {}
            for name, folder in (("big", fn), ("tiny", tiny_fn)):
                cfg = project(self.d(f"p-big-{name}"), [(name, folder)], url=url, max_zip_mb=400)
                code, rss, out = run_rusage(gc(cfg, "build", "--force"), env=self.env, timeout=1800)
                if code != 0:
                    raise RowError(f"gcwatch build --force ({name}) exited {code}: {out[-1500:]}")
                peaks[name] = rss
        finally:
            serve.stop()
        growth = peaks["big"] - peaks["tiny"]
        self.add(f"7. build --force of a {mb} MB function: max RSS growth",
                 f"{growth/2**20:.1f} MB ({peaks['big']/2**20:.1f} − {peaks['tiny']/2**20:.1f})", "—", None,
                 "≤ 32 MB", growth <= 32 * 2**20)

    # ---------------------------------------------------------------- table

    def run_rows(self):
        rows = [r for r in ROW_NAMES if not self.args.only or r in self.args.only]
        for name in rows:
            print(f"== {name}", flush=True)
            t0 = time.time()
            try:
                getattr(self, "row_" + name)()
            except Skip as e:
                self.add(ROW_LABELS[name], f"skipped ({e})", "—")
            except Exception as e:  # a failing step: report it and go on
                self.errors += 1
                print(f"  !! {name} failed: {e}", flush=True)
                first = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
                self.add(ROW_LABELS[name], "ERROR", first)
            finally:
                stop_all()
            print(f"  ({time.time() - t0:.0f} s)", flush=True)

    def table(self):
        lines = [f"Machine: {machine()}", f"gcwatch: {gcwatch_version()}; mode: {'tiny' if self.tiny else 'full'}, repeats {self.repeats}", "",
                 "| row | gcwatch (median) | comparison (median) | ratio | target | met? |",
                 "|---|---|---|---|---|---|"]
        for r in self.rows:
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
        return "\n".join(lines) + "\n"


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ram = 0
    try:
        with open("/proc/meminfo") as f:
            ram = int(f.readline().split()[1]) * 1024
    except OSError:
        pass
    limits = []
    for k in ("max_user_instances", "max_user_watches"):
        try:
            with open(f"/proc/sys/fs/inotify/{k}") as f:
                limits.append(f"{k} {f.read().strip()}")
        except OSError:
            pass
    return (f"{os.cpu_count()} CPUs, {cpu}, {ram / 2**30:.1f} GiB RAM, Linux {os.uname().release}"
            f"; inotify {', '.join(limits) or '?'}")


def gcwatch_version():
    try:
        return subprocess.run([GCWATCH, "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tiny", action="store_true", help="small inputs, few repeats (CI)")
    ap.add_argument("--repeats", type=int, help="repeats of the timed rows")
    ap.add_argument("--only", choices=ROW_NAMES, action="append", help="run this row only (repeatable)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--work", help="the work folder (default: a new temp folder)")
    args = ap.parse_args()
    if not os.access(GCWATCH, os.X_OK):
        sys.exit(f"no release binary at {GCWATCH}: run bench/run")
    made = args.work is None
    if made:
        args.work = tempfile.mkdtemp(prefix="gcwatch-bench-")
    os.makedirs(args.work, exist_ok=True)
    print(f"work folder: {args.work}", flush=True)
    b = Bench(args)

    def on_signal(sig, _frame):
        stop_all()
        sys.exit(130)

    signal.signal(signal.SIGTERM, on_signal)
    try:
        b.run_rows()
    finally:
        stop_all()
        table = b.table()
        print()
        print(table)
        if args.keep or not made:
            with open(os.path.join(args.work, "results.md"), "w") as f:
                f.write(table)
            print(f"kept: {args.work} (results.md inside)")
        else:
            shutil.rmtree(args.work, ignore_errors=True)
    sys.exit(1 if b.errors else 0)


if __name__ == "__main__":
    main()
