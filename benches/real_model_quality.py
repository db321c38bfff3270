#!/usr/bin/env python3
"""K-quant quality on a real model: sentence-transformers' all-MiniLM-L6-v2 (BERT, 6 layers).

    bash scripts/setup-real-model.sh          # .venv-torch, tokenizers, the model under .cache/
    .venv-torch/bin/python benches/real_model_quality.py [--out benches/out/real-model] [--threads 2] [--reuse]

1. Runs the fp32 model (a BERT forward written here in torch, checked against transformers'
   BertModel with --check-transformers) on a fixed, procedurally generated set of calibration
   sentences and captures every encoder linear layer's input Hessian H = (1/n)·Σxxᵀ with
   tools/capture_calibration.py (sentences of one token count per forward, so no padding rows
   enter H). A disjoint held-out set (more generated sentences, another seed, plus HANDWRITTEN in
   other styles) gives held-out Hessians for scoring, and the handwritten ones alone a third set.
2. Quantizes the model with the ArrowQuant CLI (`node dist/cli/main.js quantize MODEL -o F
   --min-accuracy 0 ...`) once per configuration (RUNS below), the whole model and, to isolate
   the only Q4_K-eligible layers (FFN output.dense, 1536 inputs; the 384-wide ones fall back to
   Q5_0 as in llama.cpp), with everything but those layers kept in fp32.
3. Scores every file:
   - per layer, the relative layer-output error tr(ΔW H ΔWᵀ) / tr(W H Wᵀ) =
     ‖X(W − Ŵ)ᵀ‖² / ‖XWᵀ‖² (benches/kquant_quality.py's formula), with the calibration Hessians
     (in-sample: what importance and GPTQ were fitted to), the held-out and the handwritten ones;
   - end to end: every tensor of the file dequantized with docs/reference_reader.py, loaded into
     the torch model, and the mean-pooled sentence embeddings of the held-out sentences compared
     with the fp32 model's (cosine: mean, min; and the mean absolute change of the held-out
     sentences' pairwise cosine similarities, what a retrieval system ranks by, and how often a
     sentence's nearest neighbour among the others is unchanged).

Prints Markdown tables (also OUT/tables.md) and writes all figures to OUT/results.json (with
--only NAME,...: only those runs, to OUT/tables.only.md and results.only.json); --reuse keeps the
calibration and held-out statistics and the Parquet files already in OUT (and their recorded times). Needs .venv-torch
(torch, numpy 1.x, pyarrow, safetensors) plus `tokenizers` (scripts/setup-real-model.sh) and a
built CLI (npm run build).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import platform
import random
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "docs"))
import capture_calibration as cc  # noqa: E402

DEFAULT_MODEL = ROOT / ".cache" / "real-model" / "all-MiniLM-L6-v2"

# name, CLI flags after `quantize MODEL -o FILE --min-accuracy 0`; "{calib}" is the calibration file,
# "{ffn_only}" a config that keeps every linear layer but the FFN's output.dense (in 1536, the only
# Q4_K-eligible rows) in fp32, so those runs isolate what the Q4_K layers do to the embeddings.
RUNS = [
    ("q8_0", ["--method", "q8_0"]),
    ("q6_k", ["--method", "q6_k"]),
    ("q4_k", ["--method", "q4_k"]),
    ("q4_k+imp", ["--method", "q4_k", "--calibration", "{calib}"]),
    ("gptq→q4_k", ["--method", "gptq", "--gptq-format", "q4_k", "--calibration", "{calib}"]),
    ("q4_0", ["--method", "q4_0"]),
    ("q4_0+imp", ["--method", "q4_0", "--calibration", "{calib}"]),
    ("rtn4 local", ["--profile", "local", "--method", "rtn"]),
    ("q4_k, ffn.down only", ["--config", "{ffn_only}", "--method", "q4_k"]),
    ("q4_k+imp, ffn.down only", ["--config", "{ffn_only}", "--method", "q4_k", "--calibration", "{calib}"]),
    ("gptq→q4_k, ffn.down only", ["--config", "{ffn_only}", "--method", "gptq", "--gptq-format", "q4_k", "--calibration", "{calib}"]),
    ("q4_0, ffn.down only", ["--config", "{ffn_only}", "--method", "q4_0"]),
    ("rtn4 local, ffn.down only", ["--config", "{ffn_only}", "--profile", "local", "--method", "rtn"]),
    # `auto` at the bit width (issue 18): the candidates for each strategy-table row. "{nospatial}"
    # is a config with enable_spatial: false (text's rows smooth nothing; with a calibration file
    # the local profile would smooth every non-GGUF format), "{actorder}" the same plus
    # gptq_act_order: true. 4 bits, for the 384-wide rows Q4_K cannot take (≤ 4.5 bits/weight):
    ("hqq4 g128", ["--method", "hqq", "--bits", "4", "--group-size", "128"]),
    ("rtn_sym4 g64", ["--method", "rtn_sym", "--bits", "4", "--group-size", "64"]),
    ("nf4", ["--method", "nf4"]),
    ("gptq→rtn4 g128", ["--config", "{nospatial}", "--method", "gptq", "--bits", "4", "--group-size", "128", "--calibration", "{calib}"]),
    ("gptq→rtn4 g128 act-order", ["--config", "{actorder}", "--method", "gptq", "--bits", "4", "--group-size", "128", "--calibration", "{calib}"]),
    ("gptq→rtn4 g128 smoothed", ["--method", "gptq", "--bits", "4", "--group-size", "128", "--calibration", "{calib}"]),
    ("gptq→hqq4 g128", ["--config", "{nospatial}", "--method", "gptq", "--gptq-format", "hqq", "--bits", "4", "--group-size", "128", "--calibration", "{calib}"]),
    ("gptq→rtn_sym4 g64", ["--config", "{nospatial}", "--method", "gptq", "--gptq-format", "rtn_sym", "--bits", "4", "--group-size", "64", "--calibration", "{calib}"]),
    # 8 bits (q8_0 above: 8.5 bits/weight)
    ("rtn8 g128", ["--method", "rtn", "--bits", "8", "--group-size", "128"]),
    ("hqq8 g128", ["--method", "hqq", "--bits", "8", "--group-size", "128"]),
    ("int8_channel", ["--method", "int8_channel"]),
    ("gptq→rtn8 g128", ["--config", "{nospatial}", "--method", "gptq", "--bits", "8", "--group-size", "128", "--calibration", "{calib}"]),
    # 2 bits (the 384-wide rows of the q2_k runs fall back to q4_0: compare those per layer)
    ("q2_k", ["--method", "q2_k"]),
    ("q2_k+imp", ["--method", "q2_k", "--calibration", "{calib}"]),
    ("gptq→q2_k", ["--method", "gptq", "--gptq-format", "q2_k", "--calibration", "{calib}"]),
    ("rtn2 g64", ["--method", "rtn", "--bits", "2", "--group-size", "64"]),
    ("hqq2 g64", ["--method", "hqq", "--bits", "2", "--group-size", "64"]),
    ("hqq2 g128", ["--method", "hqq", "--bits", "2", "--group-size", "128"]),
    ("r2q g128", ["--method", "r2q", "--group-size", "128"]),
    ("gptq→r2q g128", ["--config", "{nospatial}", "--method", "r2q", "--group-size", "128", "--calibration", "{calib}"]),
    ("gptq→rtn2 g64", ["--config", "{nospatial}", "--method", "gptq", "--bits", "2", "--group-size", "64", "--calibration", "{calib}"]),
    ("gptq→rtn2 g64 smoothed", ["--method", "gptq", "--bits", "2", "--group-size", "64", "--calibration", "{calib}"]),
    ("gptq→hqq2 g128", ["--config", "{nospatial}", "--method", "gptq", "--gptq-format", "hqq", "--bits", "2", "--group-size", "128", "--calibration", "{calib}"]),
    ("gptq→hqq2 g64", ["--config", "{nospatial}", "--method", "gptq", "--gptq-format", "hqq", "--bits", "2", "--group-size", "64", "--calibration", "{calib}"]),
    # auto (the default method) as this build plans it: no flags but --bits 4; with the calibration
    ("auto4", ["--bits", "4"]),
    ("auto4+cal", ["--method", "auto", "--bits", "4", "--calibration", "{calib}"]),
    ("auto4+cal act-order", ["--config", "{actorder}", "--method", "auto", "--bits", "4", "--calibration", "{calib}"]),
    # the alternative for auto4's 384-wide rows: NF4 (4.5 bits/weight, not GGUF) instead of Q4_0
    ("q4_k+nf4 for the 384-wide", ["--config", "{nf4_384}"]),
]
FFN_ONLY_YAML = """# benches/real_model_quality.py: quantize only the FFN output projections (encoder.layer.N.output.dense)
preserve:
  '\\.attention\\.|\\.intermediate\\.': source
