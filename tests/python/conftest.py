"""Shared fixtures: the Rust `quantize_raw` example, built once per session."""
import pathlib
import subprocess

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def quantize_raw():
    subprocess.run(
        ["cargo", "build", "--release", "-q", "-p", "arrowquant-kernels", "--example", "quantize_raw"],
        cwd=ROOT, check=True,
    )
    exe = ROOT / "target" / "release" / "examples" / "quantize_raw"

    def run(tmp_path, x, fmt, isa="best", bits=4, group=128, sym=False):
        x = np.ascontiguousarray(x, dtype="<f4")
        rows, cols = x.shape
        src = tmp_path / f"{fmt}.f32"
        src.write_bytes(x.tobytes())
        prefix = tmp_path / f"{fmt}-{isa}"
        subprocess.run(
            [str(exe), fmt, str(bits), str(group), "sym" if sym else "asym", isa, str(src), str(rows), str(cols), str(prefix)],
            check=True,
        )
        return (
            (tmp_path / f"{prefix.name}.codes").read_bytes(),
            np.frombuffer((tmp_path / f"{prefix.name}.scales").read_bytes(), dtype="<f4"),
        )

    return run


def awkward(rows, cols, seed):
    """Heavy-tailed weights plus the cases where rounding rules differ: zeros, constant blocks,
    subnormals, magnitude ties of opposite sign, exact half-steps and huge outliers."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_t(5, size=(rows, cols)) / np.sqrt(cols)).astype(np.float32)
    x[:, rng.integers(0, cols, size=max(1, cols // 256))] *= 25.0
    flat = x.reshape(-1)
    blocks = flat.size // 32
    for b in rng.choice(blocks, size=max(1, blocks // 4), replace=False):
        s = flat[b * 32:(b + 1) * 32]
        kind = b % 6
        if kind == 0:
            s[:] = 0.0
        elif kind == 1:
            s[:] = np.float32(rng.normal())
        elif kind == 2:
            s[:] = (np.arange(32, dtype=np.float32) - 15.5) * np.float32(0.25)
        elif kind == 3:
            s[3], s[17] = np.float32(0.75), np.float32(-0.75)
        elif kind == 4:
            s[0] = np.float32(1e4)
            s[1] = np.float32(1e-30)
        else:
            # amax 127 makes Q8_0's scale exactly 1, so every other value is an exact half
            s[:] = np.arange(32, dtype=np.float32) + np.float32(0.5)
            s[0] = np.float32(127.0)
    return x


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """The generated models and their quantized files, shared by the reference-reader tests."""
    from reader_lab import Lab

    return Lab(tmp_path_factory.mktemp("reference_reader"))


def pytest_sessionstart(session):
    """scripts/test-all.sh builds ggml's oracle and sets ARROWQUANT_REQUIRE_ORACLE: there, a missing
    oracle is an error, not a reason for the comparisons with ggml to skip."""
    import os

    if os.environ.get("ARROWQUANT_REQUIRE_ORACLE"):
        import ggml_oracle

        ggml_oracle.load()
