#!/usr/bin/env python3
"""Capture ArrowQuant calibration statistics from a PyTorch model with forward hooks.

Works on any ``torch.nn.Module`` (a transformers LM, a diffusers UNet/DiT, a hand-made model).
Dependencies: ``torch`` only. ``safetensors`` is used to write the file when it is installed;
without it a built-in writer produces the same format (plain safetensors, no numpy needed).
``transformers`` / ``diffusers`` are imported only by the command line, and only for the kind of
model it is asked to load.

Which layers
------------
Every ``nn.Linear``, ``nn.Conv1d`` and ``nn.Conv2d`` (subclasses included) found by
``model.named_modules()``, optionally narrowed by ``layer_filter(name, module) -> bool``. The
layer's name ``<p>`` is its ``named_modules()`` name, i.e. the state_dict prefix of its weight
``<p>.weight`` (a module registered under two names is captured once, under the first).
Convolutions are seen as the matrix product ArrowQuant quantizes: weight ``[out, in*k]``
(``weight.reshape(out, -1)``, i.e. ``[out, in*kh*kw]`` for Conv2d) times the unfolded input
(im2col, ``torch.nn.functional.unfold``; the zero / reflect / replicate / circular padding the
layer applies, string paddings 'same' / 'valid', stride and dilation included). The padded zeros
of a zero-padded conv are part of its rows, as they are in the im2col product. Skipped, with a
warning: grouped / depthwise convolutions (``groups > 1``: no single ``[in*k, in*k]`` Hessian),
Conv3d, transposed convolutions, and transformers' GPT-2 ``Conv1D`` (its weight is stored
``[in, out]``). A layer that never ran during the capture is left out of the file (warning);
so are the projections of ``nn.MultiheadAttention``, which uses their weights without calling
them (diffusers and transformers attention modules call their Linear layers and are captured).

What is written (the contract the Rust/TS reader uses)
------------------------------------------------------
A safetensors file; for each captured layer ``<p>`` with ``in`` input columns:

* ``<p>.hessian``    float32 ``[in, in]``: H = (1/n) * sum over the n captured input rows x of x x^T
  (every token / spatial position of every sample is a row; accumulated in float64, symmetrized,
  stored as float32). n counts the rows of all timestep groups together.
* ``<p>.act_absmax`` float32 ``[G, in]``: per timestep group g and input column, max |x|.
* ``<p>.act_range``  float32 ``[G, 2]``: per timestep group, [min, max] of x over all columns.
  A group that got no rows for this layer has an act_absmax row of zeros and act_range [0, 0]
  (``layer_group_rows`` below tells an empty group from an all-zero one).

``__metadata__`` (all values strings):

* ``format`` = "arrowquant-calibration", ``version`` = "1";
* ``timestep_groups``: JSON list of G ``[t_start, t_end]`` integer pairs, half-open, contiguous,
  covering ``[0, num_train_timesteps)``. The lookup (the same one the Parquet reader uses) is
  ``g = min(t * G // T, G - 1)`` for an integer timestep t >= 0 (T = num_train_timesteps), so
  group g holds the integers in ``[g*T/G, (g+1)*T/G)``: ``t_start = ceil(g*T/G)``. A timestep
  >= T lands in the last group. Non-integer timesteps (flow-matching schedulers) are floored.
* ``nsamples``: JSON integer, the row count n of the Hessians. Layers of one model may see
  different row counts (a timestep-embedding MLP sees one row per sample, a conv one per output
  position, a cross-attention K/V projection one per text token): when they differ, ``nsamples``
  is the largest and a warning is printed; the exact counts are in ``layer_group_rows``.
* ``layer_group_rows`` (extra): JSON object, layer name -> list of G row counts; its sum is that
  layer's n.
* ``num_train_timesteps`` (extra): T as a JSON integer.

Non-diffusion models: one group (G = 1) and timestep 0 for every batch (``timesteps=None``).

Python API
----------
``capture(model, batches, timesteps, num_groups, num_train_timesteps=1000, layer_filter=None)``
runs ``model(*args, **kwargs)`` under ``torch.no_grad()`` and ``model.eval()`` for every
``(args, kwargs)`` of ``batches`` (args a tuple, or one tensor; a bare tensor or tuple is args
alone) and returns the statistics as a dict laid out like the file
(tensor name -> float32 CPU tensor, plus ``"__metadata__"`` -> dict of strings);
``save(stats, path)`` writes it. ``timesteps`` gives each batch's timestep: an int (the whole
batch), or one per sample (a list / 1-D tensor as long as the batch; then every hooked layer's
input must have the batch as dim 0). Hooks are removed and the train/eval mode restored even when
the forward raises.

``CalibrationCapture`` is the lower-level form for loops that are not one forward per batch (a
diffusion pipeline calls its denoiser once per step): ``with cap:`` attaches the hooks,
``cap.set_timesteps(t)`` sets the timestep of the next forwards, or
``cap.timestep_from_argument(denoiser)`` reads it from the denoiser's ``timestep`` argument.
``cap.result()`` returns what ``capture`` returns.

Memory: each captured layer holds a float64 ``[in, in]`` sum on the device its inputs are on
(``accum_device`` moves it, e.g. to "cpu"); for a large model capture a subset of layers at a
time with ``layer_filter``.
"""
from __future__ import annotations

