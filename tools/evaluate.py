#!/usr/bin/env python3
"""End-to-end check of an ArrowQuant file: run the ORIGINAL model and the QUANTIZED one on the same
inputs and compare what each kind of model is used for.

    .venv-torch/bin/python tools/evaluate.py ORIGINAL QUANTIZED [--inputs prompts.txt] [--json]
        [--min-cosine 0.99] [--max-kl 0.05] [--min-top1 0.9] [--min-psnr 30] [--min-ssim 0.9]

ORIGINAL is the model folder that was quantized (a transformers / sentence-transformers folder, a
diffusers model folder with a ``_class_name`` config, or a diffusers pipeline folder with
``model_index.json``). QUANTIZED is the ArrowQuant ``.parquet`` file (exported here with
``arrowquant export FILE --to safetensors -o DIR``, i.e. ``node dist/cli/main.js``), or a folder
that export already wrote (or any folder laid out like ORIGINAL: ORIGINAL itself gives the exact
"no change" figures: cosine 1, KL 0, infinite PSNR).

What is measured, per kind (docs/EVALUATE.md explains how to read it):

* ``encoder`` (BERT-like text encoders, sentence-transformers, CLIP / T5 text encoders of a
  pipeline): cosine of the pooled sentence embedding (mean pooling, or the pooling of a
  sentence-transformers ``1_Pooling/config.json``), mean and worst over the inputs, and the
  per-token cosine of the last hidden state (mean, worst).
* ``lm`` (causal LMs, masked LMs, diffusion LMs): per token, KL(original || quantized) of the
  next-token / token distributions in nats (mean, max) and top-1 agreement. Masked LMs get a
  fraction of their tokens replaced by the mask token (``--mask-ratio``, 0.15 by default for a
  ``*ForMaskedLM``) and the masked positions are also reported on their own.
* ``denoiser`` (diffusers DiT / PixArt / UNet / SD3 / Flux transformers and UNets): the output of
  one forward at several timesteps spread over the schedule (``--timesteps``, 5 by default:
  t = (i + 1/2)·T/n), on seeded random latents and seeded random conditioning of the shapes the
  config gives; PSNR (peak = the original output's range) and per-sample cosine.
* ``vae`` (a pipeline's autoencoder): reconstruction of seeded smooth synthetic images in [-1, 1]:
  PSNR (peak 2) and cosine between the two reconstructions.
* a whole diffusers pipeline (``--pipeline-images N``, off by default): N images generated with
  the same seeds by the original pipeline and by the one with the quantized components; PSNR
  (images in [0, 1]) and SSIM (11-pixel Gaussian window). Only cheap for small pipelines on CPU.

Without ``--inputs``, text models get 16 built-in sentences (or, without a tokenizer, seeded random
token ids) and the output says so. The quantized weights are loaded exactly as the original ones:
the same class's ``from_pretrained`` on a folder holding the original's config files and the
exported weights, after checking that every exported file has exactly the original checkpoint's
tensor names and shapes.

Exit codes: 0 all figures computed and within the thresholds given; 2 the two cannot be compared
(tensor names or shapes differ, a missing file, a failed export; the message names the file and
tensor); 3 a threshold failed (the failing figures are listed). ``--json`` prints a JSON document
instead of the table.

Dependencies: torch, safetensors-free (headers are read here), ``transformers`` and/or
``diffusers`` for the model kinds used (scripts/setup-evaluate.sh installs the pinned ones).
"""
from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import math
import os
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parents[1]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import warnings  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

EXIT_MISMATCH = 2
EXIT_THRESHOLD = 3
KINDS = ("encoder", "lm", "denoiser", "vae")
DEFAULT_RANDOM_TEXT_INPUTS = 8
DEFAULT_RANDOM_TOKENS = 32
DEFAULT_DENOISER_SAMPLES = 4
DEFAULT_VAE_IMAGES = 2

# The inputs used when --inputs is not given: varied in style and length, none domain-specific.
SAMPLE_SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Preheat the oven to two hundred degrees and grease a shallow baking tin.",
    "Could you tell me where the nearest pharmacy is?",
    "Water boils at a lower temperature on a high mountain because the air pressure is lower.",
    "The database query timed out after thirty seconds, so the page showed an error.",
    "A watercolor painting of a lighthouse on a rocky coast at sunset.",
    "Honestly, I think the second version of the plan is much better than the first.",
    "def add(a, b): return a + b",
    "The committee will publish its final report at the end of next month.",
    "A photo of a red bicycle leaning against a brick wall in the rain.",
    "Bees communicate the direction of flowers to each other by dancing.",
    "Turn left at the church, then take the second road on the right.",
    "In 1969, two astronauts walked on the Moon while a third orbited above them.",
    "The compiler reported a type error on line forty-two of the parser.",
    "A cozy reading corner with a green armchair, a lamp and a stack of old books.",
    "Every backup should be tested by actually restoring it at least once.",
]


class EvalError(Exception):
    """The two models cannot be compared (exit 2); the message names the file / tensor."""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- safetensors headers

def read_header(path: Path) -> dict:
    """name -> (dtype, shape) from a safetensors file's JSON header."""
    try:
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            if n > 100_000_000:
                raise EvalError(f"{path}: not a safetensors file (header length {n})")
            header = json.loads(f.read(n))
    except (OSError, struct.error, ValueError) as e:
        raise EvalError(f"{path}: cannot read its safetensors header ({e})") from None
    return {k: (v["dtype"], tuple(v["shape"])) for k, v in header.items() if k != "__metadata__"}


def weight_files(folder: Path) -> list:
    return sorted(p for p in folder.glob("*.safetensors") if p.is_file())


def header_of(files: list) -> dict:
    """name -> (dtype, shape, file) over all the files of a checkpoint (shards)."""
    out: dict = {}
    for p in files:
        for name, (dtype, shape) in read_header(p).items():
            out.setdefault(name, (dtype, shape, p))
    return out


_EXPORTED: dict = {}  # the temporary export folder -> the .parquet it came from (for messages)


def shown(p) -> str:
    """A path as messages show it: an exported file as `FILE.parquet (exported: part/name)`."""
    p = Path(p)
    for folder, parquet in _EXPORTED.items():
        try:
            rel = p.relative_to(folder)
        except ValueError:
            continue
        return f"{parquet} (exported {rel})"
    return str(p)


def _few(names) -> str:
    names = sorted(names)
    s = ", ".join(f'"{n}"' for n in names[:5])
    return s + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def check_match(orig_dir: Path, quant_files: list, label: str) -> None:
    """The exported checkpoint must hold exactly the original's tensor names and shapes."""
    orig_files = weight_files(orig_dir)
    if not orig_files:
        raise EvalError(f"{label}: {orig_dir} has no *.safetensors file")
    o = header_of(orig_files)
    q = header_of(quant_files)
    qf = ", ".join(shown(p) for p in quant_files)
    missing = set(o) - set(q)
    extra = set(q) - set(o)
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"{len(missing)} tensor(s) of the original ({orig_files[0].name}"
                         f"{' …' if len(orig_files) > 1 else ''}) are not in the quantized file: {_few(missing)}")
        if extra:
            parts.append(f"{len(extra)} tensor(s) of the quantized file are not in the original: {_few(extra)}")
        raise EvalError(f"{label}: tensor names differ between {orig_dir} and {qf}: " + "; ".join(parts)
                        + ". Is the quantized file made from this model?")
    for name in sorted(o):
        if o[name][1] != q[name][1]:
            raise EvalError(f"{label}: tensor \"{name}\" has shape {list(q[name][1])} in {shown(q[name][2])} but "
                            f"{list(o[name][1])} in {o[name][2]}. Is the quantized file made from this model?")


