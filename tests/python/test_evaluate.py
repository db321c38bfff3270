"""tools/evaluate.py end to end: tiny models made with transformers' and diffusers' own classes
(random weights, save_pretrained), quantized with the CLI at q8_0 and at 2-bit RTN, then compared
with the original by the tool. Checks that q8_0 is close, that 2-bit is measurably worse on every
figure, that a model compared with itself gives exactly cosine 1 / KL 0 / infinite PSNR, that a
file of another model is refused naming the tensor, and that thresholds exit 3.

Needs .venv-torch with the pinned transformers and diffusers (scripts/setup-evaluate.sh), node and
the built CLI (dist/). The MiniLM test runs only when scripts/setup-real-model.sh has been run."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# the libraries' deprecation notices (DDIMScheduler's clip_sample, tokenizers' clean_up_tokenization_spaces)
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
diffusers = pytest.importorskip("diffusers")

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import evaluate as ev  # noqa: E402

CLI = ROOT / "dist" / "cli" / "main.js"
MINILM = ROOT / ".cache" / "real-model" / "all-MiniLM-L6-v2"
LOSSY = ["--method", "rtn", "--bits", "2", "--min-accuracy", "0"]

WORDS = ("the a an of to in on and is was it that with for as at by from this be are or not but "
         "dog cat fox bird house river city road car train book table chair tree water fire light "
         "red green blue small big old new quick lazy happy cold warm dark bright jumps runs sees "
         "over under near far here there today night day morning photo painting lighthouse coast "
         "sunset bicycle wall rain bees flowers oven degrees tin pharmacy nearest could you tell me "
         "where boils lower temperature high mountain because air pressure").split()


def quantize(model_dir, out, *args):
    node = shutil.which("node")
    if node is None or not CLI.exists():
        pytest.fail("needs node and the built CLI (npm run build)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARROW_QUANT_")}
    r = subprocess.run([node, str(CLI), "quantize", str(model_dir), "-o", str(out), "--quiet", *args],
                       env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out


def save_tokenizer(folder):
    """A word-level tokenizer over WORDS with BERT's special tokens ([CLS] x [SEP])."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(set(WORDS)))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                       special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                            sep_token="[SEP]", mask_token="[MASK]", model_max_length=64).save_pretrained(folder)
    return len(vocab)


def save_clip_tokenizer(folder):
    """CLIP's byte-level BPE with no merges: every byte is a token (514 tokens)."""
    from transformers import CLIPTokenizer
    from transformers.models.clip.tokenization_clip import bytes_to_unicode

    chars = list(bytes_to_unicode().values())
    tokens = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    folder.mkdir(parents=True)
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)


def tiny_vae():
    return diffusers.AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(32, 64), layers_per_block=1, latent_channels=4,
        norm_num_groups=32, sample_size=16)


def tiny_unet(sample_size=16):
    return diffusers.UNet2DConditionModel(
        sample_size=sample_size, in_channels=4, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32, attention_head_dim=8, norm_num_groups=32)