import argparse
import ctypes
import inspect
import itertools
import json
import math
import re
import struct
import sys
import warnings
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

FORMAT = "arrowquant-calibration"
VERSION = "1"
METADATA = "__metadata__"

LayerFilter = Callable[[str, nn.Module], bool]


# --------------------------------------------------------------------------- timestep groups

def group_of(t: Any, num_groups: int, num_train_timesteps: int = 1000) -> int:
    """The timestep group of timestep ``t``: ``min(floor(t) * G // T, G - 1)``."""
    ti = _timestep_int(t)
    return min(ti * num_groups // num_train_timesteps, num_groups - 1)


def group_bounds(num_groups: int, num_train_timesteps: int = 1000) -> list:
    """``[[t_start, t_end], ...]``: group g holds the integers t with ``t * G // T == g``."""
    G, T = num_groups, num_train_timesteps
    return [[(g * T + G - 1) // G, ((g + 1) * T + G - 1) // G] for g in range(G)]


def _timestep_int(t: Any) -> int:
    if torch.is_tensor(t):
        if t.numel() != 1:
            raise ValueError(f"expected one timestep, got a tensor of shape {tuple(t.shape)}")
        t = t.item()
    if isinstance(t, bool) or not isinstance(t, (int, float)):
        try:
            t = float(t)  # numpy scalars and the like
        except (TypeError, ValueError):
            raise TypeError(f"a timestep must be a number, got {type(t).__name__}") from None
    if isinstance(t, float):
        if not math.isfinite(t):
            raise ValueError(f"timestep {t} is not finite")
        t = math.floor(t)
    if t < 0:
        raise ValueError(f"timestep {t} is negative")
    return int(t)


# --------------------------------------------------------------------------- per-layer state

def _supported(module: nn.Module) -> Optional[str]:
    """None if the module can be captured, else why not."""
    if isinstance(module, nn.Linear):
        return None
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        if module.groups != 1:
            return f"grouped convolution (groups={module.groups})"
        return None
    if isinstance(module, (nn.Conv3d, nn.modules.conv._ConvTransposeNd)):
        return f"{type(module).__name__} is not supported"
    if type(module).__name__ == "Conv1D" and hasattr(module, "nf"):  # transformers' GPT-2 Conv1D
        return "transformers Conv1D (weight stored [in, out])"
    return "not a layer"


class _Layer:
    def __init__(self, name: str, module: nn.Module, num_groups: int, accum_device):
        self.name = name
        self.module = module
        self.conv_dims = 0 if isinstance(module, nn.Linear) else (1 if isinstance(module, nn.Conv1d) else 2)
        w = module.weight
        self.cols = int(w.shape[1]) if self.conv_dims == 0 else int(math.prod(w.shape[1:]))
        self.num_groups = num_groups
        self.accum_device = accum_device
        self.h = None  # float64 [cols, cols], allocated on the first input
        self.absmax = None  # float32 [G, cols]
        self.lo = None  # float32 [G]
        self.hi = None
        self.rows = [0] * num_groups

    # Input rows: [n, cols] float32.
    def to_rows(self, x: torch.Tensor) -> torch.Tensor:
        x = x.detach()
        if x.dtype != torch.float64:
            x = x.float()
        if self.conv_dims == 0:
            if x.shape[-1] != self.cols:
                raise ValueError(f"{self.name}: input has {x.shape[-1]} features, the layer {self.cols}")
            return x.reshape(-1, self.cols)
        return _unfold(self.module, x, self.conv_dims)

    def add(self, x: torch.Tensor, groups) -> None:
        if isinstance(groups, int):
            self._accumulate(groups, self.to_rows(x))
            return
        batched = self.conv_dims == 0 and x.dim() >= 2 or self.conv_dims > 0 and x.dim() == self.conv_dims + 2
        if not batched or x.shape[0] != len(groups):
            raise ValueError(
                f"{self.name}: the batch mixes timestep groups ({len(groups)} per-sample timesteps) but the "
                f"layer's input has shape {tuple(x.shape)}, whose dim 0 is not that batch; "
                "run one timestep per batch instead"
            )
        for g in sorted(set(groups)):
            idx = torch.tensor([i for i, gi in enumerate(groups) if gi == g], device=x.device)
            self._accumulate(g, self.to_rows(x.index_select(0, idx)))

    def _accumulate(self, g: int, r: torch.Tensor) -> None:
        if r.shape[0] == 0:
            return
        dev = torch.device(self.accum_device) if self.accum_device is not None else r.device
        if self.h is None:
            self.h = torch.zeros(self.cols, self.cols, dtype=torch.float64, device=dev)
            self.absmax = torch.zeros(self.num_groups, self.cols, dtype=torch.float32, device=dev)
            self.lo = torch.full((self.num_groups,), math.inf, dtype=torch.float32, device=dev)
            self.hi = torch.full((self.num_groups,), -math.inf, dtype=torch.float32, device=dev)
        r64 = r.to(device=dev, dtype=torch.float64)
        self.h.addmm_(r64.t(), r64)
        del r64
        # the small statistics on the input's device, then moved (max/min are exact in float32)
        r = r.float()
        self.absmax[g] = torch.maximum(self.absmax[g], r.abs().amax(dim=0).to(dev))
        self.lo[g] = torch.minimum(self.lo[g], r.min().to(dev))
        self.hi[g] = torch.maximum(self.hi[g], r.max().to(dev))
        self.rows[g] += int(r.shape[0])


def _unfold(conv: nn.Module, x: torch.Tensor, nd: int) -> torch.Tensor:
    """The im2col rows [positions, in*k] of a Conv1d / Conv2d input, columns ordered like
    ``weight.reshape(out, -1)`` (channel-major, then kernel offsets)."""
    if x.dim() == nd + 1:  # unbatched input
        x = x.unsqueeze(0)
    if x.dim() != nd + 2:
        raise ValueError(f"conv input of shape {tuple(x.shape)}")
    if isinstance(conv.padding, str) or conv.padding_mode != "zeros":
        mode = "constant" if conv.padding_mode == "zeros" else conv.padding_mode
        x = F.pad(x, list(conv._reversed_padding_repeated_twice), mode=mode)
        padding = (0,) * nd
    else:
        padding = tuple(conv.padding)
    k, stride, dil = tuple(conv.kernel_size), tuple(conv.stride), tuple(conv.dilation)
    if nd == 1:  # as a Conv2d of height 1: columns (c, 0, j) == (c, j)
        x = x.unsqueeze(2)
        k, stride, dil, padding = (1,) + k, (1,) + stride, (1,) + dil, (0,) + padding
    cols = F.unfold(x, k, dilation=dil, padding=padding, stride=stride)  # [N, C*k, L]
    return cols.transpose(1, 2).reshape(-1, cols.shape[1])


# --------------------------------------------------------------------------- capture

class CalibrationCapture:
    """Hooks on the model's layers that accumulate the statistics; see the module docstring."""

    def __init__(self, model: nn.Module, num_groups: int = 1, num_train_timesteps: int = 1000,
                 layer_filter: Optional[LayerFilter] = None, accum_device=None):
        if not isinstance(num_groups, int) or num_groups < 1:
            raise ValueError(f"num_groups must be a positive integer, got {num_groups!r}")
        if not isinstance(num_train_timesteps, int) or num_train_timesteps < num_groups:
            raise ValueError(f"num_train_timesteps ({num_train_timesteps!r}) must be an integer "
                             f">= num_groups ({num_groups})")
        self.model = model
        self.num_groups = num_groups
        self.num_train_timesteps = num_train_timesteps
        self.layers: dict = {}
        self.skipped: dict = {}  # name -> reason
        for name, module in model.named_modules():
            why = _supported(module)
            if why == "not a layer":
                continue
            if layer_filter is not None and not layer_filter(name, module):
                continue
            if why is not None:
                self.skipped[name] = why
                warnings.warn(f"capture_calibration: skipping {name or '<root>'}: {why}", stacklevel=2)
                continue
            self.layers[name] = _Layer(name, module, num_groups, accum_device)
        self._groups = 0
        self._handles: list = []

    def set_timesteps(self, timesteps: Any) -> None:
        """The timestep of the forwards that follow: a number, or one per sample."""
        if timesteps is None:
            self._groups = 0
            return
        if torch.is_tensor(timesteps):
            timesteps = timesteps.detach().flatten().tolist() if timesteps.numel() != 1 else timesteps.item()
        if isinstance(timesteps, (list, tuple)):
            if len(timesteps) == 0:
                raise ValueError("empty list of timesteps")
            groups = [group_of(t, self.num_groups, self.num_train_timesteps) for t in timesteps]
            self._groups = groups[0] if len(set(groups)) == 1 else groups
        else:
            self._groups = group_of(timesteps, self.num_groups, self.num_train_timesteps)

    def timestep_from_argument(self, module: nn.Module, name: str = "timestep", position: Optional[int] = None,
                            scale: Optional[float] = None):
        """Set the timestep from ``module``'s forward argument ``name`` at every call, whether it is
        passed by keyword or positionally (``position``: its index among the positional arguments;
        default: found from the signature of ``module.forward``), multiplied by ``scale``;
        ``scale=None``: x T when every value is a float in [0, 1] (pipelines that pass t / 1000, as
        Flux's does), else x 1. Returns the hook handle; removed by ``detach()`` / leaving ``with``."""
        if position is None:
            try:
                params = list(inspect.signature(module.forward).parameters.values())
            except (TypeError, ValueError):
                params = []
            names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
            position = names.index(name) if name in names else None

        def pre_hook(mod, args, kwargs):
            if name in kwargs:
                t = kwargs[name]
            else:
                t = args[position] if position is not None and len(args) > position else None
            if t is None:
                raise ValueError(f"capture_calibration: the forward of the denoiser got no '{name}'")
            if torch.is_tensor(t):
                tt = t.detach().flatten().double().cpu()
            else:
                tt = torch.tensor([float(v) for v in (t if isinstance(t, (list, tuple)) else [t])], dtype=torch.float64)
            s = scale
            if s is None:
                fractional = torch.is_tensor(t) and t.is_floating_point() or isinstance(t, float)
                s = float(self.num_train_timesteps) if fractional and bool((tt >= 0).all() and (tt <= 1).all()) else 1.0
            self.set_timesteps((tt * s).tolist())

        try:
            handle = module.register_forward_pre_hook(pre_hook, with_kwargs=True)
        except TypeError:  # torch < 2.0: positional arguments only
            if position is None:
                raise RuntimeError(f"timestep_from_argument: {type(module).__name__}.forward has no positional '{name}', "
                                   "and torch < 2.0 hooks do not see keyword arguments") from None
            handle = module.register_forward_pre_hook(lambda m, args: pre_hook(m, args, {}))
        self._handles.append(handle)
        return handle

    def attach(self) -> None:
        for layer in self.layers.values():
            self._handles.append(_register_input_hook(layer.module, self._make_hook(layer)))

    def detach(self) -> None:
        while self._handles:
            self._handles.pop().remove()

    def __enter__(self):
        self.attach()
        return self

    def __exit__(self, *exc):
        self.detach()
        return False

    def _make_hook(self, layer: _Layer):
        def hook(module, args, kwargs=None):
            if args:
                x = args[0]
            elif kwargs and "input" in kwargs:
                x = kwargs["input"]
            else:
                raise ValueError(f"capture_calibration: {layer.name} was called without an input tensor")
            with torch.no_grad():
                layer.add(x, self._groups)
        return hook

    def result(self) -> dict:
        """The statistics, laid out like the file: name -> float32 CPU tensor, plus ``__metadata__``."""
        out: dict = {}
        rows: dict = {}
        for name, layer in self.layers.items():
            n = sum(layer.rows)
            if n == 0:
                warnings.warn(f"capture_calibration: {name or '<root>'} never ran; left out", stacklevel=2)
                continue
            h = layer.h / n
            h = (h + h.t()) * 0.5
            empty = torch.tensor([r == 0 for r in layer.rows], device=layer.lo.device)
            lo = torch.where(empty, torch.zeros_like(layer.lo), layer.lo)
            hi = torch.where(empty, torch.zeros_like(layer.hi), layer.hi)
            out[_key(name, "hessian")] = h.to(device="cpu", dtype=torch.float32).contiguous()
            out[_key(name, "act_absmax")] = layer.absmax.to("cpu").contiguous()
            out[_key(name, "act_range")] = torch.stack([lo, hi], dim=1).to("cpu").contiguous()
            rows[name] = list(layer.rows)
        totals = {sum(r) for r in rows.values()}
        if len(totals) > 1:
            warnings.warn(
                "capture_calibration: the layers saw different numbers of input rows "
                f"({min(totals)}..{max(totals)}); nsamples is the largest, see layer_group_rows",
                stacklevel=2,
            )
        out[METADATA] = {
            "format": FORMAT,
            "version": VERSION,
            "timestep_groups": json.dumps(group_bounds(self.num_groups, self.num_train_timesteps)),
            "nsamples": json.dumps(max(totals) if totals else 0),
            "num_train_timesteps": json.dumps(self.num_train_timesteps),
            "layer_group_rows": json.dumps(rows, separators=(",", ":")),
        }
        return out


def _register_input_hook(module: nn.Module, hook):
    try:
        return module.register_forward_pre_hook(hook, with_kwargs=True)
    except TypeError:  # torch < 2.0: no with_kwargs (the input is then always positional)
        return module.register_forward_pre_hook(lambda m, args: hook(m, args, None))


def _key(prefix: str, what: str) -> str:
    return f"{prefix}.{what}" if prefix else what


_MISSING = object()


def capture(model: nn.Module, batches: Iterable, timesteps: Optional[Iterable] = None, num_groups: int = 1,
            num_train_timesteps: int = 1000, layer_filter: Optional[LayerFilter] = None,
            accum_device=None) -> dict:
    """Run ``model`` over ``batches`` (each ``(args, kwargs)``; a bare tensor or tuple is taken as
    args) with ``timesteps[i]`` the timestep of batch i (``None``: 0 for all) and return the
    statistics (see the module docstring)."""
    cap = CalibrationCapture(model, num_groups, num_train_timesteps, layer_filter, accum_device)
    ts = iter(itertools.repeat(0) if timesteps is None else timesteps)
    was_training = model.training
    count = 0
    try:
        model.eval()
        with cap, torch.no_grad():
            for batch in batches:
                t = next(ts, _MISSING)
                if t is _MISSING:
                    raise ValueError(f"fewer timesteps than batches ({count})")
                args, kwargs = _split_batch(batch)
                cap.set_timesteps(t)
                model(*args, **kwargs)
                count += 1
        if timesteps is not None and next(ts, _MISSING) is not _MISSING:
            raise ValueError(f"more timesteps than batches ({count})")
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("no batches")
    return cap.result()


def _split_batch(batch) -> tuple:
    if torch.is_tensor(batch):
        return (batch,), {}
    if isinstance(batch, Mapping):
        return (), dict(batch)
    if isinstance(batch, (list, tuple)) and len(batch) == 2 and isinstance(batch[1], Mapping):
        args = batch[0]
        return (tuple(args) if isinstance(args, (list, tuple)) else (args,)), dict(batch[1])
    if isinstance(batch, (list, tuple)):
        return tuple(batch), {}
    raise TypeError(f"a batch must be (args, kwargs), got {type(batch).__name__}")


# --------------------------------------------------------------------------- writing

_DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
           torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
           torch.bool: "BOOL"}


def save(stats: Mapping, path) -> None:
    """Write ``stats`` (as returned by ``capture``) as a safetensors file."""
    meta = {str(k): str(v) for k, v in dict(stats.get(METADATA, {})).items()}
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in stats.items() if k != METADATA}
    try:
        from safetensors.torch import save_file
    except ImportError:
        _write_safetensors(tensors, path, meta)
    else:
        save_file(tensors, str(path), metadata=meta)


def _write_safetensors(tensors: Mapping, path, metadata: Mapping) -> None:
    """A minimal safetensors writer (little-endian data, 8-byte aligned header)."""
    if sys.byteorder != "little":
        raise RuntimeError("the built-in safetensors writer needs a little-endian host; install safetensors")
    header: dict = {}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name]
        if t.dtype not in _DTYPES:
            raise TypeError(f"{name}: dtype {t.dtype} not supported")
        nbytes = t.numel() * t.element_size()
        blobs.append(ctypes.string_at(t.data_ptr(), nbytes) if nbytes else b"")
        header[name] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    if metadata:
        header[METADATA] = dict(metadata)
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)


