"""From a real PyTorch forward to ArrowQuant's GPTQ: capture calibration from a tiny two-layer
MLP with tools/capture_calibration.py, quantize its weights with the CLI (`--method gptq
--calibration`, and plain RTN), read them back with docs/reference_reader.py, and measure each
layer's output error on fresh inputs of the same distribution. GPTQ must beat RTN on both layers.

Needs torch, safetensors, pyarrow and the built CLI (dist/); skipped without torch."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "docs"))
import capture_calibration as cc  # noqa: E402
import reference_reader as rr  # noqa: E402

CLI = ROOT / "dist" / "cli" / "main.js"
IN, HID = 96, 192


def inputs(n, seed):
    """Rows with correlated channels, a few 25× outlier channels, and a spread that grows with t."""
    scale = torch.ones(IN)
    scale[::17] = 25.0
    mix = torch.randn(IN, 8, generator=torch.Generator().manual_seed(0)) * 0.6  # the distribution
    g = torch.Generator().manual_seed(seed)  # the draw
    t = torch.randint(0, 1000, (n,), generator=g)
    z = torch.randn(n, IN, generator=g) + torch.randn(n, 8, generator=g) @ mix.T
    return z * scale * (0.5 + t[:, None] / 1000.0), t


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc1 = torch.nn.Linear(IN, HID)
        self.fc2 = torch.nn.Linear(HID, IN)

    def forward(self, x):
        return self.fc2(torch.nn.functional.gelu(self.fc1(x)))


def quantize(model_dir, out, *args):
    node = shutil.which("node")
    if node is None or not CLI.exists():
        pytest.fail("needs node and the built CLI (npm run build)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARROW_QUANT_")}
    env["ARROW_QUANT_ENABLE_SPATIAL"] = "false"  # GPTQ alone: smoothing targets W8A8, not this measure
    r = subprocess.run([node, str(CLI), "quantize", str(model_dir), "-o", str(out), "--bits", "4", "--group-size", "32",
                        "--min-accuracy", "0", "--quiet", *args], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def rel_error(x, w, wq):
    return float(np.linalg.norm(x @ (w - wq).T) / np.linalg.norm(x @ w.T))


def test_captured_calibration_makes_gptq_beat_rtn(tmp_path):
    model = MLP().eval()
    model_dir = tmp_path / "mlp"
    model_dir.mkdir()
    safetensors_torch.save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(model_dir / "model.safetensors"))

    x, t = inputs(512, seed=1)
    batches = [(x[i:i + 64],) for i in range(0, 512, 64)]
    stats = cc.capture(model, batches, timesteps=[t[i:i + 64].tolist() for i in range(0, 512, 64)], num_groups=4)
    calib = tmp_path / "calib.safetensors"
    cc.save(stats, calib)

    gptq, rtn = tmp_path / "gptq.parquet", tmp_path / "rtn.parquet"
    quantize(model_dir, gptq, "--method", "gptq", "--calibration", str(calib))
    quantize(model_dir, rtn, "--method", "rtn")
    assert {t["name"]: t["method"] for t in rr.tensors(gptq) if t["method"] != "keep"} == {"fc1.weight": "gptq", "fc2.weight": "gptq"}

    # Fresh inputs of the same distribution; fc2's inputs are fc1's outputs in full precision.
    xe, _ = inputs(1024, seed=2)
    with torch.no_grad():
        h = torch.nn.functional.gelu(model.fc1(xe))
    for name, xin in (("fc1.weight", xe.numpy()), ("fc2.weight", h.numpy())):
        w = model.state_dict()[name].numpy()
        e_gptq = rel_error(xin, w, rr.dequantize(gptq, name))
        e_rtn = rel_error(xin, w, rr.dequantize(rtn, name))
        assert e_gptq < 0.8 * e_rtn, f"{name}: gptq {e_gptq:.4f} vs rtn {e_rtn:.4f}"

    # The time groups the file stores come from the captured ranges (4 groups of 250 steps).
    tg = rr.activation_params(gptq, "fc1.weight", 10), rr.activation_params(gptq, "fc1.weight", 990)
    assert tg[0] is not None and tg[1][0] > tg[0][0], tg