# --------------------------------------------------------------------------- export

def cli_command(arg: Optional[str]) -> list:
    if arg:
        return shlex.split(arg)
    if os.environ.get("ARROWQUANT_CLI"):
        return shlex.split(os.environ["ARROWQUANT_CLI"])
    main_js = ROOT / "dist" / "cli" / "main.js"
    if main_js.is_file():
        return ["node", str(main_js)]
    exe = shutil.which("arrowquant")
    if exe:
        return [exe]
    raise EvalError("cannot find the ArrowQuant CLI (no dist/cli/main.js: run `npm run build`, or pass --arrowquant CMD)")


def export(parquet: Path, out_dir: Path, component: Optional[str], cli: list) -> None:
    cmd = [*cli, "export", str(parquet), "--to", "safetensors", "-o", str(out_dir)]
    if component:
        cmd += ["--component", component]
    log(f"exporting: {' '.join(shlex.quote(c) for c in cmd)}")
    try:
        r = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as e:
        raise EvalError(f"cannot run the ArrowQuant CLI {cli[0]!r}: {e}") from None
    if r.returncode != 0:
        msg = (r.stderr.strip() or r.stdout.strip()).splitlines()
        raise EvalError(f"{parquet}: `arrowquant export` failed (exit {r.returncode}): " + " ".join(msg[-5:]))


def source_notes(parquet: Path, orig: Path, component: Optional[str]) -> list:
    """The file's footer lists the source files it was made from with their sizes (and BLAKE3,
    which `arrowquant verify` checks): a note for each that ORIGINAL lacks or has at another size.
    Needs pyarrow; without it, nothing is checked here."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return []
    try:
        meta = pq.read_metadata(str(parquet)).metadata or {}
        sources = json.loads(meta.get(b"arrowquant.sources", b"[]"))
    except (OSError, ValueError) as e:
        return [f"{parquet}: cannot read its footer ({e})"]
    pipeline = (orig / "model_index.json").is_file()
    notes = []
    for s in sources:
        f = s["file"]
        if component and "/" in f and not f.startswith(component + "/"):
            continue  # another component's file
        p = orig / f if pipeline or "/" not in f else orig / f.split("/", 1)[1]
        if not p.is_file():
            notes.append(f"{parquet.name} was made from {f}, which {orig} does not have")
        elif p.stat().st_size != s["bytes"]:
            notes.append(f"{parquet.name} was made from a {f} of {s['bytes']} bytes; {p} has "
                         f"{p.stat().st_size}: not the same file (another dtype or checkpoint?)")
    return notes


# --------------------------------------------------------------------------- what to evaluate

class Unit:
    """One model to compare: the original folder, the exported weights, how to load and run it."""

    def __init__(self, name: str, orig_dir: Path, quant_files: list, library: str, class_name: Optional[str],
                 kind: str, config: dict, tokenizer_dir: Optional[Path] = None):
        self.name, self.orig_dir, self.quant_files = name, orig_dir, quant_files
        self.library, self.class_name, self.kind, self.config = library, class_name, kind, config
        self.tokenizer_dir = tokenizer_dir
        self.masked = False  # lm: a masked (or diffusion) LM rather than a causal one


def load_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise EvalError(f"{path}: cannot read it ({e})") from None


def diffusers_kind(class_name: str) -> Optional[str]:
    if class_name.startswith(("Autoencoder", "VQModel", "AsymmetricAutoencoder", "ConsistencyDecoderVAE")):
        return "vae"
    if class_name.startswith("UNet") or "Transformer" in class_name or class_name.endswith("DiT2DModel"):
        return "denoiser"
    return None


def transformers_kind(config: dict, class_name: Optional[str]) -> tuple:
    """(kind, masked) from the class name, else config.json's architectures."""
    arch = class_name or (config.get("architectures") or [None])[0] or ""
    if "MaskedLM" in arch:
        return "lm", True
    if "CausalLM" in arch or "LMHeadModel" in arch:
        return "lm", False
    auto_map = config.get("auto_map") or {}
    if "AutoModelForCausalLM" in auto_map:
        return "lm", False
    if "AutoModelForMaskedLM" in auto_map:
        return "lm", True
    return "encoder", False


def make_unit(name: str, orig_dir: Path, quant_files: list, kind_override: Optional[str],
              lib_class: Optional[tuple] = None, tokenizer_dir: Optional[Path] = None) -> Unit:
    cfg_path = orig_dir / "config.json"
    if not cfg_path.is_file():
        raise EvalError(f"{name}: {orig_dir} has no config.json (evaluate needs a transformers or diffusers model folder)")
    config = load_json(cfg_path)
    if lib_class:
        library, class_name = lib_class
    elif "_class_name" in config:
        library, class_name = "diffusers", config["_class_name"]
    else:
        library, class_name = "transformers", None
    masked = False
    if library == "diffusers":
        kind = diffusers_kind(class_name)
    else:
        kind, masked = transformers_kind(config, class_name)
    if kind_override:
        if kind_override == "lm" and kind != "lm":
            masked = False
        kind = kind_override
    if kind is None:
        raise EvalError(f"{name}: no measurement for a {class_name} (pass --kind {'|'.join(KINDS)})")
    if library == "diffusers" and kind in ("encoder", "lm") or library == "transformers" and kind in ("denoiser", "vae"):
        raise EvalError(f"{name}: --kind {kind} does not apply to a {library} model")
    u = Unit(name, orig_dir, quant_files, library, class_name, kind, config, tokenizer_dir)
    u.masked = masked
    return u