# --------------------------------------------------------------------------- command line

def _make_filter(include: Sequence[str], exclude: Sequence[str]) -> Optional[LayerFilter]:
    if not include and not exclude:
        return None
    inc = [re.compile(p) for p in include]
    exc = [re.compile(p) for p in exclude]

    def keep(name: str, module: nn.Module) -> bool:
        if inc and not any(p.search(name) for p in inc):
            return False
        return not any(p.search(name) for p in exc)

    return keep


def _read_prompts(path: str, n: int) -> list:
    with open(path, encoding="utf-8") as f:
        prompts = [line.strip() for line in f if line.strip()]
    if not prompts:
        raise SystemExit(f"{path}: no prompts")
    return prompts[:n] if n > 0 else prompts


def _cli_transformers(a, dtype, layer_filter) -> dict:
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise SystemExit("--kind transformers needs the transformers package") from None
    import transformers

    tok = AutoTokenizer.from_pretrained(a.model)
    version = tuple(int(v) for v in re.findall(r"\d+", transformers.__version__)[:2])
    dtype_kw = "dtype" if version >= (4, 56) else "torch_dtype"  # renamed in 4.56
    model = AutoModelForCausalLM.from_pretrained(a.model, **{dtype_kw: dtype}).to(a.device)
    prompts = _read_prompts(a.prompts, a.num_samples)

    def batches():
        for p in prompts:
            enc = tok(p, return_tensors="pt", truncation=True, max_length=a.max_length)
            yield (), {k: v.to(a.device) for k, v in enc.items()}

    return capture(model, batches(), None, 1, a.num_train_timesteps or 1000, layer_filter, a.accum_device)


