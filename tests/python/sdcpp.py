"""stable-diffusion.cpp as the reference for the image GGUF export tests: its `sd-cli` (built by
scripts/setup-sdcpp.sh), its own `-M convert` driven to give every tensor the type it has in our
file, a canonical comparison of two GGUF files (per tensor: name, type, shape, bytes) and the
pixels of the PNGs it generates."""
import os
import re
import shutil
import struct
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "dist" / "cli" / "main.js"
SYNTH = ROOT / "dist" / "tools" / "synth" / "cli.js"

# ggml type ids → the names sd-cli's --type / --tensor-type-rules take (ggml's type_name, case-sensitive)
GGML_TYPES = {0: "f32", 1: "f16", 2: "q4_0", 3: "q4_1", 6: "q5_0", 7: "q5_1", 8: "q8_0", 10: "q2_K", 11: "q3_K",
              12: "q4_K", 13: "q5_K", 14: "q6_K", 30: "bf16"}
BLOCK = {"f32": (1, 4), "f16": (1, 2), "bf16": (1, 2), "q4_0": (32, 18), "q4_1": (32, 20), "q5_0": (32, 22),
         "q5_1": (32, 24), "q8_0": (32, 34), "q2_K": (256, 84), "q3_K": (256, 110), "q4_K": (256, 144),
         "q5_K": (256, 176), "q6_K": (256, 210)}


def sd_cli():
    """The pinned sd-cli: $SD_CLI, else scripts/setup-sdcpp.sh's cached build (built here if absent
    only when ARROWQUANT_BUILD_SDCPP=1: a cold build takes minutes)."""
    if os.environ.get("SD_CLI"):
        return Path(os.environ["SD_CLI"])
    cached = ROOT / ".cache" / "sdcpp" / "0.4.7" / "build" / "bin" / "sd-cli"
    if not cached.exists() and os.environ.get("ARROWQUANT_BUILD_SDCPP") != "1":
        pytest.skip("no sd-cli: run scripts/setup-sdcpp.sh (npm run test:runtimes does)")
    out = subprocess.run(["bash", str(ROOT / "scripts" / "setup-sdcpp.sh")], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


def run(cmd, what, timeout=3600, **kw):
    t = time.time()
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, **kw)
    assert r.returncode == 0, f"{what} failed ({r.returncode}):\n{' '.join(map(str, cmd))[:2000]}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    r.seconds = time.time() - t
    return r


def arrowquant(*args, timeout=3600):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARROW_QUANT_")}
    return run([shutil.which("node"), CLI, *args], f"arrowquant {args[0]}", timeout=timeout, env=env)


# --- GGUF ----------------------------------------------------------------------------------------