"""
NOSPATIAL_YAML = "# benches/real_model_quality.py: no spatial smoothing (as auto plans text)\nenable_spatial: false\n"
ACTORDER_YAML = NOSPATIAL_YAML + "gptq_act_order: true\n"
NF4_384_YAML = """# benches/real_model_quality.py: q4_k for the FFN output projections (1536 inputs), nf4 for the rest
method: nf4
overrides:
  - pattern: '^encoder\\.layer\\.\\d+\\.output\\.dense\\.weight$'
    method: q4_k
"""


# ------------------------------------------------------------------------------------------
# The model: BERT as in transformers' BertModel (absolute positions, post-LayerNorm, erf GELU),
# module names = the checkpoint's state_dict prefixes, so capture_calibration names the layers
# exactly as the safetensors file names their weights.
# ------------------------------------------------------------------------------------------

class _Embeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])
        self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, ids, token_types):
        pos = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
        return self.LayerNorm(self.word_embeddings(ids) + self.position_embeddings(pos) + self.token_type_embeddings(token_types))


class _SelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        h = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)

    def forward(self, x, mask_bias):
        b, t, h = x.shape
        split = lambda y: y.view(b, t, self.heads, h // self.heads).transpose(1, 2)  # noqa: E731
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(h // self.heads) + mask_bias
        return (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, h)


class _DenseNorm(nn.Module):
    """dense, then LayerNorm of (dense(x) + residual): BertSelfOutput and BertOutput."""

    def __init__(self, c, n_in):
        super().__init__()
        self.dense = nn.Linear(n_in, c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, x, residual):
        return self.LayerNorm(self.dense(x) + residual)


class _Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.add_module("self", _SelfAttention(c))
        self.output = _DenseNorm(c, c["hidden_size"])

    def forward(self, x, mask_bias):
        return self.output(getattr(self, "self")(x, mask_bias), x)


class _Intermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["intermediate_size"])

    def forward(self, x):
        return F.gelu(self.dense(x))  # "gelu" in transformers: the exact (erf) form


class _Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = _Attention(c)
        self.intermediate = _Intermediate(c)
        self.output = _DenseNorm(c, c["intermediate_size"])

    def forward(self, x, mask_bias):
        a = self.attention(x, mask_bias)
        return self.output(self.intermediate(a), a)


class _Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList(_Layer(c) for _ in range(c["num_hidden_layers"]))


class _Pooler(nn.Module):  # in the checkpoint; sentence-transformers does not use it
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])


class Bert(nn.Module):
    def __init__(self, config: dict):
        super().__init__()
        self.embeddings = _Embeddings(config)
        self.encoder = _Encoder(config)
        self.pooler = _Pooler(config)

    def forward(self, input_ids, attention_mask=None):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        x = self.embeddings(input_ids, torch.zeros_like(input_ids))
        mask_bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for layer in self.encoder.layer:
            x = layer(x, mask_bias)
        return x


def load_state(model: Bert, tensors: dict) -> None:
    """Load `tensors` (name -> array) into the model: every parameter must be there."""
    state = {}
    for name, p in model.state_dict().items():
        if name not in tensors:
            raise KeyError(f"no tensor {name}")
        state[name] = torch.as_tensor(np.asarray(tensors[name], dtype=np.float32)).reshape(p.shape)
    model.load_state_dict(state, strict=True)


def read_safetensors(path: pathlib.Path) -> dict:
    from safetensors.numpy import load_file
    return load_file(str(path))


def embed(model: Bert, tok, sentences, batch: int = 32) -> torch.Tensor:
    """sentence-transformers' all-MiniLM-L6-v2: mean pooling over the tokens, then L2 normalisation."""
    out = []
    with torch.no_grad():
        for i in range(0, len(sentences), batch):
            enc = tok.encode_batch(sentences[i:i + batch])
            width = max(len(e.ids) for e in enc)
            ids = torch.tensor([e.ids + [0] * (width - len(e.ids)) for e in enc])
            mask = torch.tensor([[1] * len(e.ids) + [0] * (width - len(e.ids)) for e in enc])
            h = model(ids, mask)
            m = mask.unsqueeze(-1).to(h.dtype)
            out.append(F.normalize((h * m).sum(1) / m.sum(1).clamp(min=1e-9), dim=-1))
    return torch.cat(out)