def tiny_dit(classes=10):
    return diffusers.DiTTransformer2DModel(
        num_attention_heads=2, attention_head_dim=32, in_channels=4, out_channels=8, num_layers=2, sample_size=8,
        patch_size=2, num_embeds_ada_norm=classes, norm_num_groups=32)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The tiny models, each quantized at q8_0 and 2-bit RTN: name -> {dir, q8, r2}."""
    d = tmp_path_factory.mktemp("evaluate")
    torch.manual_seed(0)
    models = {}
    (d / "bert").mkdir()
    vocab = save_tokenizer(d / "bert")
    bert = transformers.BertConfig(vocab_size=vocab, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                   intermediate_size=128, max_position_embeddings=64)
    transformers.BertModel(bert).save_pretrained(d / "bert")
    models["bert"] = d / "bert"
    # The same architecture but a wider FFN: a file of it does not fit "bert" (shapes differ).
    wide = transformers.BertConfig(**{**bert.to_dict(), "intermediate_size": 256})
    transformers.BertModel(wide).save_pretrained(d / "bert-wide")
    (d / "bert-mlm").mkdir()
    save_tokenizer(d / "bert-mlm")
    transformers.BertForMaskedLM(bert).save_pretrained(d / "bert-mlm")
    models["bert-mlm"] = d / "bert-mlm"
    (d / "llama").mkdir()
    save_tokenizer(d / "llama")
    # initializer_range 0.1 (not 0.02): peaked next-token distributions, so top-1 agreement means something
    llama = transformers.LlamaConfig(vocab_size=vocab, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                     num_key_value_heads=2, intermediate_size=128, max_position_embeddings=64,
                                     initializer_range=0.1)
    transformers.LlamaForCausalLM(llama).save_pretrained(d / "llama")
    models["llama"] = d / "llama"
    tiny_dit().save_pretrained(d / "dit")
    models["dit"] = d / "dit"
    tiny_unet().save_pretrained(d / "unet")
    models["unet"] = d / "unet"
    # Whole pipelines: DiT (class labels; DiTPipeline's null class is 1000, hence 1000 classes) and
    # Stable Diffusion (CLIP text encoder + UNet + VAE; prompts).
    diffusers.DiTPipeline(transformer=tiny_dit(1000), vae=tiny_vae(),
                          scheduler=diffusers.DDIMScheduler()).save_pretrained(d / "ditpipe")
    models["ditpipe"] = d / "ditpipe"
    tok = save_clip_tokenizer(d / "cliptok")
    clip = transformers.CLIPTextConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                       num_attention_heads=4, max_position_embeddings=77,
                                       bos_token_id=len(tok) - 2, eos_token_id=len(tok) - 1)
    diffusers.StableDiffusionPipeline(
        vae=tiny_vae(), text_encoder=transformers.CLIPTextModel(clip), tokenizer=tok, unet=tiny_unet(8),
        scheduler=diffusers.DDIMScheduler(), safety_checker=None, feature_extractor=None,
        requires_safety_checker=False).save_pretrained(d / "sd")
    models["sd"] = d / "sd"
    out = {}
    for name, folder in models.items():
        out[name] = {"dir": folder,
                     "q8": quantize(folder, d / f"{name}.q8_0.parquet", "--method", "q8_0"),
                     "r2": quantize(folder, d / f"{name}.rtn2.parquet", *LOSSY)}
    # The same BERT saved in bfloat16: same names and shapes, other source files.
    transformers.BertModel.from_pretrained(d / "bert").to(torch.bfloat16).save_pretrained(d / "bert-bf16")
    out["bert-bf16"] = {"dir": d / "bert-bf16",
                        "q8": quantize(d / "bert-bf16", d / "bert-bf16.q8_0.parquet", "--method", "q8_0")}
    out["bert-wide"] = {"dir": d / "bert-wide", "q8": quantize(d / "bert-wide", d / "bert-wide.q8_0.parquet", "--method", "q8_0")}
    prompts = d / "prompts.txt"
    prompts.write_text("the quick red fox jumps over the lazy dog\n\na photo of a lighthouse on the coast at sunset\n"
                       "bees see flowers in the morning light\ncould you tell me where the nearest pharmacy is\n"
                       "water boils at a lower temperature on a high mountain\n")
    out["prompts"] = prompts
    out["tmp"] = d
    return out


def evaluate(tmp_path, *args):
    """tools/evaluate.py in this process: (exit code, the JSON document or None)."""
    js = tmp_path / f"eval-{len(list(tmp_path.glob('eval-*')))}.json"
    rc = ev.main([str(a) for a in args] + ["--json", str(js)])
    return rc, (json.loads(js.read_text()) if js.exists() else None)


def unit(doc, name=None):
    units = {u["name"]: u for u in doc["units"]}
    return units[name] if name else next(iter(units.values()))


def test_encoder_bert(lab, tmp_path):
    rc, q8 = evaluate(tmp_path, lab["bert"]["dir"], lab["bert"]["q8"], "--inputs", lab["prompts"])
    assert rc == 0
    u = unit(q8)
    assert u["kind"] == "encoder" and u["class"] == "BertModel"
    assert u["inputs"].startswith("5 lines of")  # the empty line is skipped
    m8 = u["metrics"]
    assert m8["inputs"] == 5 and m8["pooling"] == "mean"
    assert m8["embedding_cosine_min"] > 0.999 and m8["token_cosine_min"] > 0.999
    assert m8["embedding_cosine_mean"] < 1.0  # q8_0 is not lossless: the quantized weights were loaded
    rc, r2 = evaluate(tmp_path, lab["bert"]["dir"], lab["bert"]["r2"], "--inputs", lab["prompts"])
    assert rc == 0
    m2 = unit(r2)["metrics"]
    for k in ("embedding_cosine_mean", "embedding_cosine_min", "token_cosine_mean", "token_cosine_min"):
        assert 1 - m2[k] > 10 * (1 - m8[k]), (k, m8[k], m2[k])


def test_causal_lm_llama(lab, tmp_path):
    rc, q8 = evaluate(tmp_path, lab["llama"]["dir"], lab["llama"]["q8"])  # no --inputs: built-in sentences
    assert rc == 0
    u = unit(q8)
    assert u["kind"] == "lm" and not u["masked_lm"] and u["class"] == "LlamaForCausalLM"
    assert "built-in sample sentences (no --inputs given)" in u["inputs"]
    m8 = u["metrics"]
    assert m8["tokens"] > 100 and m8["mask_ratio"] == 0
    assert 0 < m8["kl_mean"] < 1e-3 and m8["top1_agreement"] >= 0.95
    rc, r2 = evaluate(tmp_path, lab["llama"]["dir"], lab["llama"]["r2"])
    m2 = unit(r2)["metrics"]
    assert m2["tokens"] == m8["tokens"]
    assert m2["kl_mean"] > 10 * m8["kl_mean"] and m2["kl_max"] > m8["kl_max"]
    assert m2["top1_agreement"] < m8["top1_agreement"] - 0.05


def test_masked_lm(lab, tmp_path):
    rc, q8 = evaluate(tmp_path, lab["bert-mlm"]["dir"], lab["bert-mlm"]["q8"], "--inputs", lab["prompts"])
    assert rc == 0
    u = unit(q8)
    assert u["kind"] == "lm" and u["masked_lm"] and u["class"] == "BertForMaskedLM"
    m8 = u["metrics"]
    assert m8["mask_ratio"] == 0.15 and m8["masked_tokens"] >= 5  # at least one per input
    assert "replaced by the mask token 4" in u["inputs"]
    rc, r2 = evaluate(tmp_path, lab["bert-mlm"]["dir"], lab["bert-mlm"]["r2"], "--inputs", lab["prompts"])
    m2 = unit(r2)["metrics"]
    assert m2["masked_tokens"] == m8["masked_tokens"]
    assert m2["kl_mean"] > 10 * m8["kl_mean"] and m2["masked_kl_mean"] > 10 * m8["masked_kl_mean"]
    assert m2["top1_agreement"] < m8["top1_agreement"]


@pytest.mark.parametrize("name", ["dit", "unet"])
def test_denoiser(lab, tmp_path, name):
    rc, q8 = evaluate(tmp_path, lab[name]["dir"], lab[name]["q8"])
    assert rc == 0
    u = unit(q8)
    assert u["kind"] == "denoiser"
    m8 = u["metrics"]
    assert [r["timestep"] for r in m8["per_timestep"]] == [100, 300, 500, 700, 900]
    assert m8["psnr_min_db"] > 45 and m8["cosine_min"] > 0.999
    rc, r2 = evaluate(tmp_path, lab[name]["dir"], lab[name]["r2"])
    m2 = unit(r2)["metrics"]
    for a, b in zip(m8["per_timestep"], m2["per_timestep"]):
        assert b["psnr_db"] < a["psnr_db"] - 20 and b["cosine_min"] < a["cosine_min"] and b["rel_rmse"] > 10 * a["rel_rmse"]
    for k in ("psnr_min_db", "psnr_mean_db", "cosine_mean", "cosine_min"):
        assert m2[k] < m8[k], k
    if name == "dit":
        assert "class labels of 10" in u["inputs"]
    else:
        assert "conditioning [4, 77, 32]" in u["inputs"]


def test_pipeline_components_and_images(lab, tmp_path):
    p = lab["ditpipe"]
    rc, q8 = evaluate(tmp_path, p["dir"], p["q8"], "--pipeline-images", 2, "--pipeline-steps", 4)
    assert rc == 0
    assert {u["name"]: u["kind"] for u in q8["units"]} == {"transformer": "denoiser", "vae": "vae"}
    i8 = q8["pipeline_images"]
    assert i8["images"] == 2 and i8["quantized_components"] == ["transformer", "vae"] and i8["size"] == [16, 16]
    assert i8["psnr_min_db"] > 30 and i8["ssim_min"] > 0.95
    assert unit(q8, "vae")["metrics"]["psnr_min_db"] > 40
    rc, r2 = evaluate(tmp_path, p["dir"], p["r2"], "--pipeline-images", 2, "--pipeline-steps", 4)
    i2 = r2["pipeline_images"]
    assert i2["psnr_min_db"] < i8["psnr_min_db"] - 10 and i2["ssim_min"] < i8["ssim_min"] - 0.2
    for name in ("transformer", "vae"):
        a, b = unit(q8, name)["metrics"], unit(r2, name)["metrics"]
        assert b["psnr_min_db"] < a["psnr_min_db"] - 10 and b["cosine_min"] < a["cosine_min"]


def test_stable_diffusion_pipeline_with_prompts(lab, tmp_path):
    """A text-to-image pipeline: the CLIP text encoder is measured on the --inputs prompts through
    the pipeline's own tokenizer/, and the images are generated from them."""
    p = lab["sd"]
    args = ["--inputs", lab["prompts"], "--pipeline-images", 2, "--pipeline-steps", 4, "--pipeline-size", 16]
    rc, q8 = evaluate(tmp_path, p["dir"], p["q8"], *args)
    assert rc == 0
    assert {u["name"]: (u["kind"], u["class"]) for u in q8["units"]} == {
        "text_encoder": ("encoder", "CLIPTextModel"), "unet": ("denoiser", "UNet2DConditionModel"),
        "vae": ("vae", "AutoencoderKL")}
    te = unit(q8, "text_encoder")
    assert te["inputs"].startswith("5 lines of") and te["metrics"]["tokens"] > 100  # byte-level tokens
    assert te["metrics"]["embedding_cosine_min"] > 0.999
    assert "conditioning [4, 77, 32]" in unit(q8, "unet")["inputs"]
    assert q8["pipeline_images"]["size"] == [16, 16] and q8["pipeline_images"]["ssim_min"] > 0.99
    rc, r2 = evaluate(tmp_path, p["dir"], p["r2"], *args)
    a, b = unit(q8, "text_encoder")["metrics"], unit(r2, "text_encoder")["metrics"]
    for k in ("embedding_cosine_mean", "embedding_cosine_min", "token_cosine_mean", "token_cosine_min"):
        assert 1 - b[k] > 10 * (1 - a[k]), k
    for name in ("unet", "vae"):
        assert unit(r2, name)["metrics"]["psnr_min_db"] < unit(q8, name)["metrics"]["psnr_min_db"] - 10
    i8, i2 = q8["pipeline_images"], r2["pipeline_images"]
    assert i2["psnr_min_db"] < i8["psnr_min_db"] - 10 and i2["ssim_min"] < i8["ssim_min"] - 0.1