def plan_units(orig: Path, quant_dir: Path, component: Optional[str], kind: Optional[str]) -> tuple:
    """The units to evaluate and notes about what was left out."""
    notes = []
    if (orig / "model_index.json").is_file():
        index = load_json(orig / "model_index.json")
        comps = [c for c, v in index.items()
                 if not c.startswith("_") and isinstance(v, list) and len(v) == 2 and v[0] is not None]
        if component:
            if component not in comps:
                raise EvalError(f"{orig}/model_index.json has no component \"{component}\" (it has {', '.join(comps)})")
            comps = [component]
        qcomps = sorted(p.name for p in quant_dir.iterdir() if p.is_dir() and weight_files(p))
        if not qcomps and weight_files(quant_dir):
            if component:  # a folder export of one component, weights at its root
                return [make_unit(component, orig / component, weight_files(quant_dir), kind,
                                  tuple(index[component]), _tokenizer_for(orig, component))], notes
            raise EvalError(f"{shown(quant_dir)} holds a single model but {orig} is a diffusers pipeline "
                            f"({', '.join(comps)}); pass --component NAME to compare one component")
        units = []
        for c in comps:
            cdir = orig / c
            if not weight_files(cdir):
                continue  # scheduler, tokenizer, feature extractor: no weights
            if c not in qcomps:
                notes.append(f"{c}: not in the quantized export, not evaluated")
                continue
            lib, cls = index[c]
            if lib not in ("transformers", "diffusers"):
                notes.append(f"{c}: a {lib} {cls}, not evaluated")
                continue
            u_kind = kind if component else None
            if lib == "transformers" and ("Vision" in cls or "Image" in cls) and not u_kind:
                check_match(cdir, weight_files(quant_dir / c), c)
                notes.append(f"{c}: no measurement for an image encoder ({cls}; names and shapes match)")
                continue
            if lib == "diffusers" and diffusers_kind(cls) is None and not u_kind:
                check_match(cdir, weight_files(quant_dir / c), c)
                notes.append(f"{c}: no measurement for a {cls} (names and shapes match)")
                continue
            units.append(make_unit(c, cdir, weight_files(quant_dir / c), u_kind, (lib, cls), _tokenizer_for(orig, c)))
        extra = [c for c in qcomps if c not in comps]
        if extra and not component:
            raise EvalError(f"the quantized export has component(s) {', '.join(extra)} that {orig}/model_index.json "
                            "does not list. Is the quantized file made from this pipeline?")
        if not units:
            raise EvalError(f"nothing to compare: no component of {orig} with weights is in the quantized export "
                            f"({', '.join(qcomps) or 'none'})")
        return units, notes
    # A single model folder.
    qcomps = sorted(p.name for p in quant_dir.iterdir() if p.is_dir() and weight_files(p))
    qfiles = weight_files(quant_dir)
    if not qfiles:
        if component and component in qcomps:
            qfiles = weight_files(quant_dir / component)
        elif qcomps:
            raise EvalError(f"the quantized file is a diffusers pipeline (components {', '.join(qcomps)}) but {orig} "
                            "is a single model folder: pass the pipeline folder, or --component NAME with the "
                            "component's folder")
        else:
            raise EvalError(f"{shown(quant_dir)}: no *.safetensors file")
    name = orig.name or str(orig)
    return [make_unit(name, orig, qfiles, kind, None, orig)], notes


def _tokenizer_for(pipeline_dir: Path, component: str) -> Optional[Path]:
    if not component.startswith("text_encoder"):
        return None
    t = pipeline_dir / component.replace("text_encoder", "tokenizer")
    return t if t.is_dir() else None


# --------------------------------------------------------------------------- loading

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".msgpack", ".h5", ".ckpt", ".pt", ".pth", ".gguf")