def tokenizer(model_dir: pathlib.Path):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_padding()  # the file pads to a fixed 128; we pad per batch and mask
    tok.enable_truncation(256)  # sentence-transformers' max_seq_length
    return tok


# ------------------------------------------------------------------------------------------
# Sentences: generated here (no data set), calibration and held-out disjoint.
# ------------------------------------------------------------------------------------------

PEOPLE = ["the old fisherman", "a young doctor", "my grandmother", "the new teacher", "two students", "the mayor",
          "a tired nurse", "our neighbour", "the pilot", "a group of children", "the chef", "my brother",
          "the engineer", "a famous singer", "the farmer", "the librarian", "a small boy", "the judge",
          "the programmer", "an elderly couple", "the coach", "a local artist", "the shopkeeper", "the detective"]
ANIMALS = ["the dog", "a black cat", "the horse", "a flock of geese", "the fox", "an owl", "the goat", "a bee",
           "the whale", "two rabbits", "the parrot", "a spider"]
THINGS = ["the bridge", "a red bicycle", "the letter", "an umbrella", "the old piano", "a cup of tea", "the map",
          "the broken window", "a loaf of bread", "the train ticket", "a wooden boat", "the garden fence",
          "the laptop", "a basket of apples", "the violin", "the telescope", "a paper kite", "the front door",
          "the recipe book", "a pair of boots", "the clock tower", "a jar of honey", "the radio", "the painting"]