def test_pipeline_component_from_exported_folder(lab, tmp_path, capsys):
    """An already-exported folder works too; --component narrows a pipeline to one component, and
    without --pipeline-images the image check is reported as not measured."""
    out = tmp_path / "exported"
    subprocess.run(["node", str(CLI), "export", str(lab["ditpipe"]["q8"]), "--to", "safetensors", "-o", str(out)],
                   check=True, capture_output=True)
    assert (out / "transformer" / "diffusion_pytorch_model.safetensors").is_file()
    rc = ev.main([str(lab["ditpipe"]["dir"]), str(out), "--component", "transformer", "--timesteps", "3"])
    text = capsys.readouterr().out
    assert rc == 0
    assert "== transformer: DiTTransformer2DModel (denoiser)" in text and "== vae" not in text
    assert "pipeline images: not measured (pass --pipeline-images N" in text
    assert "3 timestep(s) of 1000: 166, 500, 833" in text


@pytest.mark.parametrize("name", ["bert", "llama", "bert-mlm", "dit", "unet", "ditpipe", "sd"])
def test_unquantized_copy_is_exact(lab, tmp_path, name):
    """The original folder as QUANTIZED: exactly cosine 1, KL 0, top-1 1, infinite PSNR (null), SSIM 1."""
    images = ["--pipeline-images", 1, "--pipeline-steps", 2] if name in ("ditpipe", "sd") else []
    rc, doc = evaluate(tmp_path, lab[name]["dir"], lab[name]["dir"], "--min-cosine", 1.0, "--max-kl", 0.0,
                       "--min-top1", 1.0, *images)
    assert rc == 0 and doc["passed"]
    if images:
        assert doc["pipeline_images"]["psnr_min_db"] is None and doc["pipeline_images"]["ssim_min"] == 1.0
    for u in doc["units"]:
        m = u["metrics"]
        if u["kind"] == "encoder":
            assert m["embedding_cosine_min"] == 1.0 and m["token_cosine_min"] == 1.0
        elif u["kind"] == "lm":
            assert m["kl_max"] == 0.0 and m["top1_agreement"] == 1.0
            if "masked_kl_max" in m:
                assert m["masked_kl_max"] == 0.0
        else:
            assert m["cosine_min"] == 1.0 and m["psnr_min_db"] is None  # JSON null: identical outputs
    assert len(doc["thresholds"]) >= 1