def _cli_diffusers(a, dtype, layer_filter) -> dict:
    try:
        from diffusers import DiffusionPipeline
    except ImportError:
        raise SystemExit("--kind diffusers needs the diffusers package") from None
    pipe = DiffusionPipeline.from_pretrained(a.model, torch_dtype=dtype).to(a.device)
    denoiser = getattr(pipe, "transformer", None) or getattr(pipe, "unet", None)
    if denoiser is None:
        raise SystemExit("the pipeline has neither a transformer nor a unet")
    T = a.num_train_timesteps or int(getattr(pipe.scheduler.config, "num_train_timesteps", 1000))
    cap = CalibrationCapture(denoiser, a.num_groups, T, layer_filter, a.accum_device)
    prompts = _read_prompts(a.prompts, a.num_samples)
    with cap:
        cap.timestep_from_argument(denoiser, "timestep", scale=a.timestep_scale)
        for i, p in enumerate(prompts):
            gen = torch.Generator(device="cpu").manual_seed(a.seed + i)
            pipe(p, num_inference_steps=a.steps, generator=gen, output_type="latent")
    return cap.result()


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(
        description="Capture ArrowQuant calibration statistics (Hessian, activation abs-max and range "
                    "per timestep group) from a transformers causal LM or a diffusers pipeline's denoiser, "
                    "and write them to a safetensors file. Layer names are state_dict prefixes of the "
                    "LM, or of the denoiser (pipe.transformer / pipe.unet).",
    )
    ap.add_argument("--model", required=True, help="model directory (or hub id, if the hub is reachable)")
    ap.add_argument("--kind", choices=["auto", "transformers", "diffusers"], default="auto",
                    help="auto: diffusers when the directory has model_index.json")
    ap.add_argument("--prompts", required=True, help="text file, one calibration prompt per line")
    ap.add_argument("--out", required=True, help="output .safetensors file")
    ap.add_argument("--num-samples", type=int, default=0, help="use the first N prompts (0: all)")
    ap.add_argument("--max-length", type=int, default=512, help="transformers: tokens per prompt")
    ap.add_argument("--num-groups", type=int, default=8, help="diffusers: timestep groups G")
    ap.add_argument("--num-train-timesteps", type=int, default=0,
                    help="T (default: the scheduler's num_train_timesteps, or 1000)")
    ap.add_argument("--steps", type=int, default=20, help="diffusers: inference steps per prompt")
    ap.add_argument("--timestep-scale", type=float, default=None,
                    help="diffusers: multiply the denoiser's timestep argument by this (default: x T when "
                         "it is a fraction in [0, 1], as Flux passes it, else x 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], default="float32")
    ap.add_argument("--accum-device", default=None, help="where the float64 Hessian sums live (default: with the inputs)")
    ap.add_argument("--include", action="append", default=[], help="regex; capture only matching layer names")
    ap.add_argument("--exclude", action="append", default=[], help="regex; skip matching layer names (e.g. lm_head)")
    a = ap.parse_args(argv)

    kind = a.kind
    if kind == "auto":
        from pathlib import Path
        kind = "diffusers" if (Path(a.model) / "model_index.json").is_file() else "transformers"
    dtype = getattr(torch, a.dtype)
    layer_filter = _make_filter(a.include, a.exclude)
    stats = (_cli_diffusers if kind == "diffusers" else _cli_transformers)(a, dtype, layer_filter)
    save(stats, a.out)
    meta = stats[METADATA]
    layers = sum(1 for k in stats if k.endswith(".hessian") or k == "hessian")
    groups = len(json.loads(meta["timestep_groups"]))
    print(f"{a.out}: {layers} layers, {groups} timestep groups, nsamples {meta['nsamples']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