@contextlib.contextmanager
def staged(unit: Unit, files: list):
    """A temporary folder that is the original folder with its weights replaced by `files`."""
    with tempfile.TemporaryDirectory(prefix="arrowquant-eval-") as tmp:
        d = Path(tmp)
        for p in unit.orig_dir.iterdir():
            if p.is_file() and (p.name.endswith(_WEIGHT_SUFFIXES) or p.name.endswith(".index.json")):
                continue
            (d / p.name).symlink_to(p.resolve())
        target = "diffusion_pytorch_model.safetensors" if unit.library == "diffusers" else "model.safetensors"
        if len(files) == 1:
            (d / target).symlink_to(Path(files[0]).resolve())
        else:  # shards as they are, with an index for them
            weight_map = {}
            for p in files:
                (d / p.name).symlink_to(Path(p).resolve())
                for name in read_header(p):
                    weight_map[name] = p.name
            (d / f"{target}.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
        yield d


def model_class(unit: Unit, trust_remote_code: bool):
    if unit.library == "diffusers":
        import diffusers
        cls = getattr(diffusers, unit.class_name, None)
        if cls is None:
            raise EvalError(f"{unit.name}: diffusers {diffusers.__version__} has no class {unit.class_name}")
        return cls
    import transformers
    if unit.class_name:  # a pipeline component: the class model_index.json names
        cls = getattr(transformers, unit.class_name, None)
        if cls is None:
            raise EvalError(f"{unit.name}: transformers {transformers.__version__} has no class {unit.class_name}")
        return cls
    arch = (unit.config.get("architectures") or [None])[0]
    if unit.kind == "encoder":
        if arch and "For" not in arch and hasattr(transformers, arch):
            return getattr(transformers, arch)  # BertModel, T5EncoderModel, CLIPTextModel, ...
        return transformers.AutoModel
    auto = transformers.AutoModelForMaskedLM if unit.masked else transformers.AutoModelForCausalLM
    if trust_remote_code and arch and auto.__name__ not in (unit.config.get("auto_map") or {}):
        return transformers.AutoModel  # e.g. a diffusion LM whose AutoModel returns logits
    return auto


def load(unit: Unit, folder: Path, dtype, trust_remote_code: bool, fill: Optional[dict] = None):
    """from_pretrained(folder); returns (model, {name: tensor} of the parameters the checkpoint did
    not have). `fill` gives those their values from the original load (they are random otherwise)."""
    cls = model_class(unit, trust_remote_code)
    kw: dict = {"torch_dtype": dtype, "output_loading_info": True, "local_files_only": True}
    if unit.library == "transformers" and trust_remote_code:
        kw["trust_remote_code"] = True
    if unit.library == "transformers":
        import transformers
        transformers.logging.set_verbosity_error()
    else:
        import diffusers
        diffusers.utils.logging.set_verbosity_error()
    torch.manual_seed(0)
    try:
        model, info = cls.from_pretrained(str(folder), **kw)
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise EvalError(f"{unit.name}: {cls.__name__}.from_pretrained({folder}) failed: {e}") from None
    model.eval()
    missing = list(info.get("missing_keys") or [])
    mismatched = info.get("mismatched_keys") or []
    if mismatched:
        raise EvalError(f"{unit.name}: {cls.__name__} could not load tensor(s) of another shape: {mismatched[:5]}")
    state = model.state_dict()
    not_loaded = {k: state[k].detach().clone() for k in missing if k in state}
    if fill:
        with torch.no_grad():
            for k, v in fill.items():
                if k in state:
                    state[k].copy_(v)
    return model, not_loaded


# --------------------------------------------------------------------------- metrics

def cosine(a: torch.Tensor, b: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Cosine in float64; exactly 1 for identical vectors (sqrt(fl(x*x)) == x)."""
    a, b = a.double(), b.double()
    dot = (a * b).sum(dim)
    na, nb = (a * a).sum(dim), (b * b).sum(dim)
    den = torch.sqrt(na * nb)
    out = torch.where(den > 0, dot / den.clamp(min=1e-300), torch.where((na == 0) & (nb == 0), 1.0, 0.0).double())
    return out.clamp(-1.0, 1.0)


def psnr(ref: torch.Tensor, test: torch.Tensor, peak: Optional[float] = None) -> float:
    """10·log10(peak² / MSE) in dB; peak defaults to the range of `ref`. inf when identical."""
    ref, test = ref.double(), test.double()
    mse = ((ref - test) ** 2).mean().item()
    if peak is None:
        peak = (ref.max() - ref.min()).item()
    if mse == 0:
        return math.inf
    if peak <= 0:
        return -math.inf
    return 10.0 * math.log10(peak * peak / mse)


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> float:
    """Mean SSIM of two [C, H, W] images (Gaussian window 11, sigma 1.5, per channel, valid region)."""
    x, y = x.double().unsqueeze(0), y.double().unsqueeze(0)
    c = x.shape[1]
    size = min(11, x.shape[-1], x.shape[-2])
    size -= 1 - size % 2
    g = torch.exp(-((torch.arange(size, dtype=torch.float64) - size // 2) ** 2) / (2 * 1.5 ** 2))
    g = g / g.sum()
    w = (g[:, None] * g[None, :]).expand(c, 1, size, size).contiguous()
    f = lambda t: F.conv2d(t, w, groups=c)  # noqa: E731
    mx, my = f(x), f(y)
    sxx, syy, sxy = f(x * x) - mx * mx, f(y * y) - my * my, f(x * y) - mx * my
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return m.mean().item()


# --------------------------------------------------------------------------- inputs

class TextInputs:
    def __init__(self, ids: list, source: str, special: Optional[list] = None):
        self.ids = ids  # list of 1-D int64 tensors
        self.source = source
        self.special = special  # per input: bool tensor, True at special tokens


def text_inputs(unit: Unit, a, prompts: Optional[list]) -> TextInputs:
    tok = None
    tdir = unit.tokenizer_dir
    if tdir is not None and any((tdir / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt",
                                                               "spiece.model", "vocab.json")):
        from transformers import AutoTokenizer
        try:
            tok = AutoTokenizer.from_pretrained(str(tdir), local_files_only=True,
                                                **({"trust_remote_code": True} if a.trust_remote_code else {}))
        except (OSError, ValueError) as e:
            if prompts is not None:
                raise EvalError(f"{unit.name}: cannot load the tokenizer of {tdir} ({e})") from None
            log(f"{unit.name}: no usable tokenizer in {tdir} ({e}); using random token ids")
    if tok is None:
        if prompts is not None:
            raise EvalError(f"{unit.name}: --inputs needs a tokenizer, and {tdir or unit.orig_dir} has none")
        vocab = int(unit.config.get("vocab_size") or 0)
        if vocab <= 0:
            raise EvalError(f"{unit.name}: no tokenizer and no vocab_size in config.json: pass --inputs with a tokenizer")
        length = min(DEFAULT_RANDOM_TOKENS, int(unit.config.get("max_position_embeddings") or DEFAULT_RANDOM_TOKENS))
        n = a.num_inputs or DEFAULT_RANDOM_TEXT_INPUTS
        g = torch.Generator().manual_seed(a.seed)
        ids = [torch.randint(0, vocab, (length,), generator=g) for _ in range(n)]
        return TextInputs(ids, f"{n} sequences of {length} seeded random token ids (seed {a.seed}; no tokenizer in "
                               f"{tdir or unit.orig_dir}, no --inputs)")
    if prompts is None:
        texts = SAMPLE_SENTENCES[: a.num_inputs or None]
        source = f"{len(texts)} built-in sample sentences (no --inputs given)"
    else:
        texts = prompts
        source = f"{len(texts)} lines of {a.inputs}"
    max_len = a.max_length
    st = unit.orig_dir / "sentence_bert_config.json"
    if st.is_file() and not a.max_length_given:
        max_len = int(load_json(st).get("max_seq_length") or max_len)
    tml = getattr(tok, "model_max_length", None)
    if isinstance(tml, int) and 0 < tml < max_len:
        max_len = tml
    ids, special = [], []
    specials = set(tok.all_special_ids)
    for t in texts:
        e = tok(t, truncation=True, max_length=max_len, return_tensors="pt")["input_ids"][0]
        if e.numel() == 0:
            raise EvalError(f"{unit.name}: input {t!r} has no tokens")
        ids.append(e)
        special.append(torch.tensor([int(i) in specials for i in e.tolist()]))
    unit.tokenizer = tok
    return TextInputs(ids, source, special)


def mask_inputs(unit: Unit, a, inputs: TextInputs) -> tuple:
    """For a masked LM: (masked ids, masked-position masks, ratio, mask id) or ratio 0."""
    ratio = a.mask_ratio
    mask_id = a.mask_token_id
    tok = getattr(unit, "tokenizer", None)
    if mask_id is None and tok is not None and getattr(tok, "mask_token_id", None) is not None:
        mask_id = tok.mask_token_id
    if mask_id is None and unit.config.get("mask_token_id") is not None:
        mask_id = int(unit.config["mask_token_id"])
    if ratio is None:
        ratio = 0.15 if unit.masked and mask_id is not None else 0.0
    if ratio <= 0:
        return inputs.ids, None, 0.0, None
    if mask_id is None:
        raise EvalError(f"{unit.name}: --mask-ratio needs a mask token id (the tokenizer and config have none): "
                        "pass --mask-token-id")
    g = torch.Generator().manual_seed(a.seed + 1)
    out, where = [], []
    for i, ids in enumerate(inputs.ids):
        eligible = ~inputs.special[i] if inputs.special is not None else torch.ones_like(ids, dtype=torch.bool)
        pick = (torch.rand(ids.shape, generator=g) < ratio) & eligible
        if not pick.any() and eligible.any():  # at least one masked token per input
            pick[eligible.nonzero()[0]] = True
        m = ids.clone()
        m[pick] = mask_id
        out.append(m)
        where.append(pick)
    return out, where, ratio, mask_id


def pooling_of(unit: Unit) -> str:
    p = unit.orig_dir / "1_Pooling" / "config.json"
    if p.is_file():
        c = load_json(p)
        for key, mode in (("pooling_mode_cls_token", "cls"), ("pooling_mode_max_tokens", "max"),
                          ("pooling_mode_mean_tokens", "mean")):
            if c.get(key):
                return mode
    return "mean"


def denoiser_inputs(unit: Unit, a, num_train_timesteps: int) -> tuple:
    """(list of (timestep, kwargs) for each timestep, description). One set of latents and
    conditioning (seeded) for all timesteps, so the timesteps differ only by t."""
    import diffusers
    cfg = unit.config
    cls = getattr(diffusers, unit.class_name)
    params = inspect.signature(cls.forward).parameters
    names = list(params)[1:]
    b = a.num_inputs or DEFAULT_DENOISER_SAMPLES
    g = torch.Generator().manual_seed(a.seed)
    flux = "Flux" in unit.class_name
    flow = flux or "SD3" in unit.class_name
    ch = int(cfg.get("in_channels") or 4)
    size = a.latent_size or cfg.get("sample_size") or 64
    hw = tuple(size) if isinstance(size, (list, tuple)) else (int(size), int(size))
    kw: dict = {}
    desc = []
    first = names[0]
    if flux:  # packed 2x2 latents: [B, (H/2)(W/2), C*4]
        h2, w2 = hw[0] // 2, hw[1] // 2
        kw[first] = torch.randn(b, h2 * w2, ch, generator=g)
        ids = torch.zeros(h2, w2, 3)
        ids[..., 1] = torch.arange(h2)[:, None]
        ids[..., 2] = torch.arange(w2)[None, :]
        kw["img_ids"] = ids.reshape(h2 * w2, 3)
        desc.append(f"latents [{b}, {h2 * w2}, {ch}] (packed {hw[0]}x{hw[1]})")
    else:
        kw[first] = torch.randn(b, ch, *hw, generator=g)
        desc.append(f"latents [{b}, {ch}, {hw[0]}, {hw[1]}]")
    cond_dim = None
    for key in ("caption_channels", "joint_attention_dim"):
        if cfg.get(key):
            cond_dim = int(cfg[key])
            break
    if cond_dim is None and cfg.get("encoder_hid_dim") and cfg.get("encoder_hid_dim_type"):
        cond_dim = int(cfg["encoder_hid_dim"])
    if cond_dim is None and cfg.get("cross_attention_dim"):
        c = cfg["cross_attention_dim"]
        cond_dim = int(c[0] if isinstance(c, (list, tuple)) else c)
    if "encoder_hidden_states" in params and cond_dim:
        s = a.cond_tokens
        kw["encoder_hidden_states"] = torch.randn(b, s, cond_dim, generator=g)
        desc.append(f"conditioning [{b}, {s}, {cond_dim}]")
        if flux:
            kw["txt_ids"] = torch.zeros(s, 3)
    if "pooled_projections" in params and cfg.get("pooled_projection_dim"):
        kw["pooled_projections"] = torch.randn(b, int(cfg["pooled_projection_dim"]), generator=g)
        desc.append(f"pooled [{b}, {cfg['pooled_projection_dim']}]")
    if "class_labels" in params:
        n_cls = None
        if cfg.get("norm_type") == "ada_norm_zero" and cfg.get("num_embeds_ada_norm"):
            n_cls = int(cfg["num_embeds_ada_norm"])
        elif cfg.get("num_class_embeds"):
            n_cls = int(cfg["num_class_embeds"])
        if n_cls:
            kw["class_labels"] = torch.randint(0, n_cls, (b,), generator=g)
            desc.append(f"class labels of {n_cls}")
    if "guidance" in params and cfg.get("guidance_embeds"):
        kw["guidance"] = torch.full((b,), 3.5)
        desc.append("guidance 3.5")
    if "added_cond_kwargs" in params:
        px = (hw[0] * 8, hw[1] * 8)
        if cfg.get("norm_type") == "ada_norm_single" or "PixArt" in unit.class_name:
            kw["added_cond_kwargs"] = {"resolution": torch.tensor([px] * b, dtype=torch.float32),
                                       "aspect_ratio": torch.full((b, 1), px[0] / px[1])}
        elif cfg.get("addition_embed_type") == "text_time":
            tdim = int(cfg["projection_class_embeddings_input_dim"]) - 6 * int(cfg["addition_time_embed_dim"])
            kw["added_cond_kwargs"] = {"text_embeds": torch.randn(b, tdim, generator=g),
                                       "time_ids": torch.tensor([[px[0], px[1], 0, 0, px[0], px[1]]] * b,
                                                                dtype=torch.float32)}
            desc.append(f"SDXL text_embeds [{b}, {tdim}] and time_ids")
    n = a.timesteps
    steps = []
    for i in range(n):
        t = int((i + 0.5) * num_train_timesteps / n)
        if flux:
            tt = torch.full((b,), t / num_train_timesteps)
        elif flow:
            tt = torch.full((b,), float(t))
        else:
            tt = torch.full((b,), t, dtype=torch.long)
        steps.append((t, dict(kw, timestep=tt)))
    desc.append(f"{n} timestep(s) of {num_train_timesteps}: {', '.join(str(t) for t, _ in steps)}")
    return steps, f"{b} seeded random samples (seed {a.seed}): " + ", ".join(desc)


def vae_inputs(unit: Unit, a) -> tuple:
    cfg = unit.config
    b = a.num_inputs or DEFAULT_VAE_IMAGES
    size = a.image_size or min(int(cfg.get("sample_size") or 128) if not isinstance(cfg.get("sample_size"), list)
                               else int(cfg["sample_size"][0]), 128)
    ch = int(cfg.get("in_channels") or 3)
    g = torch.Generator().manual_seed(a.seed)
    low = torch.randn(b, ch, max(2, size // 8), max(2, size // 8), generator=g)
    x = torch.tanh(1.5 * F.interpolate(low, size=(size, size), mode="bicubic", align_corners=False))
    return x, f"{b} seeded smooth synthetic images [{b}, {ch}, {size}, {size}] in [-1, 1] (seed {a.seed})"


# --------------------------------------------------------------------------- running

def _out(o):
    if hasattr(o, "sample"):
        return o.sample
    if isinstance(o, (tuple, list)):
        return o[0]
    return o


def _cast(x, dtype):
    if torch.is_tensor(x):
        return x.to(dtype) if x.is_floating_point() else x
    if isinstance(x, dict):
        return {k: _cast(v, dtype) for k, v in x.items()}
    return x


def run_unit(unit: Unit, a, model, inputs, which: str) -> Any:
    try:
        return _run_unit(unit, a, model, inputs)
    except EvalError:
        raise
    except Exception as e:  # noqa: BLE001 - any model: say which forward failed and why
        raise EvalError(f"{unit.name}: the forward of the {which} {type(model).__name__} failed on the inputs built "
                        f"here: {type(e).__name__}: {e}") from None


def _run_unit(unit: Unit, a, model, inputs) -> Any:
    dtype = next(model.parameters()).dtype
    with torch.no_grad():
        if unit.kind == "encoder":
            outs = []
            for ids in inputs:
                o = model(input_ids=ids[None], attention_mask=torch.ones_like(ids)[None])
                h = o.last_hidden_state if hasattr(o, "last_hidden_state") else o[0]
                outs.append(h[0].float())
            return outs
        if unit.kind == "lm":
            outs = []
            for ids in inputs:
                o = model(input_ids=ids[None])
                logits = getattr(o, "logits", None)
                if logits is None:
                    raise EvalError(f"{unit.name}: the model's output has no logits; is it an LM? (try --kind encoder)")
                outs.append(logits[0].float())
            return outs
        if unit.kind == "denoiser":
            return [_out(model(**_cast(kw, dtype))).float() for _, kw in inputs]
        if unit.kind == "vae":
            return _out(model(_cast(inputs, dtype))).float()
    raise AssertionError(unit.kind)


def compare(unit: Unit, a, ref, got, extra) -> dict:
    if unit.kind == "encoder":
        pool = extra["pooling"]
        emb = []
        tok_cos = []
        for r, q in zip(ref, got):
            if pool == "cls":
                pr, pq = r[0], q[0]
            elif pool == "max":
                pr, pq = r.max(0).values, q.max(0).values
            else:
                pr, pq = r.mean(0), q.mean(0)
            emb.append(cosine(pr, pq).item())
            tok_cos.append(cosine(r, q, -1))
        tc = torch.cat(tok_cos)
        return {"embedding_cosine_mean": sum(emb) / len(emb), "embedding_cosine_min": min(emb),
                "token_cosine_mean": tc.mean().item(), "token_cosine_min": tc.min().item(),
                "inputs": len(emb), "tokens": int(tc.numel()), "pooling": pool}
    if unit.kind == "lm":
        kls, agree, masked_kl, masked_agree = [], [], [], []
        for i, (r, q) in enumerate(zip(ref, got)):
            lr, lq = F.log_softmax(r.double(), -1), F.log_softmax(q.double(), -1)
            kl = (lr.exp() * (lr - lq)).sum(-1).clamp(min=0.0)
            ag = r.argmax(-1) == q.argmax(-1)
            kls.append(kl)
            agree.append(ag)
            if extra.get("masked_at") is not None:
                m = extra["masked_at"][i]
                masked_kl.append(kl[m])
                masked_agree.append(ag[m])
        kl, ag = torch.cat(kls), torch.cat(agree)
        out = {"kl_mean": kl.mean().item(), "kl_max": kl.max().item(), "top1_agreement": ag.double().mean().item(),
               "tokens": int(kl.numel()), "tokens_agreeing": int(ag.sum()), "inputs": len(kls),
               "mask_ratio": extra.get("mask_ratio", 0.0)}
        if masked_kl:
            mk, ma = torch.cat(masked_kl), torch.cat(masked_agree)
            out.update({"masked_tokens": int(mk.numel()), "masked_kl_mean": mk.mean().item(),
                        "masked_kl_max": mk.max().item(), "masked_top1_agreement": ma.double().mean().item()})
        return out
    if unit.kind == "denoiser":
        rows = []
        for (t, _), r, q in zip(extra["steps"], ref, got):
            c = cosine(r.reshape(r.shape[0], -1), q.reshape(q.shape[0], -1), -1)
            rows.append({"timestep": t, "psnr_db": psnr(r, q), "cosine_mean": c.mean().item(), "cosine_min": c.min().item(),
                         "rel_rmse": (((r.double() - q.double()) ** 2).mean().sqrt() / r.double().pow(2).mean().sqrt().clamp(min=1e-300)).item()})
        return {"per_timestep": rows, "psnr_min_db": min(x["psnr_db"] for x in rows),
                "psnr_mean_db": sum(x["psnr_db"] for x in rows) / len(rows),
                "cosine_mean": sum(x["cosine_mean"] for x in rows) / len(rows),
                "cosine_min": min(x["cosine_min"] for x in rows), "samples": int(ref[0].shape[0])}
    if unit.kind == "vae":
        r, q = ref, got
        c = cosine(r.reshape(r.shape[0], -1), q.reshape(q.shape[0], -1), -1)
        per = [psnr(r[i], q[i], peak=2.0) for i in range(r.shape[0])]
        return {"psnr_mean_db": sum(per) / len(per), "psnr_min_db": min(per), "cosine_mean": c.mean().item(),
                "cosine_min": c.min().item(), "images": int(r.shape[0])}
    raise AssertionError(unit.kind)


def evaluate_unit(unit: Unit, a, prompts: Optional[list], num_train_timesteps: int, dtype, keep_model: bool) -> tuple:
    """(the unit's results, the quantized model if keep_model: the images check reuses it)."""
    check_match(unit.orig_dir, unit.quant_files, unit.name)
    extra: dict = {}
    if unit.kind in ("encoder", "lm"):
        ti = text_inputs(unit, a, prompts)
        source = ti.source
        inputs = ti.ids
        if unit.kind == "lm":
            inputs, where, ratio, mask_id = mask_inputs(unit, a, ti)
            extra.update({"masked_at": where, "mask_ratio": ratio})
            if ratio:
                source += f"; {ratio:g} of the tokens replaced by the mask token {mask_id}"
        else:
            extra["pooling"] = pooling_of(unit)
    elif unit.kind == "denoiser":
        inputs, source = denoiser_inputs(unit, a, num_train_timesteps)
        extra["steps"] = inputs
    else:
        inputs, source = vae_inputs(unit, a)
    log(f"{unit.name}: running the original {unit.class_name or (unit.config.get('architectures') or ['model'])[0]}")
    model, not_loaded = load(unit, unit.orig_dir, dtype, a.trust_remote_code)
    ref = run_unit(unit, a, model, inputs, "original")
    del model
    log(f"{unit.name}: running the quantized one")
    with staged(unit, unit.quant_files) as d:
        model, _ = load(unit, d, dtype, a.trust_remote_code, fill=not_loaded)
    got = run_unit(unit, a, model, inputs, "quantized")
    keep = model if keep_model else None
    del model
    res = {"name": unit.name, "kind": unit.kind, "library": unit.library,
           "class": unit.class_name or (unit.config.get("architectures") or ["?"])[0],
           "masked_lm": unit.masked if unit.kind == "lm" else None,
           "inputs": source, "quantized_files": [shown(p) for p in unit.quant_files],
           "not_in_checkpoint": sorted(not_loaded), "metrics": compare(unit, a, ref, got, extra)}
    return res, keep


# --------------------------------------------------------------------------- whole pipeline

def pipeline_images(orig: Path, quantized: dict, a, prompts: Optional[list], dtype) -> dict:
    """Images of the original pipeline and of the one with the quantized components, same seeds."""
    from diffusers import DiffusionPipeline
    import diffusers
    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    n = a.pipeline_images

    def generate(components: dict) -> list:
        pipe = DiffusionPipeline.from_pretrained(str(orig), torch_dtype=dtype, local_files_only=True, **components)
        pipe.set_progress_bar_config(disable=True)
        params = inspect.signature(pipe.__call__).parameters
        images = []
        for i in range(n):
            kw: dict = {"num_inference_steps": a.pipeline_steps, "output_type": "np",
                        "generator": torch.Generator().manual_seed(a.seed + i)}
            if "prompt" in params:
                texts = prompts or SAMPLE_SENTENCES
                kw["prompt"] = texts[i % len(texts)]
            elif "class_labels" in params:
                n_cls = int(getattr(pipe.transformer.config, "num_embeds_ada_norm", 1000) or 1000)
                kw["class_labels"] = [(a.seed + 7 * i) % n_cls]
            elif "batch_size" in params:
                kw["batch_size"] = 1
            if a.pipeline_size and "height" in params:
                kw["height"] = kw["width"] = a.pipeline_size
            try:
                with torch.no_grad():
                    out = pipe(**kw)
            except Exception as e:  # noqa: BLE001 - any pipeline; say which call failed
                raise EvalError(f"{orig}: {type(pipe).__name__}({', '.join(sorted(kw))}) failed: "
                                f"{type(e).__name__}: {e}") from None
            img = out.images if hasattr(out, "images") else out[0]
            images.append(torch.as_tensor(img[0]).float().permute(2, 0, 1).clamp(0, 1))
        return images

    log(f"pipeline: {n} image(s) with the original components")
    ref = generate({})
    log(f"pipeline: {n} image(s) with the quantized {', '.join(quantized)}")
    got = generate(quantized)
    ps = [psnr(r, q, peak=1.0) for r, q in zip(ref, got)]
    ss = [ssim(r, q) for r, q in zip(ref, got)]
    return {"images": n, "steps": a.pipeline_steps, "size": list(ref[0].shape[1:]),
            "quantized_components": sorted(quantized), "psnr_mean_db": sum(ps) / n, "psnr_min_db": min(ps),
            "ssim_mean": sum(ss) / n, "ssim_min": min(ss)}


# --------------------------------------------------------------------------- thresholds and output

def thresholds(a, units: list, images: Optional[dict]) -> tuple:
    checks, notes = [], []

    def add(flag, limit, label, value, higher_is_better=True):
        ok = value >= limit if higher_is_better else value <= limit
        checks.append({"threshold": flag, "limit": limit, "what": label, "value": value, "pass": bool(ok)})

    used = set()
    for u in units:
        m = u["metrics"]
        n = u["name"]
        if a.min_cosine is not None:
            key = {"encoder": "embedding_cosine_min", "denoiser": "cosine_min", "vae": "cosine_min"}.get(u["kind"])
            if key:
                add("--min-cosine", a.min_cosine, f"{n}: {key.replace('_', ' ')}", m[key])
                used.add("--min-cosine")
        if u["kind"] == "lm":
            if a.max_kl is not None:
                add("--max-kl", a.max_kl, f"{n}: kl mean", m["kl_mean"], higher_is_better=False)
                used.add("--max-kl")
            if a.min_top1 is not None:
                add("--min-top1", a.min_top1, f"{n}: top1 agreement", m["top1_agreement"])
                used.add("--min-top1")
        if a.min_psnr is not None and u["kind"] in ("denoiser", "vae"):
            add("--min-psnr", a.min_psnr, f"{n}: psnr min db", m["psnr_min_db"])
            used.add("--min-psnr")
    if images is not None and "psnr_min_db" in images:
        if a.min_psnr is not None:
            add("--min-psnr", a.min_psnr, "pipeline images: psnr min db", images["psnr_min_db"])
            used.add("--min-psnr")
        if a.min_ssim is not None:
            add("--min-ssim", a.min_ssim, "pipeline images: ssim min", images["ssim_min"])
            used.add("--min-ssim")
    for flag, v in (("--min-cosine", a.min_cosine), ("--max-kl", a.max_kl), ("--min-top1", a.min_top1),
                    ("--min-psnr", a.min_psnr), ("--min-ssim", a.min_ssim)):
        if v is not None and flag not in used:
            notes.append(f"{flag} given but no evaluated model has that figure (not checked)")
    return checks, notes


def _f(x: float, digits: int = 6) -> str:
    if x is None:
        return "-"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{digits}f}"


def _e(x: float) -> str:
    return f"{x:.3e}" if x else "0"


def table(doc: dict) -> str:
    L = [f"original:  {doc['original']}", f"quantized: {doc['quantized']}"
         + (f" (exported to {doc['exported_to']})" if doc.get("exported_to") else "")]
    for u in doc["units"]:
        m = u["metrics"]
        L.append("")
        L.append(f"== {u['name']}: {u['class']} ({u['kind']}{', masked LM' if u.get('masked_lm') else ''})")
        L.append(f"   inputs: {u['inputs']}")
        if u["not_in_checkpoint"]:
            L.append(f"   not in the checkpoint (kept equal to the original's): {', '.join(u['not_in_checkpoint'][:6])}")
        if u["kind"] == "encoder":
            L.append(f"   {'embedding cosine (' + m['pooling'] + ' pooling)':<36} mean {_f(m['embedding_cosine_mean'], 7)}   worst {_f(m['embedding_cosine_min'], 7)}   ({m['inputs']} inputs)")
            L.append(f"   {'token cosine (last hidden state)':<36} mean {_f(m['token_cosine_mean'], 7)}   worst {_f(m['token_cosine_min'], 7)}   ({m['tokens']} tokens)")
        elif u["kind"] == "lm":
            L.append(f"   {'KL(original || quantized) per token':<36} mean {_e(m['kl_mean'])}   max {_e(m['kl_max'])}   nats ({m['tokens']} tokens)")
            L.append(f"   {'top-1 agreement':<36} {_f(m['top1_agreement'], 4)}   ({m['tokens_agreeing']}/{m['tokens']} tokens)")
            if "masked_tokens" in m:
                L.append(f"   {'masked positions only':<36} KL mean {_e(m['masked_kl_mean'])}   max {_e(m['masked_kl_max'])}   top-1 {_f(m['masked_top1_agreement'], 4)}   ({m['masked_tokens']} tokens)")
        elif u["kind"] == "denoiser":
            L.append(f"   {'timestep':>10} {'PSNR dB':>10} {'cosine mean':>13} {'cosine worst':>13} {'rel. RMSE':>11}")
            for r in m["per_timestep"]:
                L.append(f"   {r['timestep']:>10} {_f(r['psnr_db'], 2):>10} {_f(r['cosine_mean'], 7):>13} {_f(r['cosine_min'], 7):>13} {_e(r['rel_rmse']):>11}")
            L.append(f"   {'all':>10} {'min ' + _f(m['psnr_min_db'], 2):>10} {_f(m['cosine_mean'], 7):>13} {_f(m['cosine_min'], 7):>13}")
        elif u["kind"] == "vae":
            L.append(f"   {'reconstruction PSNR dB (peak 2)':<36} mean {_f(m['psnr_mean_db'], 2)}   worst {_f(m['psnr_min_db'], 2)}")
            L.append(f"   {'reconstruction cosine':<36} mean {_f(m['cosine_mean'], 7)}   worst {_f(m['cosine_min'], 7)}")
    img = doc.get("pipeline_images")
    if img is not None:
        L.append("")
        if "skipped" in img:
            L.append(f"== pipeline images: not measured ({img['skipped']})")
        else:
            L.append(f"== pipeline images: {img['images']} image(s) {img['size'][0]}x{img['size'][1]}, {img['steps']} steps, "
                     f"quantized {', '.join(img['quantized_components'])}")
            L.append(f"   {'PSNR dB (images in [0, 1])':<36} mean {_f(img['psnr_mean_db'], 2)}   worst {_f(img['psnr_min_db'], 2)}")
            L.append(f"   {'SSIM':<36} mean {_f(img['ssim_mean'], 4)}   worst {_f(img['ssim_min'], 4)}")
    for n in doc["notes"]:
        L.append(f"note: {n}")
    if doc["thresholds"]:
        L.append("")
        for c in doc["thresholds"]:
            op = "<=" if c["threshold"] == "--max-kl" else ">="
            L.append(f"{'PASS' if c['pass'] else 'FAIL'}  {c['what']} = {_f(c['value'], 7)} ({c['threshold']}: {op} {c['limit']})")
    L.append("")
    L.append("RESULT: " + ("PASS" if doc["passed"] else "FAIL (exit 3)") if doc["thresholds"] else
             "RESULT: measured (no thresholds given)")
    return "\n".join(L)


def _json_safe(x):
    if isinstance(x, float) and (math.isinf(x) or math.isnan(x)):
        return None  # JSON has no infinity: null PSNR means identical outputs
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_json_safe(v) for v in x]
    return x


# --------------------------------------------------------------------------- main

def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="evaluate.py",
        description="Run the original model and the ArrowQuant-quantized one on the same inputs and compare "
                    "them: embedding cosine (encoders), per-token KL and top-1 agreement (LMs), denoiser "
                    "output PSNR/cosine at several timesteps (diffusers denoisers), reconstruction PSNR (VAEs) "
                    "and optionally image PSNR/SSIM of a whole pipeline. Exit 2: the files do not match; "
                    "exit 3: a threshold failed. See docs/EVALUATE.md.")
    ap.add_argument("original", type=Path, help="the model folder that was quantized (model or diffusers pipeline)")
    ap.add_argument("quantized", type=Path, help="the ArrowQuant .parquet file, or a folder `arrowquant export --to "
                                                 "safetensors` wrote (or a .safetensors file)")
    ap.add_argument("--inputs", help="text file, one prompt / sentence per line (default: built-in sentences, or "
                                     "random token ids without a tokenizer)")
    ap.add_argument("--num-inputs", type=int, default=0,
                    help="use the first N lines / built-in sentences; random inputs: how many (default: all lines, the 16 "
                         "built-in sentences, 8 random token sequences, 4 denoiser samples, 2 VAE images)")
    ap.add_argument("--max-length", type=int, default=None, help="tokens per input (default 128, or "
                                                                 "sentence-transformers' max_seq_length)")
    ap.add_argument("--kind", choices=KINDS, help="override the detected kind (a single model, or the --component)")
    ap.add_argument("--component", help="a diffusers pipeline: evaluate (and export) only this component")
    ap.add_argument("--timesteps", type=int, default=5, help="denoisers: timesteps spread over the schedule")
    ap.add_argument("--num-train-timesteps", type=int, default=0,
                    help="denoisers: T (default: the pipeline scheduler's num_train_timesteps, else 1000)")
    ap.add_argument("--latent-size", type=int, default=0, help="denoisers: latent height = width (default: "
                                                               "config sample_size, else 64)")
    ap.add_argument("--cond-tokens", type=int, default=77, help="denoisers: tokens of the random conditioning")
    ap.add_argument("--image-size", type=int, default=0, help="VAEs: synthetic image size (default min(sample_size, 128))")
    ap.add_argument("--mask-ratio", type=float, default=None,
                    help="LMs: fraction of tokens replaced by the mask token (default 0.15 for a masked LM, else 0; "
                         "use e.g. 0.5 for a diffusion LM)")
    ap.add_argument("--mask-token-id", type=int, default=None, help="LMs: the mask token (default: tokenizer's / config's)")
    ap.add_argument("--pipeline-images", type=int, default=0,
                    help="a diffusers pipeline: also generate N images with both and compare them (PSNR/SSIM); "
                         "0 (default) skips it: only cheap for small pipelines on CPU")
    ap.add_argument("--pipeline-steps", type=int, default=10, help="inference steps per image (--pipeline-images)")
    ap.add_argument("--pipeline-size", type=int, default=0, help="image height = width for --pipeline-images")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32",
                    help="dtype both models run in (default float32)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--trust-remote-code", action="store_true", help="allow the model folder's own code (transformers)")
    ap.add_argument("--arrowquant", help="the CLI command (default: $ARROWQUANT_CLI, else node dist/cli/main.js of "
                                         "this repository, else `arrowquant` on PATH)")
    ap.add_argument("--export-dir", type=Path, help="export the .parquet here and keep it (default: a temporary folder)")
    ap.add_argument("--json", nargs="?", const="-", metavar="FILE",
                    help="print the results as JSON (instead of the table), or write them to FILE")
    ap.add_argument("--min-cosine", type=float, help="fail (exit 3) if a worst cosine is below: encoder embedding, "
                                                     "denoiser output, VAE reconstruction")
    ap.add_argument("--max-kl", type=float, help="fail (exit 3) if an LM's mean per-token KL (nats) is above")
    ap.add_argument("--min-top1", type=float, help="fail (exit 3) if an LM's top-1 agreement is below")
    ap.add_argument("--min-psnr", type=float, help="fail (exit 3) if a worst PSNR (dB) is below: denoiser "
                                                   "(over timesteps), VAE, pipeline images")
    ap.add_argument("--min-ssim", type=float, help="fail (exit 3) if the worst pipeline image SSIM is below")
    a = ap.parse_args(argv)
    a.max_length_given = a.max_length is not None
    if a.max_length is None:
        a.max_length = 128
    if a.timesteps < 1:
        ap.error("--timesteps must be at least 1")
    return a


