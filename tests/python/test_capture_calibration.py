"""tools/capture_calibration.py on a tiny DiT-like model built here (no downloads): the file it
writes, read back with the safetensors package, against statistics computed independently from a
hand-written forward of the same model (functional ops, its own im2col for the convolutions).

Needs torch and safetensors; skipped without them (neither is in requirements.txt)."""
import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")
from safetensors import safe_open  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

nn = torch.nn
F = torch.nn.functional

pytestmark = pytest.mark.filterwarnings("ignore:capture_calibration")

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "capture_calibration.py"
sys.path.insert(0, str(TOOL.parent))
import capture_calibration as cc  # noqa: E402

# keyword forward arguments reach hooks from torch 2.0 (the core capture also runs on 1.13)
needs_kwarg_hooks = pytest.mark.skipif(int(torch.__version__.split(".")[0]) < 2, reason="torch < 2.0: no with_kwargs hooks")

T = 1000
G = 5  # [0,200) [200,400) [400,600) [600,800) [800,1000); group 1 gets no sample below


# --------------------------------------------------------------------------- the model

def sinusoidal(t, dim=16):
    freqs = torch.exp(-math.log(10000.0) * torch.arange(dim // 2, dtype=torch.float32) / (dim // 2))
    a = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(a), torch.sin(a)], dim=1)


class Block(nn.Module):
    def __init__(self, d=16, e=32, hidden=48):
        super().__init__()
        self.norm = nn.LayerNorm(d, elementwise_affine=False)
        self.ada = nn.Linear(e, 2 * d)
        self.fc1 = nn.Linear(d, hidden)
        self.fc2 = nn.Linear(hidden, d)

    def forward(self, x, temb):
        shift, scale = self.ada(F.silu(temb)).chunk(2, dim=-1)
        h = self.norm(x) * (1 + scale[:, None]) + shift[:, None]
        return x + self.fc2(F.gelu(self.fc1(h)))


class TinyDiT(nn.Module):
    """Latent [B, 4, 8, 8] + timestep [B] -> tokens [B, 16, 16]. Convs with zero, 'same'+dilation
    and replicate padding, a stride-2 patch embed, a depthwise conv (not capturable), a timestep MLP
    and adaLN-modulated MLP blocks, so the activations drift with t; `unused` never runs."""

    def __init__(self):
        super().__init__()
        self.conv_in = nn.Conv2d(4, 8, 3, padding=1)
        self.ctx = nn.Conv2d(8, 8, 3, padding="same", dilation=2, bias=False)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.patch = nn.Conv2d(8, 16, 2, stride=2)
        self.t_mlp = nn.Sequential(nn.Linear(16, 32), nn.SiLU(), nn.Linear(32, 32))
        self.blocks = nn.ModuleList([Block(), Block()])
        self.mix = nn.Conv1d(16, 16, 3, padding=1, padding_mode="replicate")
        self.drop = nn.Dropout(0.5)  # capture must run in eval mode
        self.out = nn.Linear(16, 16)
        self.unused = nn.Linear(16, 16)

    t_scale = 1.0  # the fraction test passes t / T and sets T here

    def forward(self, x, timestep):
        temb = self.t_mlp(sinusoidal(timestep.double() * self.t_scale if self.t_scale != 1.0 else timestep))
        h = self.conv_in(x)
        h = h + self.ctx(h) + self.dw(h)
        tok = self.patch(h).flatten(2).transpose(1, 2)
        for blk in self.blocks:
            tok = blk(tok, temb)
        tok = tok + self.mix(tok.transpose(1, 2)).transpose(1, 2)
        return self.out(self.drop(tok))