class Gguf:
    """A GGUF file's metadata and tensors (name → type name, ne padded to 4 dims, data offset, size)."""

    def __init__(self, path):
        self.path = Path(path)
        d = self.path.read_bytes()
        assert d[:4] == b"GGUF", path
        self.version, nt, nkv = struct.unpack_from("<IQQ", d, 4)
        o = 24

        def s():
            nonlocal o
            n, = struct.unpack_from("<Q", d, o)
            o += 8
            r = d[o:o + n].decode()
            o += n
            return r

        def val(t):
            nonlocal o
            fm = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
            if t == 8:
                return s()
            if t == 9:
                et, n = struct.unpack_from("<IQ", d, o)
                o += 12
                return [val(et) for _ in range(n)]
            v, = struct.unpack_from("<" + fm[t], d, o)
            o += struct.calcsize(fm[t])
            return v

        self.kv = {}
        for _ in range(nkv):
            k = s()
            t, = struct.unpack_from("<I", d, o)
            o += 4
            self.kv[k] = val(t)
        self.tensors = {}
        self.shapes = {}
        self.order = []
        for _ in range(nt):
            n = s()
            nd, = struct.unpack_from("<I", d, o)
            o += 4
            ne = struct.unpack_from("<%dQ" % nd, d, o)
            o += 8 * nd
            ty, off = struct.unpack_from("<IQ", d, o)
            o += 12
            name = GGML_TYPES[ty]
            elems = int(np.prod(ne))
            be, bb = BLOCK[name]
            self.tensors[n] = (name, tuple(ne) + (1,) * (4 - nd), off, elems // be * bb)
            self.shapes[n] = tuple(reversed(ne))  # as written (torch order)
            self.order.append(n)
        align = self.kv.get("general.alignment", 32)
        self.data_offset = (o + align - 1) // align * align
        self._d = d

    def data(self, name):
        _, _, off, size = self.tensors[name]
        return self._d[self.data_offset + off:self.data_offset + off + size]

    def data_section(self):
        return self._d[self.data_offset:]

    def type_rules(self, quantized_only=True):
        """sd-cli --tensor-type-rules giving each tensor its type here (quantized ones: the others
        keep their source type in sd-cli's convert when no --type is given, as here)."""
        rules = [f"^{re.escape(n)}$={t[0]}" for n, t in self.tensors.items() if not (quantized_only and t[0] in ("f32", "f16", "bf16"))]
        assert all("," not in r for r in rules)
        return ",".join(rules)

    def types(self):
        out = {}
        for t in self.tensors.values():
            out[t[0]] = out.get(t[0], 0) + 1
        return out


def compare(ours, ref):
    """Per tensor: the same set of names, and for each the same type, shape and bytes. Returns a
    list of differences (empty: equal)."""
    a, b = Gguf(ours), Gguf(ref)
    diffs = []
    only_a, only_b = sorted(set(a.tensors) - set(b.tensors)), sorted(set(b.tensors) - set(a.tensors))
    if only_a:
        diffs.append(f"only in ours ({len(only_a)}): {only_a[:8]}")
    if only_b:
        diffs.append(f"only in the reference ({len(only_b)}): {only_b[:8]}")
    for n in sorted(set(a.tensors) & set(b.tensors)):
        ta, tb = a.tensors[n], b.tensors[n]
        if ta[0] != tb[0] or ta[1] != tb[1]:
            diffs.append(f"{n}: ours {ta[0]} {ta[1]}, reference {tb[0]} {tb[1]}")
        elif a.data(n) != b.data(n):
            diffs.append(f"{n}: {ta[0]} {ta[1]} bytes differ")
    return diffs


def sd_convert(src, out, rules, *extra, cpu0=True):
    """sd-cli's own conversion, on one CPU (taskset -c 0): its writer records tensors in the order
    its two loader threads reach them, which one CPU makes steadier but not fixed, so files are
    compared per tensor (compare), not as wholes."""
    cmd = ([shutil.which("taskset"), "-c", "0"] if cpu0 and shutil.which("taskset") else []) + [sd_cli(), "-M", "convert", "-m", src, "-o", out]
    if rules:
        cmd += ["--tensor-type-rules", rules]
    return run(cmd + list(extra), "sd-cli -M convert")


def generate(out, *model_args, steps=2, size=64, seed=42, threads=2, extra=()):
    cmd = [sd_cli(), *model_args, "-p", "a lighthouse on a cliff", "-W", size, "-H", size, "--steps", steps, "--seed", seed,
           "-t", threads, "--sampling-method", "euler", "--disable-image-metadata", "-o", out, *extra]
    r = run(cmd, "sd-cli generate")
    assert Path(out).exists(), r.stdout[-2000:]
    return r


def pixels(png):
    """The decoded pixels (H×W×C uint8) of a PNG."""
    from PIL import Image

    with Image.open(png) as im:
        return np.asarray(im.convert("RGB")).copy()


def same_image(a, b):
    pa, pb = pixels(a), pixels(b)
    return pa.shape == pb.shape and np.array_equal(pa, pb)


def is_constant(png):
    p = pixels(png).astype(np.int32)
    return int(p.max() - p.min()) == 0