PLACES = ["in the market", "near the river", "at the station", "on the hill", "in the kitchen", "behind the school",
          "at the harbour", "in the library", "on the roof", "under the bridge", "in the forest", "at the museum",
          "in a quiet village", "on the beach", "at the hospital", "in the city centre", "by the lake",
          "in the garden", "at the airport", "on the mountain road"]
TIMES = ["this morning", "last night", "every Sunday", "after lunch", "before dawn", "in the spring",
         "during the storm", "on Friday", "at midnight", "two years ago", "after the meeting", "in winter",
         "yesterday", "at noon", "when the rain stopped", "before the holidays"]
VERBS_T = [("found", "finds", "find"), ("repaired", "repairs", "repair"), ("painted", "paints", "paint"),
           ("carried", "carries", "carry"), ("sold", "sells", "sell"), ("lost", "loses", "lose"),
           ("cleaned", "cleans", "clean"), ("borrowed", "borrows", "borrow"), ("watched", "watches", "watch"),
           ("described", "describes", "describe"), ("opened", "opens", "open"), ("hid", "hides", "hide"),
           ("photographed", "photographs", "photograph"), ("delivered", "delivers", "deliver"),
           ("measured", "measures", "measure")]
VERBS_I = [("laughed", "laughs"), ("waited", "waits"), ("slept", "sleeps"), ("ran", "runs"), ("sang", "sings"),
           ("argued", "argues"), ("danced", "dances"), ("complained", "complains"), ("whispered", "whispers"),
           ("worked late", "works late"), ("cried", "cries"), ("arrived early", "arrives early")]
ADJ = ["quiet", "busy", "cold", "bright", "strange", "beautiful", "crowded", "peaceful", "dangerous", "empty",
       "expensive", "ancient", "noisy", "warm", "dark", "careful", "curious", "patient", "honest", "clever"]
TOPICS = ["the weather", "the price of bread", "the football match", "the election", "a new film", "the harvest",
          "the broken bridge", "the school play", "the missing keys", "the summer festival", "the train strike",
          "the history of the town", "climate change", "the science exam", "a strange noise", "the budget"]
FEELINGS = ["happy", "worried", "surprised", "angry", "relieved", "nervous", "proud", "confused", "bored", "excited"]
REASONS = ["because it was raining", "although nobody asked", "since the shop was closed", "so that everyone could see",
           "because the bus was late", "even though it was expensive", "while the others were asleep",
           "after hearing the news", "before anyone noticed", "because the lights went out"]


def _cap(s: str) -> str:
    return s[0].upper() + s[1:]


def _templates(r: random.Random):
    p, a, t = r.choice(PEOPLE), r.choice(ANIMALS), r.choice(THINGS)
    place, time_, adj = r.choice(PLACES), r.choice(TIMES), r.choice(ADJ)
    vt, vi = r.choice(VERBS_T), r.choice(VERBS_I)
    return [
        f"{_cap(p)} {vt[0]} {t} {place} {time_}.",
        f"{_cap(time_)}, {p} {vi[0]} {place}.",
        f"{_cap(a)} {vi[0]} {place} {time_}.",
        f"Why did {p} {vt[2]} {t}?",
        f"{_cap(place)}, {t} looked {adj} {time_}.",
        f"{_cap(p)} was {r.choice(FEELINGS)} {r.choice(REASONS)}.",
        f"{_cap(p)} and {r.choice(PEOPLE)} talked about {r.choice(TOPICS)} {place}.",
        f"If {p} {vt[1]} {t}, {a} will be {r.choice(FEELINGS)}.",
        f"Nobody expected {t} to be so {adj}.",
        f"{_cap(p)} said that {r.choice(TOPICS)} was {adj}, {r.choice(REASONS)}.",
        f"Is {t} still {place}, or did {p} take it home?",
        f"{_cap(a)} followed {p} {place} and then {vi[0]}.",
    ]


def generated_sentences(n: int, seed: int, exclude=()) -> list:
    r = random.Random(seed)
    seen, out = set(exclude), []
    while len(out) < n:
        s = r.choice(_templates(r))
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


