"""`arrowquant export --to gguf --arch dream|llada` against llama.cpp itself (issue 15).

Tiny Dream- and LLaDA-shaped Hugging Face folders (seeded random weights; a byte-level BPE
tokenizer trained with the `tokenizers` library, with the pre-tokenizer of the real model's
family: Qwen2's for Dream, Llama-3's for LLaDA) are

  * quantized by ArrowQuant (the CLI) and exported with --arch, and
  * converted by llama.cpp's own convert_hf_to_gguf.py (--outtype f32; through the wrapper of
    scripts/setup-llama-cpp.sh, which only names the pre-tokenizer the hash table cannot know)
    and quantized by llama-quantize,

for Q8_0 (`--method q8_0`), Q4_K_M (`--mix q4_k_m`) and Q4_0 (`--mix q4_0`), each with
`keep_default_rules: false` (llama-quantize quantizes embeddings and the head too). The two files
must be the same bytes (a failure lists the differences: metadata, tensor types, shapes, data),
and llama-diffusion-cli must run diffusion steps on both and print the same text. One LLaDA
case has widths that are no multiple of 256 (K-quants fall back to Q5_0/Q8_0), tied embeddings
(the embedding is then the head: Q8_0) and grouped-query attention (k permuted per KV head).
The rest checks the export's errors (missing files and keys, tensors llama.cpp has no place for,
missing tensors, an unknown pre-tokenizer, formats GGUF cannot hold).

Needs .venv-torch (tokenizers, safetensors, torch, transformers: scripts/setup-evaluate.sh), node
and the built CLI (dist/), and llama.cpp's tools: `bash scripts/setup-llama-cpp.sh --python`
(scripts/test-all.sh runs it first). About 1 minute on 2 shared cores (16 tests).
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tokenizers = pytest.importorskip("tokenizers")
from safetensors.torch import save_file  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "dist" / "cli" / "main.js"

TEXT = ("The quick brown fox jumps over the lazy dog. ArrowQuant writes Parquet and GGUF. "
        "Diffusion language models unmask tokens in parallel. 0123456789 hello world! "
        "I'll say it's there, we've seen they're here. ") * 40
QWEN2_SPLIT = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
LLAMA3_SPLIT = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
PROMPT = "hello world"


# ---------------------------------------------------------------------------------------------
# llama.cpp's tools
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def llama():
    r = subprocess.run(["bash", "scripts/setup-llama-cpp.sh", "--python"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, f"scripts/setup-llama-cpp.sh --python failed:\n{r.stderr[-4000:]}"
    py, wrapper, convert, quantize, diffusion = r.stdout.split("\n")[-6:-1]
    sys.path.insert(0, str(Path(convert).parent / "gguf-py"))
    return {"python": py, "wrapper": wrapper, "quantize": quantize, "diffusion": diffusion}


def run(cmd, what, env=None, timeout=600):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, timeout=timeout)
    assert r.returncode == 0, f"{what} failed (exit {r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def cli(*args):
    node = shutil.which("node")
    if node is None or not CLI.exists():
        pytest.fail("needs node and the built CLI (npm run build)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARROW_QUANT_")}
    return subprocess.run([node, str(CLI), *map(str, args)], capture_output=True, text=True, env=env, timeout=600)


# ---------------------------------------------------------------------------------------------
# Tiny Hugging Face folders
# ---------------------------------------------------------------------------------------------

def train_tokenizer(kind, specials, user_tokens):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    if kind == "dream":
        tok.normalizer = normalizers.NFC()  # as Qwen2's tokenizer.json has
    split = QWEN2_SPLIT if kind == "dream" else LLAMA3_SPLIT
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(split), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=[], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([TEXT], trainer=trainer)
    tok.add_special_tokens(specials)
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in user_tokens])
    if kind == "dream":
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    else:
        bos = tok.token_to_id(specials[0])
        tok.post_processor = processors.TemplateProcessing(single=f"{specials[0]} $A", pair=f"{specials[0]} $A $B", special_tokens=[(specials[0], bos)])
    return tok


def make_model(folder, kind, hidden=256, ff=512, layers=2, heads=4, kv_heads=None, vocab=384, tied=False, seed=0, dtype=torch.float32):
    """A Dream (Qwen2 names, q/k/v biases) or LLaDA (OLMo names) folder with a trained tokenizer."""
    folder.mkdir(parents=True)
    kv_heads = kv_heads or (2 if kind == "dream" else heads)
    hd = hidden // heads
    g = torch.Generator().manual_seed(seed)
    w = lambda *s: (torch.randn(*s, generator=g) * 0.05).to(dtype)  # noqa: E731
    norm = lambda n: (1 + torch.randn(n, generator=g) * 0.05).to(dtype)  # noqa: E731
    t = {}
    if kind == "dream":
        specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|mask|>"]
        tok = train_tokenizer(kind, specials, ["<think>"])
        t["model.embed_tokens.weight"] = w(vocab, hidden)
        if not tied:
            t["lm_head.weight"] = w(vocab, hidden)
        t["model.norm.weight"] = norm(hidden)
        for i in range(layers):
            p = f"model.layers.{i}."
            t[p + "input_layernorm.weight"] = norm(hidden)
            t[p + "post_attention_layernorm.weight"] = norm(hidden)
            for x, rows in (("q", heads * hd), ("k", kv_heads * hd), ("v", kv_heads * hd)):
                t[p + f"self_attn.{x}_proj.weight"] = w(rows, hidden)
                t[p + f"self_attn.{x}_proj.bias"] = w(rows)
            t[p + "self_attn.o_proj.weight"] = w(hidden, heads * hd)
            t[p + "mlp.gate_proj.weight"] = w(ff, hidden)
            t[p + "mlp.up_proj.weight"] = w(ff, hidden)
            t[p + "mlp.down_proj.weight"] = w(hidden, ff)
        ids = {s: tok.token_to_id(s) for s in specials}
        config = {
            "architectures": ["DreamModel"], "model_type": "Dream", "hidden_act": "silu", "hidden_size": hidden,
            "intermediate_size": ff, "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kv_heads,
            "vocab_size": vocab, "max_position_embeddings": 512, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
            "rope_scaling": None, "tie_word_embeddings": tied, "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|endoftext|>"], "pad_token_id": ids["<|endoftext|>"], "mask_token_id": ids["<|mask|>"],
            "torch_dtype": "bfloat16" if dtype == torch.bfloat16 else "float32", "use_cache": False,
        }
        tconfig = {
            "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": None, "eos_token": "<|endoftext|>",
            "pad_token": "<|endoftext|>", "mask_token": "<|mask|>", "add_bos_token": False, "add_eos_token": False,
            "model_max_length": 512,
            "chat_template": "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                             "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
        }
    else:
        specials = ["<|startoftext|>", "<|endoftext|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|mdm_mask|>"]
        tok = train_tokenizer(kind, specials, [])
        t["model.transformer.wte.weight"] = w(vocab, hidden)
        if not tied:
            t["model.transformer.ff_out.weight"] = w(vocab, hidden)
        t["model.transformer.ln_f.weight"] = norm(hidden)
        for i in range(layers):
            p = f"model.transformer.blocks.{i}."
            t[p + "attn_norm.weight"] = norm(hidden)
            t[p + "ff_norm.weight"] = norm(hidden)
            t[p + "q_proj.weight"] = w(heads * hd, hidden)
            t[p + "k_proj.weight"] = w(kv_heads * hd, hidden)
            t[p + "v_proj.weight"] = w(kv_heads * hd, hidden)
            t[p + "attn_out.weight"] = w(hidden, heads * hd)
            t[p + "ff_proj.weight"] = w(ff, hidden)
            t[p + "up_proj.weight"] = w(ff, hidden)
            t[p + "ff_out.weight"] = w(hidden, ff)
        ids = {s: tok.token_to_id(s) for s in specials}
        config = {
            "activation_type": "silu", "architectures": ["LLaDAModelLM"], "block_type": "llama", "d_model": hidden,
            "embedding_size": vocab, "eos_token_id": ids["<|endoftext|>"], "include_bias": False, "include_qkv_bias": False,
            "layer_norm_type": "rms", "mask_token_id": ids["<|mdm_mask|>"], "max_sequence_length": 512, "mlp_hidden_size": ff,
            "model_type": "llada", "n_heads": heads, "n_kv_heads": kv_heads, "n_layers": layers,
            "pad_token_id": ids["<|endoftext|>"], "rms_norm_eps": 1e-5, "rope": True, "rope_theta": 500000.0,
            "scale_logits": False, "use_cache": False, "vocab_size": vocab, "weight_tying": tied,
        }
        tconfig = {
            "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
            "pad_token": "<|endoftext|>", "model_max_length": 512,
            "chat_template": "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
                             "{{ m['content'] }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}"
                             "<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}",
        }
    assert tok.get_vocab_size() < vocab  # ids past the tokenizer's: [PADn] tokens
    tok.save(str(folder / "tokenizer.json"))
    save_file({k: v.contiguous() for k, v in t.items()}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    (folder / "tokenizer_config.json").write_text(json.dumps(tconfig, indent=2))
    return folder


# ---------------------------------------------------------------------------------------------
# Both pipelines, and the comparison
# ---------------------------------------------------------------------------------------------

PRE = {"dream": "qwen2", "llada": "llama-bpe"}
SETTINGS = {  # ArrowQuant's settings for llama-quantize's type
    "Q8_0": ["--method", "q8_0"],
    "Q4_K_M": ["--mix", "q4_k_m"],
    "Q4_0": ["--mix", "q4_0"],
}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("llama-cpp")
    (d / "llama.yaml").write_text("keep_default_rules: false\n")
    return d


@pytest.fixture(scope="module")
def folders(work):
    return {
        # Dream as released: bf16, untied head, GQA (4 heads, 2 KV heads), q/k/v biases.
        "dream": make_model(work / "tiny-dream", "dream", dtype=torch.bfloat16, seed=1),
        "llada": make_model(work / "tiny-llada", "llada", seed=2),
        # Widths no K-quant block divides, tied embeddings, GQA (3 heads, 1 KV head).
        "llada-odd": make_model(work / "tiny-llada-odd", "llada", hidden=192, ff=320, heads=3, kv_heads=1, tied=True, seed=3),
    }


_converted = {}


def reference_f32(llama, folder, kind):
    """convert_hf_to_gguf.py --outtype f32, once per folder."""
    if folder not in _converted:
        out = folder.parent / f"{folder.name}.ref-f32.gguf"
        env = {**os.environ, "LLAMA_CPP_TOKENIZER_PRE": PRE[kind]}
        run([llama["python"], llama["wrapper"], folder, "--outtype", "f32", "--outfile", out], f"convert_hf_to_gguf.py {folder.name}", env=env)
        _converted[folder] = out
    return _converted[folder]


def gguf_contents(path):
    from gguf import GGUFReader

    r = GGUFReader(str(path))
    kvs = [(k, tuple(f.types), f.contents()) for k, f in r.fields.items() if not k.startswith("GGUF.")]
    tensors = [(t.name, t.tensor_type.name, tuple(int(x) for x in t.shape), t.data.tobytes()) for t in r.tensors]
    return kvs, tensors


def differences(ours, ref):
    """What differs between two GGUFs, canonically (a failure message when the bytes differ)."""
    (ka, ta), (kb, tb) = gguf_contents(ours), gguf_contents(ref)
    out = []
    da, db = {k: (t, v) for k, t, v in ka}, {k: (t, v) for k, t, v in kb}
    for k in sorted(set(da) | set(db)):
        if da.get(k) != db.get(k):
            show = lambda x: "absent" if x is None else repr(x)[:200]  # noqa: E731
            out.append(f"key {k}: ours {show(da.get(k))}, llama.cpp's {show(db.get(k))}")
    if [k for k, _, _ in ka] != [k for k, _, _ in kb] and not out:
        out.append(f"key order: ours {[k for k, _, _ in ka]}\n  llama.cpp's {[k for k, _, _ in kb]}")
    xa, xb = {t[0]: t for t in ta}, {t[0]: t for t in tb}
    for n in sorted(set(xa) | set(xb)):
        a, b = xa.get(n), xb.get(n)
        if a is None or b is None:
            out.append(f"tensor {n}: {'missing in ours' if a is None else 'not in llama.cpp'}")
        elif a[1:3] != b[1:3]:
            out.append(f"tensor {n}: ours {a[1]} {a[2]}, llama.cpp's {b[1]} {b[2]}")
        elif a[3] != b[3]:
            out.append(f"tensor {n}: {a[1]} data differs")
    if [t[0] for t in ta] != [t[0] for t in tb] and not out:
        out.append(f"tensor order: ours {[t[0] for t in ta]}\n  llama.cpp's {[t[0] for t in tb]}")
    return out


def generate(llama, model, kind):
    """llama-diffusion-cli's text (deterministic flags).

    It prints the steps and the text as entries of llama.cpp's asynchronous log ("\n<text>\n"
    after the "total time" line), and the process can exit while the log's thread is still
    writing: on a busy machine the last entries (even the last steps and "total time") are
    sometimes missing or cut short. So a run counts only if its text entry is there and ends
    with the newline, and the text returned is one that two such runs printed alike.
    """
    schedule = ["--diffusion-eps", "0.001"] if kind == "dream" else ["--diffusion-block-length", "16"]
    cmd = [llama["diffusion"], "-m", model, "-p", PROMPT, "-c", "64", "-b", "64", "-ub", "64", "--diffusion-steps", "8",
           "--seed", "42", "--top-k", "1", "-t", "1", "--no-log-prefix", "--no-log-timestamps", *schedule]
    seen, cut = [], None
    for _ in range(8):
        r = subprocess.run([str(c) for c in cmd], capture_output=True, timeout=120)
        assert r.returncode == 0, f"llama-diffusion-cli failed on {model}:\n{r.stderr.decode(errors='replace')[-3000:]}"
        lines = r.stderr.split(b"\n")
        at = next((i for i, l in enumerate(lines) if l.startswith(b"total time:")), None)
        if at is None:
            cut = r.stderr  # the log's last entries were lost at exit
            continue
        block = b"\n".join(lines[at + 1:])
        text = block.strip(b"\n")
        if not text or not block.endswith(b"\n"):
            continue  # the log entry was dropped or cut short
        if text in seen:
            return text
        seen.append(text)
    tail = "" if cut is None else f"; a run without its 'total time' line ended:\n{cut.decode(errors='replace')[-2000:]}"
    pytest.fail(f"llama-diffusion-cli did not print the same complete text twice in 8 runs on {model}: {seen}{tail}")


CASES = [
    ("dream", "Q8_0"), ("dream", "Q4_K_M"), ("dream", "Q4_0"),
    ("llada", "Q8_0"), ("llada", "Q4_K_M"), ("llada", "Q4_0"),
    ("llada-odd", "Q4_K_M"),
]

# The types llama-quantize gives (2 layers: use_more_bits is true for layer 1 only).
EXPECTED_TYPES = {
    ("dream", "Q4_K_M"): {"blk.1.attn_v.weight": "Q6_K", "blk.1.ffn_down.weight": "Q6_K", "output.weight": "Q6_K", "blk.0.attn_v.weight": "Q4_K", "token_embd.weight": "Q4_K", "blk.0.attn_q.bias": "F32"},
    ("dream", "Q4_0"): {"output.weight": "Q6_K", "token_embd.weight": "Q4_0", "blk.1.ffn_down.weight": "Q4_0", "blk.0.attn_norm.weight": "F32"},
    ("llada", "Q8_0"): {"output.weight": "Q8_0", "token_embd.weight": "Q8_0", "blk.0.attn_q.weight": "Q8_0"},
    # K-quant fallbacks: rows of 192 → Q5_0 (Q4_K) / Q8_0 (Q6_K); the tied embedding is the head: Q8_0.
    ("llada-odd", "Q4_K_M"): {"token_embd.weight": "Q8_0", "blk.0.attn_q.weight": "Q5_0", "blk.1.attn_v.weight": "Q8_0", "blk.0.ffn_down.weight": "Q5_0", "blk.1.ffn_down.weight": "Q8_0"},
}


@pytest.mark.parametrize("name,qtype", CASES, ids=[f"{n}-{q}" for n, q in CASES])
def test_export_equals_convert_and_llama_quantize_and_runs(llama, work, folders, name, qtype):
    kind = name.split("-")[0]
    folder = folders[name]
    ref = work / f"{name}.ref-{qtype}.gguf"
    run([llama["quantize"], reference_f32(llama, folder, kind), ref, qtype, "2"], f"llama-quantize {qtype}")

    parquet = work / f"{name}.{qtype}.parquet"
    r = cli("quantize", folder, "-o", parquet, "--config", work / "llama.yaml", "--quiet", *SETTINGS[qtype])
    assert r.returncode == 0, r.stderr
    ours = work / f"{name}.{qtype}.gguf"
    r = cli("export", parquet, "--to", "gguf", "--arch", kind, "--model", folder, "-o", ours)
    assert r.returncode == 0, r.stderr + r.stdout

    same = ours.read_bytes() == ref.read_bytes()
    assert same, f"{ours.name} differs from convert_hf_to_gguf.py + llama-quantize {qtype}:\n  " + "\n  ".join(differences(ours, ref))
    types = {n: t for n, t, _, _ in gguf_contents(ours)[1]}
    for tensor, want in EXPECTED_TYPES.get((name, qtype), {}).items():
        assert types[tensor] == want, f"{tensor}: {types[tensor]}, llama-quantize {qtype} gives {want}"
    if name == "llada-odd":
        assert "output.weight" not in types  # tied: llama.cpp uses token_embd as the head

    text_ours, text_ref = generate(llama, ours, kind), generate(llama, ref, kind)
    assert text_ours == text_ref


@pytest.mark.parametrize("kind", ["dream", "llada"])
def test_synthetic_folders_of_the_docs_equal_llama_cpp_too(llama, work, kind):
    """arrowquant-synth's folders (docs/RUN-LLAMA-CPP.md; bf16, widths of 128: K-quants fall
    back), and a copy whose tokenizer.json leaves a gap before its added tokens (tokenizers
    renumbers them; the export does the same), at Q4_K_M."""
    folder = work / f"synth-{kind}"
    r = subprocess.run([shutil.which("node"), str(ROOT / "dist" / "tools" / "synth" / "cli.js"), "--preset", kind, "-o", str(folder), "-q"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    gap = work / "gap" / folder.name
    shutil.copytree(folder, gap)
    t = json.loads((gap / "tokenizer.json").read_text())
    t["model"]["vocab"] = {k: v for k, v in t["model"]["vocab"].items() if not k.startswith("<|unused")}
    (gap / "tokenizer.json").write_text(json.dumps(t))
    for f in (folder, gap):
        ref = f.parent / f"{f.name}.ref-Q4_K_M.gguf"
        run([llama["quantize"], reference_f32(llama, f, kind), ref, "Q4_K_M", "2"], "llama-quantize")
        parquet, ours = f.parent / f"{f.name}.parquet", f.parent / f"{f.name}.gguf"
        r = cli("quantize", f, "-o", parquet, "--config", work / "llama.yaml", "--quiet", "--mix", "q4_k_m")
        assert r.returncode == 0, r.stderr
        r = cli("export", parquet, "--to", "gguf", "--arch", kind, "--model", f, "-o", ours)
        assert r.returncode == 0, r.stderr
        assert ours.read_bytes() == ref.read_bytes(), "\n".join(differences(ours, ref))
    assert generate(llama, ours, kind)


CARD = """---
license: apache-2.0
language:
- en
- zh
tags:
- diffusion
pipeline_tag: text-generation
base_model: Dream-org/Dream-v0-Base-7B
datasets:
- HuggingFaceFW/fineweb
- https://huggingface.co/datasets/foo/bar
model_name: Tiny Dream Card
author: ArrowQuant tests
version: "v1.0"
---
# Tiny Dream