def im2col(x, k, stride=(1, 1), dilation=(1, 1)):
    """Rows [N*Ho*Wo, C*kh*kw] of an already padded [N, C, H, W] input, by slicing."""
    n, c, hh, ww = x.shape
    (kh, kw), (sh, sw), (dh, dw) = k, stride, dilation
    ho, wo = (hh - dh * (kh - 1) - 1) // sh + 1, (ww - dw * (kw - 1) - 1) // sw + 1
    taps = [[x[:, :, i * dh: i * dh + sh * (ho - 1) + 1: sh, j * dw: j * dw + sw * (wo - 1) + 1: sw]
             for j in range(kw)] for i in range(kh)]
    p = torch.stack([torch.stack(row, dim=2) for row in taps], dim=2)  # [N, C, kh, kw, Ho, Wo]
    return p.reshape(n, c * kh * kw, ho * wo).transpose(1, 2).reshape(-1, c * kh * kw), (ho, wo)


def manual_forward(m, x, t):
    """TinyDiT's forward by hand; returns (output, {layer name: input rows [n, in]})."""
    rows = {}

    def lin(name, mod, h):
        rows[name] = h.reshape(-1, h.shape[-1])
        return F.linear(h, mod.weight, mod.bias)

    def conv(name, mod, h_padded, k, stride=(1, 1), dilation=(1, 1)):
        r, (ho, wo) = im2col(h_padded, k, stride, dilation)
        rows[name] = r
        y = r @ mod.weight.reshape(mod.weight.shape[0], -1).t()
        if mod.bias is not None:
            y = y + mod.bias
        return y.reshape(h_padded.shape[0], ho, wo, -1).permute(0, 3, 1, 2)

    e = lin("t_mlp.0", m.t_mlp[0], sinusoidal(t))
    temb = lin("t_mlp.2", m.t_mlp[2], F.silu(e))
    h = conv("conv_in", m.conv_in, F.pad(x, [1, 1, 1, 1]), (3, 3))
    h = h + conv("ctx", m.ctx, F.pad(h, [2, 2, 2, 2]), (3, 3), dilation=(2, 2)) + m.dw(h)
    tok = conv("patch", m.patch, h, (2, 2), stride=(2, 2)).flatten(2).transpose(1, 2)
    for i, blk in enumerate(m.blocks):
        shift, scale = lin(f"blocks.{i}.ada", blk.ada, F.silu(temb)).chunk(2, dim=-1)
        hh = F.layer_norm(tok, (tok.shape[-1],)) * (1 + scale[:, None]) + shift[:, None]
        a = F.gelu(lin(f"blocks.{i}.fc1", blk.fc1, hh))
        tok = tok + lin(f"blocks.{i}.fc2", blk.fc2, a)
    seq = F.pad(tok.transpose(1, 2), [1, 1], mode="replicate").unsqueeze(2)  # [B, 16, 1, L+2]
    mixed = conv("mix", m.mix, seq, (1, 3)).squeeze(2)
    tok = tok + mixed.transpose(1, 2)
    return lin("out", m.out, tok), rows


CAPTURED = ["conv_in", "ctx", "patch", "t_mlp.0", "t_mlp.2", "blocks.0.ada", "blocks.0.fc1", "blocks.0.fc2",
            "blocks.1.ada", "blocks.1.fc1", "blocks.1.fc2", "mix", "out"]

# Batch timesteps: one number per batch, or one per sample (the last batch mixes three groups).
TIMESTEPS = [0, 120, 480, 999, 1200, 650.7, [10, 600, 990]]


def make_batches(seed=0):
    bsz = 3  # the mixed batch has three timesteps
    g = torch.Generator().manual_seed(seed)
    out = []
    for ts in TIMESTEPS:
        tv = torch.tensor(ts if isinstance(ts, list) else [ts] * bsz, dtype=torch.float32)
        # the noise level grows with t, so the activation range drifts across groups
        x = torch.randn(bsz, 4, 8, 8, generator=g) * (1 + tv.clamp(max=999)[:, None, None, None] / 200)
        out.append(((x,), {"timestep": tv}))
    return out


def make_model():
    torch.manual_seed(0)
    m = TinyDiT()
    m.train()
    return m