# Held out: written for this benchmark in other styles (instructions, facts, dialogue, technical),
# none of the generator's templates.
HANDWRITTEN = [
    "Preheat the oven to two hundred degrees and grease a shallow baking tin.",
    "The committee will publish its final report at the end of next month.",
    "Could you tell me where the nearest pharmacy is?",
    "Water boils at a lower temperature on a high mountain because the air pressure is lower.",
    "She closed the book, looked out of the window, and decided to walk home.",
    "The database query timed out after thirty seconds, so the page showed an error.",
    "Honestly, I think the second version of the plan is much better than the first.",
    "A sudden frost in late April destroyed most of the cherry blossoms in the valley.",
    "Please remember to switch off the lights when you leave the office.",
    "The orchestra rehearsed the symphony three times before the opening concert.",
    "Mix the flour and the butter with your fingertips until it looks like fine breadcrumbs.",
    "Our flight was cancelled, so we spent the night in a hotel near the airport.",
    "The ancient road was built by soldiers and still crosses the hills in a straight line.",
    "He forgot his password again and had to ask the administrator to reset it.",
    "Bees communicate the direction of flowers to each other by dancing.",
    "The river flooded the lower streets, and the fire brigade pumped water out of the cellars.",
    "What time does the museum open on public holidays?",
    "The new bicycle lane made the morning commute safer for hundreds of people.",
    "The compiler reported a type error on line forty-two of the parser.",
    "My sister learned to play the cello when she was seven years old.",
    "The price of coffee rose sharply after a poor harvest in several countries.",
    "Turn left at the church, then take the second road on the right.",
    "Scientists measured the temperature of the lake every hour for a whole year.",
    "I would rather stay at home tonight and read a good novel.",
    "The children built a snowman with a carrot for a nose and stones for eyes.",
    "The bank raised its interest rates for the third time this year.",
    "A gentle breeze carried the smell of fresh bread from the bakery across the square.",
    "Every backup should be tested by actually restoring it at least once.",
    "The lighthouse keeper wrote in his diary that the storm lasted four days.",
    "Do you know whether the library still lends out old maps?",
    "The goalkeeper saved a penalty in the last minute of the match.",
    "Planting trees along the streets keeps the city cooler in summer.",
]


# ------------------------------------------------------------------------------------------
# Scoring
# ------------------------------------------------------------------------------------------

def output_energy(w: np.ndarray, h: np.ndarray) -> float:
    """tr(W H Wᵀ) = ‖XWᵀ‖² / n."""
    return float(((w @ h) * w).sum())


def layer_error(w: np.ndarray, wq: np.ndarray, h: np.ndarray, base: float) -> float:
    """‖X(W − Ŵ)ᵀ‖² / ‖XWᵀ‖² = tr(ΔW H ΔWᵀ) / tr(W H Wᵀ), H = (1/n)·Σxxᵀ (kquant_quality.py's
    formula, with `base` = output_energy(w, h))."""
    d = w - wq
    return float(((d @ h) * d).sum() / base)


def payload_bytes(path: pathlib.Path) -> dict:
    """name -> bytes of codes + scales + zeros (+ channel scales), over all its chunks."""
    import pyarrow.parquet as pq
    t = pq.read_table(path, columns=["name", "codes", "scales", "zeros"])
    out = {}
    cols = {c: t.column(c).to_pylist() for c in ("name", "codes", "scales", "zeros")}
    for i, name in enumerate(cols["name"]):
        n = sum(len(cols[c][i] or b"") for c in ("codes", "scales", "zeros"))
        out[name] = out.get(name, 0) + n
    return out


def quantize(model_dir: pathlib.Path, out: pathlib.Path, flags: list, threads: int) -> float:
    cmd = ["node", str(ROOT / "dist" / "cli" / "main.js"), "quantize", str(model_dir), "-o", str(out),
           "--min-accuracy", "0", "--threads", str(threads), "--quiet", *flags]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    if r.stderr.strip():
        print(f"  (stderr of {out.name}: {r.stderr.strip()[:600]})", file=sys.stderr)
    return dt


def short(name: str) -> str:
    return (name.replace("encoder.layer.", "L").replace(".attention.self.", ".attn.")
            .replace(".attention.output.dense", ".attn.out").replace(".intermediate.dense", ".ffn.up")
            .replace(".output.dense", ".ffn.down").replace(".weight", ""))