def test_file_of_another_model_is_refused(lab, tmp_path):
    """Through the command line: exit 2 and a message naming the file and the tensors."""
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "evaluate.py"), str(lab["bert"]["dir"]),
                        str(lab["llama"]["q8"])], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    err = r.stderr
    assert "evaluate: error: bert: tensor names differ" in err
    assert "llama.q8_0.parquet (exported model.safetensors)" in err
    assert '"embeddings.LayerNorm.bias"' in err and '"lm_head.weight"' in err
    assert "Is the quantized file made from this model?" in err and "Traceback" not in err
    assert r.stdout == ""


def test_shape_mismatch_names_the_tensor(lab, tmp_path, capsys):
    rc = ev.main([str(lab["bert"]["dir"]), str(lab["bert-wide"]["q8"])])
    err = capsys.readouterr().err
    assert rc == 2
    assert 'tensor "encoder.layer.0.intermediate.dense.bias" has shape [256]' in err
    assert "bert-wide.q8_0.parquet (exported model.safetensors)" in err and "but [128] in" in err


def test_pipeline_vs_single_model_is_refused(lab, tmp_path, capsys):
    rc = ev.main([str(lab["dit"]["dir"]), str(lab["ditpipe"]["q8"])])
    assert rc == 2
    assert "is a diffusers pipeline (components transformer, vae)" in capsys.readouterr().err