def run(a) -> int:
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    orig = a.original
    if not orig.is_dir():
        raise EvalError(f"{orig}: not a folder (ORIGINAL is the model folder that was quantized)")
    prompts = None
    if a.inputs:
        try:
            prompts = [line.strip() for line in open(a.inputs, encoding="utf-8") if line.strip()]
        except OSError as e:
            raise EvalError(f"{a.inputs}: {e}") from None
        if not prompts:
            raise EvalError(f"{a.inputs}: no non-empty line")
        if a.num_inputs:
            prompts = prompts[: a.num_inputs]
    dtype = getattr(torch, a.dtype)
    q = a.quantized
    if not q.exists():
        raise EvalError(f"{q}: no such file or folder")
    _EXPORTED.clear()
    with contextlib.ExitStack() as stack:
        exported_to = None
        if q.is_file() and q.suffix == ".parquet":
            if a.export_dir:
                a.export_dir.mkdir(parents=True, exist_ok=True)
                qdir = a.export_dir
            else:
                qdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="arrowquant-export-")))
            export(q, qdir, a.component, cli_command(a.arrowquant))
            _EXPORTED[qdir] = q
            exported_to = str(qdir) if a.export_dir else "a temporary folder"
        elif q.is_file() and q.suffix == ".safetensors":
            qdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="arrowquant-eval-")))
            (qdir / q.name).symlink_to(q.resolve())
        elif q.is_dir():
            qdir = q
        else:
            raise EvalError(f"{q}: expected an ArrowQuant .parquet file, an exported folder or a .safetensors file")
        units, notes = plan_units(orig, qdir, a.component, a.kind)
        if q.suffix == ".parquet":
            notes = source_notes(q, orig, a.component) + notes
        T = a.num_train_timesteps
        sched = orig / "scheduler" / "scheduler_config.json"
        if not T and sched.is_file():
            T = int(load_json(sched).get("num_train_timesteps") or 0)
        T = T or 1000
        results, loaded = [], {}
        images_wanted = (orig / "model_index.json").is_file() and a.pipeline_images > 0
        for u in units:
            res, model = evaluate_unit(u, a, prompts, T, dtype, keep_model=images_wanted)
            results.append(res)
            if model is not None:
                loaded[u.name] = model
        images = None
        if (orig / "model_index.json").is_file():
            if images_wanted:
                images = pipeline_images(orig, loaded, a, prompts, dtype)
            else:
                images = {"skipped": "pass --pipeline-images N to generate and compare N images; off by default, "
                                     "a full pipeline is slow on CPU"}
    checks, tnotes = thresholds(a, results, images)
    if a.pipeline_images and not (orig / "model_index.json").is_file():
        tnotes.append("--pipeline-images applies to a diffusers pipeline folder (with model_index.json); not measured")
    doc = {"original": str(orig), "quantized": str(q), "exported_to": exported_to, "units": results,
           "pipeline_images": images, "notes": notes + tnotes, "thresholds": checks,
           "passed": all(c["pass"] for c in checks),
           "versions": {"torch": torch.__version__, **_versions()}}
    if a.json:
        text = json.dumps(_json_safe(doc), indent=1)
        if a.json == "-":
            print(text)
        else:
            Path(a.json).write_text(text + "\n")
            print(table(doc))
    else:
        print(table(doc))
    if not doc["passed"]:
        failed = [c for c in checks if not c["pass"]]
        log("evaluate: FAILED " + "; ".join(f"{c['what']} = {_f(c['value'])} ({c['threshold']} {c['limit']})" for c in failed))
        return EXIT_THRESHOLD
    return 0


def _versions() -> dict:
    out = {}
    for m in ("transformers", "diffusers"):
        mod = sys.modules.get(m)
        if mod is not None:
            out[m] = mod.__version__
    return out


def main(argv=None) -> int:
    a = parse_args(argv)
    # transformers / diffusers deprecation notices are about their own future, not these figures
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        return run(a)
    except EvalError as e:
        print(f"evaluate: error: {e}", file=sys.stderr)
        return EXIT_MISMATCH
    except ImportError as e:
        print(f"evaluate: error: {e} (install the pinned packages: bash scripts/setup-evaluate.sh)", file=sys.stderr)
        return EXIT_MISMATCH


if __name__ == "__main__":
    sys.exit(main())