def check_transformers(model_dir: pathlib.Path, model: Bert, tok, sentences) -> None:
    """Our forward against transformers' BertModel on the same weights and sentences."""
    from transformers import BertModel
    ref = BertModel.from_pretrained(str(model_dir), add_pooling_layer=True).eval()
    enc = tok.encode_batch(sentences)
    width = max(len(e.ids) for e in enc)
    ids = torch.tensor([e.ids + [0] * (width - len(e.ids)) for e in enc])
    mask = torch.tensor([[1] * len(e.ids) + [0] * (width - len(e.ids)) for e in enc])
    with torch.no_grad():
        a = model(ids, mask)
        b = ref(input_ids=ids, attention_mask=mask).last_hidden_state
    m = mask.bool()
    diff = (a - b)[m].abs().max().item()
    import transformers
    print(f"transformers {transformers.__version__} BertModel vs ours, {len(sentences)} sentences: "
          f"max |Δ hidden state| over real tokens {diff:.3g}")
    if diff > 1e-4:
        raise SystemExit("the forward differs from transformers'")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=pathlib.Path, default=DEFAULT_MODEL, help="all-MiniLM-L6-v2 folder")
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "benches" / "out" / "real-model")
    ap.add_argument("--calib-sentences", type=int, default=512)
    ap.add_argument("--heldout-sentences", type=int, default=224, help="generated ones, plus the handwritten")
    ap.add_argument("--threads", type=int, default=2, help="torch and the CLI's kernel threads")
    ap.add_argument("--reuse", action="store_true", help="keep calibration and Parquet files already in --out")
    ap.add_argument("--only", default=None,
                    help="comma-separated run names (RUNS): quantize and score only these (the tables then cover only them)")
    ap.add_argument("--check-transformers", action="store_true",
                    help="only compare the forward with transformers' BertModel (needs transformers) and exit")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model_dir = a.model.resolve()
    cfg = json.loads((model_dir / "config.json").read_text())
    weights = read_safetensors(model_dir / "model.safetensors")
    model = Bert(cfg).eval()
    load_state(model, weights)
    tok = tokenizer(model_dir)

    calib = generated_sentences(a.calib_sentences, seed=1)
    heldout = generated_sentences(a.heldout_sentences, seed=2, exclude=calib) + HANDWRITTEN
    assert not set(calib) & set(heldout)
    if a.check_transformers:
        check_transformers(model_dir, model, tok, heldout[:64] + HANDWRITTEN)
        return 0

    a.out.mkdir(parents=True, exist_ok=True)
    calib_path = a.out / "calib.safetensors"
    ntok = lambda ss: sum(len(e.ids) for e in tok.encode_batch(ss))  # noqa: E731
    not_pooler = lambda name, m: not name.startswith("pooler")  # noqa: E731 - unused by mean pooling

    def batches(sentences):
        # Sentences of one token count per forward: no padding, so no padding rows in the Hessians.
        by_len = {}
        for e in tok.encode_batch(sentences):
            by_len.setdefault(len(e.ids), []).append(e.ids)
        for _, ids in sorted(by_len.items()):
            for i in range(0, len(ids), 64):
                yield (torch.tensor(ids[i:i + 64]),), {}

    t0 = time.perf_counter()
    if not (a.reuse and calib_path.exists()):
        cc.save(cc.capture(model, batches(calib), layer_filter=not_pooler), calib_path)
    held_path, hand_path = a.out / "heldout.safetensors", a.out / "handwritten.safetensors"
    if not (a.reuse and held_path.exists()):
        cc.save(cc.capture(model, batches(heldout), layer_filter=not_pooler), held_path)
    if not (a.reuse and hand_path.exists()):
        cc.save(cc.capture(model, batches(HANDWRITTEN), layer_filter=not_pooler), hand_path)
    held_stats, hand_stats = read_safetensors(held_path), read_safetensors(hand_path)
    capture_s = time.perf_counter() - t0
    calib_h = read_safetensors(calib_path)
    print(f"calibration: {len(calib)} sentences, {ntok(calib)} tokens; held out: {len(heldout)} sentences, "
          f"{ntok(heldout)} tokens; capture {capture_s:.1f} s")

    reference = embed(model, tok, heldout)
    ffn_only = a.out / "ffn-down-only.yaml"
    ffn_only.write_text(FFN_ONLY_YAML)
    nospatial, actorder, nf4_384 = a.out / "no-spatial.yaml", a.out / "act-order.yaml", a.out / "nf4-384.yaml"
    nospatial.write_text(NOSPATIAL_YAML)
    actorder.write_text(ACTORDER_YAML)
    nf4_384.write_text(NF4_384_YAML)
    only = None if a.only is None else [n.strip() for n in a.only.split(",")]
    unknown = [n for n in only or [] if n not in dict(RUNS)]
    if unknown:
        raise SystemExit(f"--only: no run named {', '.join(unknown)}")
    files = {}
    seconds_path = a.out / "quantize-seconds.json"
    seconds = json.loads(seconds_path.read_text()) if a.reuse and seconds_path.exists() else {}
    for name, flags in RUNS:
        if only is not None and name not in only:
            continue
        path = a.out / f"minilm.{name.replace('→', '-').replace('+', '-').replace(', ', '.').replace(' ', '-')}.parquet"
        files[name] = path
        if a.reuse and path.exists():
            continue
        flags = [f.replace("{calib}", str(calib_path)).replace("{ffn_only}", str(ffn_only))
                 .replace("{nospatial}", str(nospatial)).replace("{actorder}", str(actorder))
                 .replace("{nf4_384}", str(nf4_384)) for f in flags]
        seconds[name] = quantize(model_dir, path, flags, a.threads)
        print(f"quantized {name}: {seconds[name]:.1f} s")
        seconds_path.write_text(json.dumps(seconds, ensure_ascii=False))

    import reference_reader as rr
    layers = [f"{m}.weight" for m, mod in model.named_modules() if isinstance(mod, nn.Linear) and f"{m}.hessian" in calib_h]
    hess = {n: {"calib": calib_h[f"{n[:-7]}.hessian"].astype(np.float64),
                "heldout": held_stats[f"{n[:-7]}.hessian"].astype(np.float64),
                "handwritten": hand_stats[f"{n[:-7]}.hessian"].astype(np.float64)} for n in layers}
    base = {n: {k: output_energy(weights[n].astype(np.float64), h) for k, h in hs.items()} for n, hs in hess.items()}
    results = {"runs": {}, "layers": layers}
    deq_by_run = {}
    for name, path in files.items():
        index = {t["name"]: t for t in rr.tensors(path)}
        deq = {n: rr.dequantize(path, n) for n in index}
        sizes = payload_bytes(path)
        quantized = [n for n, t in index.items() if t["method"] != "keep"]
        linear = [n for n in quantized if n in layers]
        bpw = 8 * sum(sizes[n] for n in linear) / sum(weights[n].size for n in linear)
        per_layer = {}
        for n in layers:
            w = weights[n].astype(np.float64)
            wq = deq[n].astype(np.float64).reshape(w.shape)
            per_layer[n] = {"scheme": index[n]["scheme"], "method": index[n]["method"],
                            **{k: layer_error(w, wq, h, base[n][k]) for k, h in hess[n].items()}}
        qmodel = Bert(cfg).eval()
        load_state(qmodel, deq)
        e = embed(qmodel, tok, heldout)
        cos = (e * reference).sum(-1)
        sim_ref, sim_q = reference @ reference.T, e @ e.T
        off = ~torch.eye(len(heldout), dtype=torch.bool)
        nn_ref = sim_ref.masked_fill(~off, -2).argmax(1)
        nn_q = sim_q.masked_fill(~off, -2).argmax(1)
        results["runs"][name] = {
            "file": str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path),
            "file_mb": path.stat().st_size / 1e6,
            "seconds": seconds.get(name),
            "bpw_encoder_linear": bpw,
            "schemes": sorted({(index[n]["scheme"]) for n in linear}),
            "cos_mean": cos.mean().item(), "cos_min": cos.min().item(),
            # the generated held-out sentences share the calibration's templates and words; the
            # handwritten ones do not
            "cos_mean_generated": cos[:-len(HANDWRITTEN)].mean().item(), "cos_min_generated": cos[:-len(HANDWRITTEN)].min().item(),
            "cos_mean_handwritten": cos[-len(HANDWRITTEN):].mean().item(), "cos_min_handwritten": cos[-len(HANDWRITTEN):].min().item(),
            "pair_sim_mae": (sim_q - sim_ref)[off].abs().mean().item(),
            "nn_agree": (nn_ref == nn_q).double().mean().item(),
            "ffn_only": "{ffn_only}" in dict(RUNS)[name],
            "layers": per_layer,
        }
        print(f"scored {name}: cos mean {cos.mean().item():.6f} min {cos.min().item():.6f}")
        deq_by_run[name] = {n: deq[n] for n in layers if "attention" not in n and n.endswith("output.dense.weight")}

    # The ffn.down-only runs must hold the same ffn.down tensors as the full runs (each tensor is
    # quantized on its own): check, so their end-to-end figures isolate exactly those layers.
    for name in files:
        full = name.split(", ffn.down only")[0]
        if full != name and full in deq_by_run:
            same = all(np.array_equal(deq_by_run[name][n], deq_by_run[full][n]) for n in deq_by_run[name])
            results["runs"][name]["ffn_down_identical_to_full_run"] = same
            if not same:
                print(f"WARNING: {name}: ffn.down differs from the {full} run's", file=sys.stderr)

    results["machine"] = {"cpu": _cpu(), "cores": os.cpu_count(), "python": platform.python_version(),
                          "torch": torch.__version__, "numpy": np.__version__}
    results["sentences"] = {"calib": len(calib), "calib_tokens": ntok(calib), "heldout": len(heldout),
                            "heldout_tokens": ntok(heldout)}
    report = tables(results)
    print(report)
    stem = "" if only is None else ".only"
    (a.out / f"results{stem}.json").write_text(json.dumps(results, indent=1, ensure_ascii=False))
    (a.out / f"tables{stem}.md").write_text(report)
    return 0