A model card.
"""


def test_model_card_generation_config_and_special_tokens_map_are_written_as_the_converter_does(llama, work, folders):
    """README.md's front matter (general.license/tags/languages/base_model.*/dataset.*/…),
    generation_config.json (general.sampling.*), special_tokens_map.json and config.json's
    _name_or_path, at Q8_0, byte for byte."""
    folder = work / "card" / "Tiny-Dream-v2-Chat-1M"
    shutil.copytree(folders["dream"], folder)
    (folder / "README.md").write_text(CARD)
    (folder / "generation_config.json").write_text(json.dumps({"temperature": 0.2, "top_p": 0.95, "top_k": 20, "repetition_penalty": 1.05}))
    (folder / "special_tokens_map.json").write_text(json.dumps({"eos_token": "<|endoftext|>", "additional_special_tokens": ["<|im_start|>", "<|im_end|>"]}))
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({"_name_or_path": "ArrowQuant/tiny-dream-card", **config}))
    ref = folder.parent / "ref-Q8_0.gguf"
    run([llama["quantize"], reference_f32(llama, folder, "dream"), ref, "Q8_0", "2"], "llama-quantize")
    parquet, ours = folder.parent / "card.parquet", folder.parent / "card.gguf"
    r = cli("quantize", folder, "-o", parquet, "--config", work / "llama.yaml", "--quiet", "--method", "q8_0")
    assert r.returncode == 0, r.stderr
    r = cli("export", parquet, "--to", "gguf", "--arch", "dream", "--model", folder, "-o", ours)
    assert r.returncode == 0, r.stderr
    assert ours.read_bytes() == ref.read_bytes(), "\n".join(differences(ours, ref))
    kvs = {k: v for k, _, v in gguf_contents(ours)[0]}
    assert kvs["general.license"] == "apache-2.0" and kvs["general.base_model.count"] == 1 and "general.sampling.top_k" in kvs


IDS = ["tiny-dream", "Dream-v0-Instruct-7B", "LLaDA-8B-Instruct", "GSAI-ML/LLaDA-8B-Base", "Qwen2.5-0.5B-Instruct",
       "Meta-Llama-3.1-8B-Instruct-128k", "bloom-7b1", "Mixtral-8x7B-v0.1", "model-q4_k_m", "a b c", "./local/model",
       "Phi-3-mini-4k-instruct", "iter2-base-xl", "v0.1-test", "some_model-2_5B", "x--y", "SmolLM-135M-lora"]
COUNTS = [0, 999, 1000, 1500, 12_500_000, 1_434_624, 7_615_616_512, 8_000_000_000, 70_553_706_496, 2_500_000_000_000, -7_000_000_000]


def test_name_and_size_label_heuristics_are_gguf_pys(llama):
    """hf-metadata.ts's port of gguf-py's Metadata.get_model_id_components / id_to_title /
    model_weight_count_rounded_notation, on names and parameter counts of every kind."""
    from gguf.metadata import Metadata
    from gguf.utility import model_weight_count_rounded_notation

    script = (
        "const m = await import(process.argv[1]); const [ids, counts] = JSON.parse(process.argv[2]);"
        "console.log(JSON.stringify({ids: ids.map((id) => counts.map((n) => m.modelIdComponents(id, n))),"
        " titles: ids.map(m.idToTitle), labels: counts.filter((n) => n > 0).map(m.sizeLabel)}));"
    )
    mod = (ROOT / "dist" / "common" / "export" / "gguf" / "arch" / "hf-metadata.js").as_uri()
    r = subprocess.run([shutil.which("node"), "--input-type=module", "-e", script, mod, json.dumps([IDS, COUNTS])], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    keys = ["name", "org", "basename", "finetune", "version", "sizeLabel"]
    for id_, per_count in zip(IDS, got["ids"]):
        for n, comp in zip(COUNTS, per_count):
            assert tuple(comp.get(k) for k in keys) == Metadata.get_model_id_components(id_, n), (id_, n)
    assert got["titles"] == [Metadata.id_to_title(i) for i in IDS]
    assert got["labels"] == [model_weight_count_rounded_notation(n, min_digits=2) for n in COUNTS if n > 0]


def test_unquantized_export_is_convert_f32_in_llama_quantizes_layout(llama, work, folders):
    """Every tensor kept as float32 (`preserve`), exported, against convert --outtype f32: the same
    keys and values (LLaDA's q/k rows permuted alike, bf16 widened alike, the token list with
    its [PADn], control and user-defined tokens, merges, special ids and flags), in the converter's
    key order but for quantization_version/file_type, which come last as llama-quantize puts them;
    the same tensors (in llama-quantize's order, not the converter's)."""
    (work / "f32.yaml").write_text("keep_default_rules: false\npreserve:\n  '.': float32\n")
    for name, kind in (("dream", "dream"), ("llada-odd", "llada")):
        folder = folders[name]
        parquet = work / f"{name}.f32.parquet"
        r = cli("quantize", folder, "-o", parquet, "--config", work / "f32.yaml", "--quiet")
        assert r.returncode == 0, r.stderr
        ours = work / f"{name}.f32.gguf"
        r = cli("export", parquet, "--to", "gguf", "--arch", kind, "--model", folder, "-o", ours)
        assert r.returncode == 0, r.stderr
        kvs, tensors = gguf_contents(ours)
        rkvs, rtensors = gguf_contents(reference_f32(llama, folder, kind))
        assert sorted(tensors) == sorted(rtensors), "\n".join(differences(ours, reference_f32(llama, folder, kind)))
        assert sorted(kvs, key=lambda x: x[0]) == sorted(rkvs, key=lambda x: x[0])
        last = ["general.quantization_version", "general.file_type"]
        assert [k for k, _, _ in kvs] == [k for k, _, _ in rkvs if k not in last] + last
        types = {k: v for k, _, v in kvs}
        token_type = dict(zip(types["tokenizer.ggml.tokens"], types["tokenizer.ggml.token_type"]))
        assert token_type["<|endoftext|>"] == 3 and token_type[f"[PAD{len(token_type) - 1}]"] == 5
        if kind == "dream":
            assert token_type["<think>"] == 4 and types["tokenizer.ggml.pre"] == "qwen2"
        else:
            assert types["tokenizer.ggml.add_bos_token"] is True and types["tokenizer.ggml.pre"] == "llama-bpe"


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dream_q8(work, folders):
    parquet = work / "errors.dream.parquet"
    r = cli("quantize", folders["dream"], "-o", parquet, "--config", work / "llama.yaml", "--quiet", "--method", "q8_0")
    assert r.returncode == 0, r.stderr
    return parquet


def export_error(parquet, folder, *extra):
    r = cli("export", parquet, "--to", "gguf", "--arch", "dream", *(["--model", folder] if folder else []), "-o", parquet.with_suffix(".gguf"), *extra)
    assert r.returncode != 0, f"export succeeded:\n{r.stdout}"
    assert not parquet.with_suffix(".gguf").exists()
    return r.stderr


def variant(work, folders, name, edit):
    """A copy of the Dream folder (under the same folder name: general.name comes from it), edited."""
    d = work / name / folders["dream"].name
    if not d.exists():
        shutil.copytree(folders["dream"], d)
        edit(d)
    return d


def test_missing_model_folder_files_and_keys_are_named(work, folders, dream_q8):
    assert "--model DIR" in export_error(dream_q8, None)
    d = variant(work, folders, "no-tokenizer", lambda d: (d / "tokenizer.json").unlink())
    assert "tokenizer.json: missing" in export_error(dream_q8, d)
    d = variant(work, folders, "no-config", lambda d: (d / "config.json").unlink())
    assert "config.json: missing" in export_error(dream_q8, d)

    def drop_layers(d):
        c = json.loads((d / "config.json").read_text())
        del c["num_hidden_layers"]
        (d / "config.json").write_text(json.dumps(c))
    d = variant(work, folders, "no-layers", drop_layers)
    err = export_error(dream_q8, d)
    assert "config.json" in err and '"num_hidden_layers"' in err
    err = cli("export", dream_q8, "--to", "gguf", "--arch", "llada", "--model", folders["dream"], "-o", work / "x.gguf").stderr
    assert '"architectures"' in err and "LLaDAModelLM" in err


def test_an_unknown_pre_tokenizer_names_the_option(work, folders, dream_q8):
    def whitespace(d):
        t = json.loads((d / "tokenizer.json").read_text())
        t["pre_tokenizer"] = {"type": "Whitespace"}
        (d / "tokenizer.json").write_text(json.dumps(t))
    d = variant(work, folders, "odd-pre", whitespace)
    err = export_error(dream_q8, d)
    assert "--tokenizer-pre" in err and "Whitespace" in err
    assert "no pre-tokenizer of that name" in export_error(dream_q8, folders["dream"], "--tokenizer-pre", "qwen9")
    # Named, it is the file the detected name gives (the pre-tokenizer itself is not in a GGUF).
    for folder, out, extra in ((d, "odd-pre.gguf", ["--tokenizer-pre", "qwen2"]), (folders["dream"], "detected-pre.gguf", [])):
        r = cli("export", dream_q8, "--to", "gguf", "--arch", "dream", "--model", folder, "-o", work / out, *extra)
        assert r.returncode == 0, r.stderr
    assert (work / "odd-pre.gguf").read_bytes() == (work / "detected-pre.gguf").read_bytes()


def quantized_variant(work, folders, name, edit):
    from safetensors.torch import load_file

    d = variant(work, folders, name, lambda d: None)
    t = load_file(str(d / "model.safetensors"))
    edit(t)
    save_file(t, str(d / "model.safetensors"))
    parquet = work / f"{name}.parquet"
    r = cli("quantize", d, "-o", parquet, "--config", work / "llama.yaml", "--quiet", "--method", "q8_0")
    assert r.returncode == 0, r.stderr
    return parquet, d


def test_tensors_llama_cpp_has_no_place_for_or_needs_are_named(work, folders):
    p, d = quantized_variant(work, folders, "extra", lambda t: t.__setitem__("model.extra_proj.weight", torch.zeros(64, 256)))
    err = export_error(p, d)
    assert "no name in llama.cpp's dream layout" in err and "model.extra_proj.weight" in err
    p, d = quantized_variant(work, folders, "o-bias", lambda t: t.__setitem__("model.layers.0.self_attn.o_proj.bias", torch.zeros(256)))
    err = export_error(p, d)
    assert "blk.0.attn_output.bias" in err and "model.layers.0.self_attn.o_proj.bias" in err
    p, d = quantized_variant(work, folders, "no-norm", lambda t: t.pop("model.norm.weight"))
    assert "output_norm.weight" in export_error(p, d)


def test_formats_gguf_cannot_hold_are_refused_unless_reencoded(llama, work, folders):
    parquet = work / "rtn.parquet"
    r = cli("quantize", folders["dream"], "-o", parquet, "--config", work / "llama.yaml", "--quiet", "--method", "rtn", "--bits", "4")
    assert r.returncode == 0, r.stderr
    err = export_error(parquet, folders["dream"])
    assert "have no GGUF form" in err and "--reencode" in err and "model.layers.0.self_attn.q_proj.weight" in err
    out = work / "rtn.q8.gguf"
    r = cli("export", parquet, "--to", "gguf", "--arch", "dream", "--model", folders["dream"], "--reencode", "q8_0", "-o", out)
    assert r.returncode == 0, r.stderr
    assert "re-encoded" in r.stdout + r.stderr
    assert generate(llama, out, "dream")