def test_file_of_another_dtype_is_noted_and_json_on_stdout(lab, tmp_path, capsys):
    """A file made from a bfloat16 copy: names and shapes match, so it is compared, but the footer's
    source sizes differ from ORIGINAL's and the output says so. `--json` alone: JSON on stdout."""
    rc = ev.main([str(lab["bert"]["dir"]), str(lab["bert-bf16"]["q8"]), "--inputs", str(lab["prompts"]), "--json"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert any("bert-bf16.q8_0.parquet was made from a model.safetensors of" in n and "not the same file" in n
               for n in doc["notes"])
    m = unit(doc)["metrics"]
    assert 0.999 < m["embedding_cosine_min"] < 1.0
    assert doc["versions"]["transformers"] == transformers.__version__


def test_component_folder_as_original(lab, tmp_path, capsys):
    """ORIGINAL may be one component's folder, with --component picking it from the pipeline's file."""
    p = lab["ditpipe"]
    rc, doc = evaluate(tmp_path, p["dir"] / "transformer", p["q8"], "--component", "transformer", "--timesteps", 2)
    assert rc == 0 and [u["name"] for u in doc["units"]] == ["transformer"] and doc["notes"] == []
    assert unit(doc)["metrics"]["psnr_min_db"] > 45


def test_thresholds_gate(lab, tmp_path, capsys):
    gate = ["--min-cosine", "0.99", "--min-psnr", "35"]
    rc, doc = evaluate(tmp_path, lab["dit"]["dir"], lab["dit"]["q8"], *gate)
    assert rc == 0 and doc["passed"] and [c["pass"] for c in doc["thresholds"]] == [True, True]
    capsys.readouterr()
    rc, doc = evaluate(tmp_path, lab["dit"]["dir"], lab["dit"]["r2"], *gate, "--max-kl", "0.1")
    assert rc == 3 and not doc["passed"]
    assert {c["threshold"]: c["pass"] for c in doc["thresholds"]} == {"--min-cosine": False, "--min-psnr": False}
    assert "--max-kl given but no evaluated model has that figure (not checked)" in doc["notes"]
    io = capsys.readouterr()
    assert "FAIL  dit: cosine min" in io.out and "RESULT: FAIL (exit 3)" in io.out
    assert "evaluate: FAILED dit: cosine min" in io.err
    rc, _ = evaluate(tmp_path, lab["llama"]["dir"], lab["llama"]["r2"], "--min-top1", "0.99")
    assert rc == 3


@pytest.mark.skipif(not (MINILM / "model.safetensors").is_file(),
                    reason="the real MiniLM is not here (bash scripts/setup-real-model.sh)")
def test_real_minilm_q8_0_vs_q4_0(tmp_path):
    q8 = quantize(MINILM, tmp_path / "minilm.q8_0.parquet", "--method", "q8_0")
    q4 = quantize(MINILM, tmp_path / "minilm.q4_0.parquet", "--method", "q4_0", "--min-accuracy", "0")
    rc, d8 = evaluate(tmp_path, MINILM, q8, "--min-cosine", "0.999")
    assert rc == 0
    u = unit(d8)
    assert u["class"] == "BertModel" and "16 built-in sample sentences" in u["inputs"]
    m8 = u["metrics"]
    assert m8["pooling"] == "mean" and m8["embedding_cosine_min"] > 0.999
    rc, d4 = evaluate(tmp_path, MINILM, q4, "--min-cosine", "0.999")
    m4 = unit(d4)["metrics"]
    assert rc == 3  # q4_0 is measurably worse than q8_0 on a real encoder
    assert 0.9 < m4["embedding_cosine_mean"] < m8["embedding_cosine_mean"]
    assert 1 - m4["embedding_cosine_min"] > 5 * (1 - m8["embedding_cosine_min"])