def _cpu() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def tables(res: dict) -> str:
    runs = res["runs"]
    names = list(runs)
    full = [n for n in names if not runs[n]["ffn_only"]]
    L = []
    L.append("End to end: mean-pooled sentence embeddings of the held-out sentences against the fp32 model's")
    L.append("")
    L.append("| file | schemes of the encoder's quantized linear layers | bits/weight (those layers) | cos mean | cos min | 1 − cos mean | generated: 1 − cos mean / max | handwritten: 1 − cos mean / max | pairwise-sim MAE | NN@1 agree | quantize s |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for n in names:
        r = runs[n]
        s = "—" if r["seconds"] is None else f"{r['seconds']:.1f}"
        L.append(f"| {n} | {', '.join(r['schemes'])} | {r['bpw_encoder_linear']:.3f} | {r['cos_mean']:.6f} | {r['cos_min']:.6f} "
                 f"| {1 - r['cos_mean']:.2e} | {1 - r['cos_mean_generated']:.2e} / {1 - r['cos_min_generated']:.2e} "
                 f"| {1 - r['cos_mean_handwritten']:.2e} / {1 - r['cos_min_handwritten']:.2e} "
                 f"| {r['pair_sim_mae']:.2e} | {r['nn_agree']:.3f} | {s} |")
    for split, title in (("heldout", "held-out Hessians"), ("calib", "calibration Hessians (in-sample for +imp and GPTQ)")):
        L.append("")
        L.append(f"Layer-output relative error ‖X(W−Ŵ)ᵀ‖²/‖XWᵀ‖², {title}; ×10⁻³")
        L.append("")
        L.append("| layer | " + " | ".join(full) + " |")
        L.append("|---|" + "---|" * len(full))
        for layer in res["layers"]:
            L.append(f"| {short(layer)} | " + " | ".join(f"{1e3 * runs[n]['layers'][layer][split]:.3f}" for n in full) + " |")
        # geometric means by role
        for role, pred in (("geomean ffn.down (in 1536)", lambda x: x.endswith("output.dense.weight") and "attention" not in x),
                           ("geomean in-384 layers", lambda x: not (x.endswith("output.dense.weight") and "attention" not in x)),
                           ("geomean all", lambda x: True)):
            sel = [x for x in res["layers"] if pred(x)]
            vals = [math.exp(sum(math.log(max(runs[n]["layers"][x][split], 1e-30)) for x in sel) / len(sel)) for n in full]
            L.append(f"| **{role}** | " + " | ".join(f"**{1e3 * v:.3f}**" for v in vals) + " |")
    L.append("")
    L.append("The Q4_K layers (ffn.down, in 1536) by the sentences the Hessian comes from: calibration (in-sample) / "
             "held out (224 generated + 32 handwritten) / the 32 handwritten only; ×10⁻³")
    L.append("")
    L.append("| layer | " + " | ".join(full) + " |")
    L.append("|---|" + "---|" * len(full))
    down = [x for x in res["layers"] if x.endswith("output.dense.weight") and "attention" not in x]
    for layer in down:
        L.append(f"| {short(layer)} | " + " | ".join(
            " / ".join(f"{1e3 * runs[n]['layers'][layer][k]:.3f}" for k in ("calib", "heldout", "handwritten")) for n in full) + " |")
    gm = lambda n, k: math.exp(sum(math.log(max(runs[n]["layers"][x][k], 1e-30)) for x in down) / len(down))  # noqa: E731
    L.append("| **geomean** | " + " | ".join(
        "**" + " / ".join(f"{1e3 * gm(n, k):.3f}" for k in ("calib", "heldout", "handwritten")) + "**" for n in full) + " |")
    L.append("")
    L.append("Scheme/method per layer kind (same in every block):")
    L.append("")
    kinds = sorted({short(x).split(".", 1)[1] for x in res["layers"]})
    L.append("| file | " + " | ".join(kinds) + " |")
    L.append("|---|" + "---|" * len(kinds))
    for n in full:
        cells = []
        for k in kinds:
            got = sorted({f"{v['scheme']} ({v['method']})" for x, v in runs[n]["layers"].items() if short(x).split(".", 1)[1] == k})
            cells.append(", ".join(got))
        L.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    sys.exit(main())