def reference(model, batches):
    """Per layer: float64 sum of x x^T, row count, and per group absmax / min / max, one sample at a
    time through the hand-written forward (so mixed-timestep batches need no special casing)."""
    ref = {}
    was_training = model.training
    with torch.no_grad():
        model.eval()
        for (x,), kw in batches:
            for b in range(x.shape[0]):
                tb = kw["timestep"][b: b + 1]
                g = min(int(math.floor(float(tb))) * G // T, G - 1)
                out, rows = manual_forward(model, x[b: b + 1], tb)
                assert torch.allclose(out, model(x[b: b + 1], tb), atol=1e-5), "hand-written forward differs"
                for name, r in rows.items():
                    r = r.double().numpy()
                    e = ref.setdefault(name, {"s": 0.0, "n": 0, "rows": [0] * G, "absmax": np.zeros((G, r.shape[1])),
                                              "lo": np.full(G, np.inf), "hi": np.full(G, -np.inf)})
                    e["s"] = e["s"] + r.T @ r
                    e["n"] += r.shape[0]
                    e["rows"][g] += r.shape[0]
                    e["absmax"][g] = np.maximum(e["absmax"][g], np.abs(r).max(axis=0))
                    e["lo"][g] = min(e["lo"][g], r.min())
                    e["hi"][g] = max(e["hi"][g], r.max())
    model.train(was_training)
    return ref


def run_capture(model, batches):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stats = cc.capture(model, batches, TIMESTEPS, G, T)
    return stats, [str(w.message) for w in caught]


# --------------------------------------------------------------------------- tests

@pytest.fixture(scope="module")
def captured(tmp_path_factory):
    model = make_model()
    batches = make_batches()
    stats, msgs = run_capture(model, batches)
    path = tmp_path_factory.mktemp("calib") / "calib.safetensors"
    cc.save(stats, path)
    return model, batches, stats, msgs, path


def test_file_names_shapes_dtypes_and_metadata(captured):
    model, _, _, msgs, path = captured
    arrays = load_file(str(path))
    sd = model.state_dict()
    assert set(arrays) == {f"{p}.{s}" for p in CAPTURED for s in ("hessian", "act_absmax", "act_range")}
    for p in CAPTURED:
        w = sd[f"{p}.weight"]
        cols = int(np.prod(w.shape[1:]))  # conv weight [out, in, kh, kw] -> [out, in*kh*kw]
        assert arrays[f"{p}.hessian"].shape == (cols, cols)
        assert arrays[f"{p}.act_absmax"].shape == (G, cols)
        assert arrays[f"{p}.act_range"].shape == (G, 2)
        for s in ("hessian", "act_absmax", "act_range"):
            assert arrays[f"{p}.{s}"].dtype == np.float32
    assert any("skipping dw" in m and "grouped" in m for m in msgs)
    assert any("unused never ran" in m for m in msgs)

    with safe_open(str(path), "np") as f:
        meta = f.metadata()
    assert meta["format"] == "arrowquant-calibration" and meta["version"] == "1"
    groups = json.loads(meta["timestep_groups"])
    assert groups == [[0, 200], [200, 400], [400, 600], [600, 800], [800, 1000]]
    rows = json.loads(meta["layer_group_rows"])
    assert set(rows) == set(CAPTURED)
    # 7 batches of 3 samples: t_mlp sees one row per sample, the blocks 16 tokens, conv_in 64 positions
    assert sum(rows["t_mlp.0"]) == 21 and sum(rows["blocks.0.fc1"]) == 21 * 16 and sum(rows["conv_in"]) == 21 * 64
    # samples per group: t 0, 120 and 10 -> g0; none in g1; 480 -> g2; 650.7, 600 -> g3; 999, 1200, 990 -> g4
    assert rows["t_mlp.0"] == [7, 0, 3, 4, 7]
    assert json.loads(meta["nsamples"]) == 21 * 64  # rows differ across layers: the largest
    assert any("different numbers of input rows" in m for m in msgs)
    assert json.loads(meta["num_train_timesteps"]) == T


def test_statistics_match_an_independent_computation(captured):
    model, batches, _, _, path = captured
    arrays = load_file(str(path))
    with safe_open(str(path), "np") as f:
        rows = json.loads(f.metadata()["layer_group_rows"])
    ref = reference(model, batches)
    assert set(ref) == set(CAPTURED)
    for p in CAPTURED:
        e = ref[p]
        assert rows[p] == e["rows"], p
        h_ref = e["s"] / e["n"]
        h = arrays[f"{p}.hessian"]
        np.testing.assert_allclose(h, h_ref, rtol=1e-4, atol=1e-6 * np.abs(h_ref).max(), err_msg=p)
        assert np.array_equal(h, h.T), p
        ev = np.linalg.eigvalsh(h.astype(np.float64))
        assert ev.min() >= -1e-5 * ev.max(), (p, ev.min(), ev.max())

        empty = np.array(e["rows"]) == 0
        amax = arrays[f"{p}.act_absmax"]
        rng = arrays[f"{p}.act_range"]
        np.testing.assert_allclose(amax, e["absmax"], rtol=1e-5, atol=1e-6, err_msg=p)
        np.testing.assert_allclose(rng[~empty, 0], e["lo"][~empty], rtol=1e-5, atol=1e-6, err_msg=p)
        np.testing.assert_allclose(rng[~empty, 1], e["hi"][~empty], rtol=1e-5, atol=1e-6, err_msg=p)
        assert empty[1] and np.all(amax[1] == 0) and np.all(rng[1] == 0), p  # no timestep in [200, 400)
        assert np.all(rng[~empty, 0] <= rng[~empty, 1])
    # the range drifts with t (the input noise grows with it)
    r = arrays["conv_in.act_range"]
    assert r[4, 1] - r[4, 0] > 2 * (r[0, 1] - r[0, 0])


def test_in_memory_result_equals_the_file_and_model_state_is_restored(captured):
    model, _, stats, _, path = captured
    arrays = load_file(str(path))
    for k, v in arrays.items():
        assert np.array_equal(stats[k].numpy(), v), k
    assert model.training  # restored after capture's eval()
    assert all(not m._forward_pre_hooks for m in model.modules())


def test_hooks_are_removed_when_the_forward_fails():
    model = make_model()
    batches = make_batches()

    def failing():
        yield batches[0]
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        cc.capture(model, failing(), [0, 0], G, T)
    assert all(not m._forward_pre_hooks for m in model.modules())
    assert model.training
    with pytest.raises(ValueError, match="fewer timesteps"):
        cc.capture(model, batches, [0], G, T)
    with pytest.raises(ValueError, match="more timesteps"):
        cc.capture(model, batches[:1], [0, 1], G, T)
    assert all(not m._forward_pre_hooks for m in model.modules())


@pytest.mark.parametrize("g,t", [(5, 1000), (3, 1000), (7, 50), (1, 1000), (8, 8)])
def test_group_lookup_matches_the_written_bounds(g, t):
    bounds = cc.group_bounds(g, t)
    assert bounds[0][0] == 0 and bounds[-1][1] == t
    assert all(bounds[i][1] == bounds[i + 1][0] for i in range(g - 1))
    for ts in range(t):
        gi = cc.group_of(ts, g, t)
        assert gi == ts * g // t
        assert bounds[gi][0] <= ts < bounds[gi][1]
    assert cc.group_of(t + 5, g, t) == g - 1  # past T: the last group
    assert cc.group_of(t - 0.5, g, t) == g - 1 and cc.group_of(0.9, g, t) == 0  # floored
    with pytest.raises(ValueError):
        cc.group_of(-1, g, t)


@needs_kwarg_hooks
def test_timestep_read_from_the_forward_argument_gives_the_same_file():
    """The pipeline form: hooks stay on while something else calls the model; the group comes from
    the model's `timestep` argument (here also as fractions t / T, as Flux passes it)."""
    model = make_model()
    batches = make_batches()
    expected, _ = run_capture(model, batches)
    for frac in (False, True):
        cap = cc.CalibrationCapture(model, G, T)
        model.t_scale = float(T) if frac else 1.0
        with cap, torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cap.timestep_from_argument(model, scale=float(T) if frac else None)
            model.eval()
            for (x,), kw in batches:
                t = kw["timestep"] / T if frac else kw["timestep"]
                model(x, timestep=t)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = cap.result()
        assert all(not m._forward_pre_hooks for m in model.modules())
        assert set(got) == set(expected)
        # same groups (t/T*T is not always exact: 650.7 -> 650.69.., still 650 once floored)
        assert got["__metadata__"] == expected["__metadata__"]
        for k in expected:
            if k != "__metadata__":  # the fractions change the sinusoid's phases by ~1e-5
                tol = dict(rtol=1e-3, atol=1e-4 * float(expected[k].abs().max())) if frac else dict(rtol=1e-6, atol=0.0)
                assert torch.allclose(got[k], expected[k], **tol), k
    model.t_scale = 1.0


class Denoiser(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 4)

    def forward(self, x, timestep=None):
        return self.proj(x)


@pytest.mark.parametrize("t,group", [(torch.tensor([0.25]), 1), (torch.tensor([1.0]), 3), (torch.tensor([200.0]), 0),
                                     (torch.tensor([1]), 0), (0.9, 3), (torch.tensor([999, 999]), 3), (600, 2)])
@needs_kwarg_hooks
def test_timestep_scale_auto(t, group):
    """Fractions in [0, 1] are taken as t / T; anything else as t."""
    m = Denoiser()
    cap = cc.CalibrationCapture(m, 4, T)
    with cap:
        cap.timestep_from_argument(m)
        m(torch.randn(len(t) if torch.is_tensor(t) else 1, 4), timestep=t)
    rows = json.loads(cap.result()["__metadata__"]["layer_group_rows"])["proj"]
    assert rows[group] == sum(rows) > 0


def test_timestep_passed_positionally():
    """SD / SDXL pipelines call the UNet as unet(latents, t, ...): found from forward's signature."""
    m = Denoiser()
    cap = cc.CalibrationCapture(m, 4, T)
    with cap:
        cap.timestep_from_argument(m)
        m(torch.randn(2, 4), torch.tensor([700, 720]))
        m(torch.randn(1, 4), 10)
    assert json.loads(cap.result()["__metadata__"]["layer_group_rows"])["proj"] == [1, 0, 2, 0]
    assert not m._forward_pre_hooks


def test_layer_filter_and_the_builtin_writer(tmp_path, monkeypatch):
    model = make_model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = cc.capture(model, make_batches()[:3], [0, 500, 999], 4, T,
                           layer_filter=lambda name, mod: name.startswith("blocks.1."))
    assert {k.rsplit(".", 1)[0] for k in stats if k != "__metadata__"} == {"blocks.1.ada", "blocks.1.fc1", "blocks.1.fc2"}
    assert json.loads(stats["__metadata__"]["nsamples"]) == 9 * 16  # fc1/fc2: 9 samples x 16 tokens; ada: 9
    cc.save(stats, tmp_path / "lib.safetensors")
    # without the safetensors package: the built-in writer; the package reads it back the same
    import builtins
    real_import = builtins.__import__

    def no_safetensors(name, *a, **k):
        if name.startswith("safetensors"):
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_safetensors)
    cc.save(stats, tmp_path / "own.safetensors")
    monkeypatch.setattr(builtins, "__import__", real_import)
    a, b = load_file(str(tmp_path / "lib.safetensors")), load_file(str(tmp_path / "own.safetensors"))
    assert set(a) == set(b) and all(np.array_equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)
    with safe_open(str(tmp_path / "lib.safetensors"), "np") as f1, safe_open(str(tmp_path / "own.safetensors"), "np") as f2:
        assert f1.metadata() == f2.metadata()
    raw = (tmp_path / "own.safetensors").read_bytes()
    assert int.from_bytes(raw[:8], "little") % 8 == 0


def test_cli_help():
    r = subprocess.run([sys.executable, str(TOOL), "--help"], capture_output=True, text=True, check=True)
    assert "--out" in r.stdout and "--num-groups" in r.stdout
