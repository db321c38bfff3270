"""`arrowquant export --to gguf --arch sd1|sdxl|flux|sd3` against stable-diffusion.cpp (issue 15),
the fast part (4.5 minutes on this 2-core machine, 13 beside another job; most of it building the
models and sd-cli's conversions; `npm run test:runtimes` runs it with the SD1.5 part,
test_sdcpp_sd15.py):

- The reference for every file is stable-diffusion.cpp's own `sd-cli -M convert` of the same
  checkpoint, told (`--tensor-type-rules`) to give each tensor the type it has in our file: per
  tensor the names, types, shapes and bytes must be equal. For SD1/SDXL the checkpoint is the
  diffusers pipeline itself and sd-cli's `--convert-name` maps its names (an oracle for our
  diffusers → original table that we did not write); for Flux and SD3, whose diffusers names
  sd-cli does not convert, it is the original (BFL/SAI) checkpoint that diffusers' own converter
  turns into the diffusers model we quantize (sd_models.py checks that round trip).
- q8_0 matches as is. q4_0/q4_K match with `--uniform-importance`, because sd-cli quantizes with
  a dummy all-ones importance matrix; without it our bytes are llama.cpp's reference search's
  (llama-quantize's without an imatrix), which differ, and the file still loads and generates.
- A small Flux transformer (sd-cli's Flux is shape-driven) generates a 64×64 image with our file
  and with the reference: the pixels must be equal (and not constant); so does arrowquant-synth's
  flux pipeline (bf16, with its VAE and CLIP-L exported too), which docs/RUN-SD-CPP.md runs.

Needs .venv-torch with diffusers (scripts/setup-evaluate.sh), the built CLI (dist/) and sd-cli
(scripts/setup-sdcpp.sh; without it the tests skip)."""
import json
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning")
torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

import sd_models  # noqa: E402
from sdcpp import CLI, SYNTH, Gguf, arrowquant, compare, generate, is_constant, run, same_image, sd_cli, sd_convert  # noqa: E402

# stable-diffusion.cpp's and ComfyUI-GGUF's names for the architectures (ComfyUI-GGUF's IMG_ARCH_LIST)
COMFY_ARCHS = {"flux", "sd1", "sdxl", "sd3", "aura", "hidream", "cosmos", "ltxv", "hyvid", "wan", "lumina2", "qwen_image"}
TYPES = [("q8_0", []), ("q4_0", ["--uniform-importance"]), ("q4_k", ["--uniform-importance"])]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    if shutil.which("node") is None or not CLI.exists():
        pytest.fail("needs node and the built CLI (npm run build)")
    sd_cli()  # skips without it
    d = tmp_path_factory.mktemp("sdcpp")
    sd_models.flux_transformer(d / "flux")
    sd_models.sd3_transformer(d / "sd3")
    sd_models.sd1_pipeline(d / "sd1")
    sd_models.sdxl_pipeline(d / "sdxl")
    sd_models.flux_vae_original(d / "flux-vae.safetensors")
    sd_models.zero_clip_l(d / "clip-l-zero.safetensors")
    return d


def quantized(work, model, method, extra=()):
    out = work / f"{model}-{method}{'-u' if '--uniform-importance' in extra else ''}.parquet"
    if not out.exists():
        arrowquant("quantize", work / model, "-o", out, "--method", method, "--quiet", *extra)
    return out


def export(parquet, out, arch, *extra):
    return arrowquant("export", parquet, "--to", "gguf", "--arch", arch, "-o", out, *extra)


def export_fails(parquet, out, arch, *extra):
    r = subprocess.run(["node", str(CLI), "export", str(parquet), "--to", "gguf", "--arch", arch, "-o", str(out), *map(str, extra)],
                       capture_output=True, text=True)
    assert r.returncode != 0, r.stderr
    assert not out.exists()
    return r.stderr


def flux_image(work, gguf, png):
    generate(png, "--diffusion-model", gguf, "--vae", work / "flux-vae.safetensors", "--clip_l", work / "clip-l-zero.safetensors",
             extra=("--cfg-scale", "1"))
    assert not is_constant(png), f"{png} is one colour"
    return png


@pytest.mark.parametrize("method,extra", TYPES, ids=[t[0] for t in TYPES])
def test_flux_matches_sdcpp_convert_byte_for_byte_and_image_for_image(work, method, extra):
    ours, ref = work / f"flux-{method}.gguf", work / f"flux-{method}-ref.gguf"
    r = export(quantized(work, "flux", method, extra), ours, "flux", "--component", "transformer")
    assert "joined 6 merged tensor(s)" in r.stderr and "swapped the shift/scale halves of 2" in r.stderr
    g = Gguf(ours)
    assert g.kv["general.architecture"] == "flux"
    assert {"double_blocks.0.img_attn.qkv.weight", "single_blocks.0.linear1.weight", "final_layer.adaLN_modulation.1.weight"} <= set(g.tensors)
    want = {"q8_0": "q8_0", "q4_0": "q4_0", "q4_k": "q4_K"}[method]
    assert g.types().get(want, 0) >= 10, g.types()
    sd_convert(work / "flux" / "flux-original.safetensors", ref, g.type_rules())
    assert compare(ours, ref) == []
    assert same_image(flux_image(work, ours, work / f"flux-{method}.png"), flux_image(work, ref, work / f"flux-{method}-ref.png"))



MORE_TYPES = ["q4_1", "q5_0", "q5_1", "q2_k", "q3_k", "q5_k", "q6_k"]


@pytest.mark.parametrize("method", MORE_TYPES)
def test_flux_other_gguf_types_match_sdcpp_convert_byte_for_byte(work, method):
    """The rest of the GGUF formats, bytes only (the images of three types are checked above)."""
    ours, ref = work / f"flux-{method}.gguf", work / f"flux-{method}-ref.gguf"
    export(quantized(work, "flux", method, ["--uniform-importance"]), ours, "flux", "--component", "transformer")
    g = Gguf(ours)
    want = method.replace("_k", "_K")
    assert g.types().get(want, 0) >= 10, g.types()
    sd_convert(work / "flux" / "flux-original.safetensors", ref, g.type_rules())
    assert compare(ours, ref) == []

def test_flux_types_give_different_images_and_q4k_without_uniform_importance_is_llamacpps_reference_search(work):
    """The comparison can tell types apart; and without --uniform-importance, Q4_K differs from
    sd-cli's bytes (ggml's reference search vs its importance-weighted one) but loads and generates."""
    q8, q4 = work / "flux-q8_0.png", work / "flux-q4_k.png"
    if not (q8.exists() and q4.exists()):
        pytest.skip("needs the parametrized Flux test's images")
    assert not same_image(q8, q4)
    ours, ref = work / "flux-q4_k-plain.gguf", work / "flux-q4_k-plain-ref.gguf"
    export(quantized(work, "flux", "q4_k"), ours, "flux", "--component", "transformer")
    g = Gguf(ours)
    sd_convert(work / "flux" / "flux-original.safetensors", ref, g.type_rules())
    diffs = compare(ours, ref)
    quantized_names = {n for n, t in g.tensors.items() if t[0] == "q4_K"}
    assert diffs and all(d.endswith("bytes differ") and d.split(":")[0] in quantized_names for d in diffs), diffs
    png = flux_image(work, ours, work / "flux-q4_k-plain.png")
    assert not same_image(png, q4)


@pytest.mark.parametrize("method,extra", [TYPES[0], TYPES[2]], ids=["q8_0", "q4_k"])
def test_sd3_matches_sdcpp_convert_of_the_original(work, method, extra):
    """SD3 is too large to generate here (sd-cli builds SD3-medium's shapes whatever the file), so bytes only."""
    ours, ref = work / f"sd3-{method}.gguf", work / f"sd3-{method}-ref.gguf"
    export(quantized(work, "sd3", method, extra), ours, "sd3", "--component", "transformer")
    g = Gguf(ours)
    assert g.kv["general.architecture"] == "sd3"
    assert g.shapes["pos_embed"] == (1, 256, 64)  # [1, positions, hidden], as ComfyUI wants it (sd-cli reads either)
    assert {"joint_blocks.0.x_block.attn.qkv.weight", "joint_blocks.0.x_block.attn2.qkv.weight", "joint_blocks.1.context_block.adaLN_modulation.1.weight"} <= set(g.tensors)
    sd_convert(work / "sd3" / "sd3-original.safetensors", ref, g.type_rules())
    assert compare(ours, ref) == []


def sdxl_prefixed(work):
    """The SDXL pipeline as one file under the prefixes sd-cli's loaders give its parts (unet., vae.,
    te., and --clip_g's cond_stage_model.1.transformer.): sd-cli -M convert takes one file, and its
    diffusers-folder loader names text_encoder_2 "te.1.", which its conversion maps to a prefix its
    SDXL model does not read (cond_stage_model.transformer.1.)."""
    from safetensors.torch import load_file, save_file

    out = work / "sdxl-prefixed.safetensors"
    if not out.exists():
        t = {}
        for comp, prefix in (("unet", "unet."), ("vae", "vae."), ("text_encoder", "te."), ("text_encoder_2", "cond_stage_model.1.transformer.")):
            f = next((work / "sdxl" / comp).glob("*.safetensors"))
            t.update({prefix + k: v for k, v in load_file(str(f)).items()})
        save_file(t, str(out))
    return out


@pytest.mark.parametrize("method,extra", [TYPES[0], TYPES[2]], ids=["q8_0", "q4_k"])
@pytest.mark.parametrize("arch", ["sd1", "sdxl"])
def test_sd_checkpoint_names_and_bytes_match_sdcpp_convert_name(work, arch, method, extra):
    ours, ref = work / f"{arch}-{method}.gguf", work / f"{arch}-{method}-ref.gguf"
    export(quantized(work, arch, method, extra), ours, arch)
    g = Gguf(ours)
    assert g.kv["general.architecture"] == arch
    prefixes = {n.split(".")[0] for n in g.tensors}
    assert prefixes == {"model", "first_stage_model", "cond_stage_model"}, prefixes
    src = work / "sd1" if arch == "sd1" else sdxl_prefixed(work)
    sd_convert(src, ref, g.type_rules(), "--convert-name")
    assert compare(ours, ref) == []
    if arch == "sdxl":
        assert "cond_stage_model.1.transformer.text_model.text_projection" in g.tensors
        assert "model.diffusion_model.output_blocks.2.2.conv.weight" in g.tensors  # SDXL's upsampler after an attention


@pytest.mark.parametrize("arch", ["sd1", "sdxl"])
def test_sd_components_are_the_checkpoint_s_parts_in_the_runtimes_names(work, arch):
    """--component unet: the checkpoint's UNet without its prefix (what ComfyUI-GGUF's Unet Loader
    loads); vae: what sd-cli's --vae takes; the text encoders in Hugging Face names."""
    full = Gguf(work / f"{arch}-q8_0.gguf") if (work / f"{arch}-q8_0.gguf").exists() else None
    if full is None:
        export(quantized(work, arch, "q8_0"), work / f"{arch}-q8_0.gguf", arch)
        full = Gguf(work / f"{arch}-q8_0.gguf")
    src = quantized(work, arch, "q8_0")
    parts = {"unet": "model.diffusion_model.", "vae": "first_stage_model.", "text_encoder": "cond_stage_model.transformer."}
    if arch == "sdxl":
        parts["text_encoder_2"] = "cond_stage_model.1.transformer."
    seen = set()
    for comp, prefix in parts.items():
        out = work / f"{arch}-{comp}.gguf"
        export(src, out, arch, "--component", comp)
        g = Gguf(out)
        assert ("general.architecture" in g.kv) == (comp == "unet"), g.kv
        for n, t in g.tensors.items():
            name = prefix + ("text_model.text_projection" if n == "text_projection.weight" else n)
            assert full.tensors[name][:2] == t[:2] and full.data(name) == g.data(n), n
            seen.add(name)
    assert seen == set(full.tensors)
    unet = set(Gguf(work / f"{arch}-unet.gguf").tensors)
    # ComfyUI-GGUF's detect_arch keys (tools/convert.py), on the bare names
    keys = ["input_blocks.3.0.op.weight", "input_blocks.6.0.op.weight"] + (
        ["output_blocks.2.2.conv.weight", "output_blocks.5.2.conv.weight", "label_emb.0.0.weight"] if arch == "sdxl"
        else ["input_blocks.9.0.op.weight", "output_blocks.2.1.conv.weight", "output_blocks.5.2.conv.weight", "output_blocks.8.2.conv.weight"])
    assert set(keys) <= unet, set(keys) - unet
    if arch == "sd1":
        # The pinned sd-cli decides whether a model is a UNet before it reads --clip_l, and a UNet's
        # names alone do not tell it (it needs the text encoder's token embedding): SD1/SDXL run
        # there as the whole checkpoint only (docs/RUN-SD-CPP.md says so).
        r = subprocess.run([str(sd_cli()), "--diffusion-model", str(work / "sd1-unet.gguf"), "--clip_l", str(work / "sd1-text_encoder.gguf"),
                            "--vae", str(work / "sd1-vae.gguf"), "-p", "x", "-W", "64", "-H", "64", "--steps", "1", "-o", str(work / "sd1-parts.png")],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode != 0 and "get sd version from file failed" in r.stdout + r.stderr, r.stdout[-2000:]


def test_comfyui_gguf_reads_the_flux_and_sd3_files_as_their_architectures(work):
    """What ComfyUI-GGUF's loader needs: general.architecture in its list, bare original names with
    its detection keys, shapes as torch's reversed (it takes reversed(ne) unless an orig_shape key says otherwise)."""
    for name, key in (("flux-q8_0", "double_blocks.0.img_attn.proj.weight"), ("sd3-q8_0", "joint_blocks.0.x_block.attn.qkv.weight")):
        p = work / f"{name}.gguf"
        if not p.exists():
            pytest.skip("needs the Flux and SD3 tests' files")
        g = Gguf(p)
        assert g.kv["general.architecture"] in COMFY_ARCHS
        assert key in g.tensors and not any(n.startswith("model.diffusion_model.") for n in g.tensors)
        assert not any(k.startswith("comfy.gguf.orig_shape") for k in g.kv)


def test_merged_parts_in_different_formats_are_refused_naming_them_unless_reencoded(work, tmp_path):
    cfg = tmp_path / "mixed.yaml"
    cfg.write_text("overrides:\n  - pattern: '^transformer_blocks\\.0\\.attn\\.to_k\\.weight$'\n    method: q6_k\n")
    src = tmp_path / "flux-mixed.parquet"
    arrowquant("quantize", work / "flux", "-o", src, "--method", "q4_k", "--config", cfg, "--quiet")
    out = tmp_path / "flux-mixed.gguf"
    err = export_fails(src, out, "flux", "--component", "transformer")
    assert "1 merged tensor(s) have parts in different formats" in err
    assert "double_blocks.0.img_attn.qkv.weight joins transformer/transformer_blocks.0.attn.to_q.weight (q4_k → Q4_K), transformer/transformer_blocks.0.attn.to_k.weight (q6_k → Q6_K)" in err
    assert "--reencode" in err
    r = export(src, out, "flux", "--component", "transformer", "--reencode", "q8_0")
    assert "re-encoded transformer/transformer_blocks.0.attn.to_k.weight: q6_k → Q8_0" in r.stderr
    g = Gguf(out)
    assert g.tensors["double_blocks.0.img_attn.qkv.weight"][0] == "q8_0" and g.tensors["double_blocks.0.txt_attn.qkv.weight"][0] == "q4_K"


def test_unknown_tensors_are_named_and_pipelines_need_a_component_for_flux(work, tmp_path):
    from safetensors.torch import load_file, save_file

    bad = tmp_path / "flux-extra"
    shutil.copytree(work / "flux", bad, ignore=shutil.ignore_patterns("*original*"))
    f = bad / "transformer" / "diffusion_pytorch_model.safetensors"
    t = load_file(str(f))
    t["transformer_blocks.0.attn.extra_proj.weight"] = torch.zeros(256, 256)
    t["mystery.weight"] = torch.zeros(64, 64)
    save_file(t, str(f))
    src = tmp_path / "flux-extra.parquet"
    arrowquant("quantize", bad, "-o", src, "--method", "q8_0", "--quiet")
    err = export_fails(src, tmp_path / "x.gguf", "flux", "--component", "transformer")
    assert "2 tensor(s) the flux layout does not know" in err
    assert "transformer/transformer_blocks.0.attn.extra_proj.weight (256×256)" in err and "transformer/mystery.weight (64×64)" in err
    err = export_fails(src, tmp_path / "x.gguf", "flux")
    assert "choose one with --component" in err and "transformer" in err
    err = export_fails(quantized(work, "sd1", "q8_0"), tmp_path / "x.gguf", "sd1", "--component", "scheduler")
    assert 'has no component "scheduler"' in err


def test_diffusers_converter_reads_our_flux_and_sd3_names_back_into_the_diffusers_model(work):
    """Every tensor kept (preserve '.*': source), the export read back through diffusers' own
    single-file converters (original → diffusers) is the diffusers state dict we quantized, exactly:
    names, merges, split points and swapped halves."""
    import numpy as np
    from diffusers.loaders.single_file_utils import convert_sd3_transformer_checkpoint_to_diffusers
    from safetensors.torch import load_file

    keep = work / "keep.yaml"
    keep.write_text("preserve:\n  '.*': source\n")
    for model, convert in (("flux", sd_models._flux_converter(256)), ("sd3", convert_sd3_transformer_checkpoint_to_diffusers)):
        src = work / f"{model}-keep.parquet"
        arrowquant("quantize", work / model, "-o", src, "--config", keep, "--quiet")
        out = work / f"{model}-keep.gguf"
        export(src, out, model, "--component", "transformer")
        g = Gguf(out)
        assert set(g.types()) == {"f32"}
        state = {n: torch.from_numpy(np.frombuffer(g.data(n), "<f4").copy().reshape(g.shapes[n])) for n in g.tensors}
        back = convert(state)
        want = load_file(str(work / model / "transformer" / "diffusion_pytorch_model.safetensors"))
        assert sorted(back) == sorted(want)
        for k in want:
            assert torch.equal(back[k], want[k]), k


def test_synth_flux_pipeline_is_diffusers_and_runs_in_sd_cli_as_sd_cli_s_own_convert_does(work, tmp_path):
    """arrowquant-synth's flux preset (docs/RUN-SD-CPP.md runs it): its transformer and VAE are
    diffusers' (a strict state-dict load), its text encoder transformers' CLIP-L; bf16 like FLUX.1,
    so kept and merged tensors are bf16 here. Quantized to Q4_K, the exported transformer equals
    sd-cli's convert of the same weights in BFL names, and with the exported VAE and CLIP-L the
    two give the same image."""
    from diffusers import AutoencoderKL, FluxTransformer2DModel
    from safetensors.torch import load_file, save_file
    from transformers import CLIPTextConfig, CLIPTextModel

    d = tmp_path / "sd-flux"
    run(["node", SYNTH, "--preset", "flux", "--layout", "diffusers", "--seed", "5", "-q", "-o", d], "arrowquant-synth")
    sd_models._sdpa_stand_in()
    for cls, comp in ((FluxTransformer2DModel, "transformer"), (AutoencoderKL, "vae")):
        m = cls.from_config(json.loads((d / comp / "config.json").read_text()))
        m.load_state_dict(load_file(str(d / comp / "diffusion_pytorch_model.safetensors")), strict=True)
    clip = load_file(str(d / "text_encoder" / "model.safetensors"))
    assert clip.pop("text_model.embeddings.position_ids").dtype == torch.int64  # older CLIP checkpoints carry it; sd-cli skips it
    CLIPTextModel(CLIPTextConfig.from_pretrained(str(d / "text_encoder"))).load_state_dict(clip, strict=True)
    transformer = load_file(str(d / "transformer" / "diffusion_pytorch_model.safetensors"))
    assert {t.dtype for t in transformer.values()} == {torch.bfloat16}

    src = tmp_path / "sd-flux.parquet"
    arrowquant("quantize", d, "-o", src, "--method", "q4_k", "--uniform-importance", "--quiet")
    files = {}
    for comp in ("transformer", "vae", "text_encoder"):
        files[comp] = tmp_path / f"sd-flux-{comp}.gguf"
        export(src, files[comp], "flux", "--component", comp)
    g = Gguf(files["transformer"])
    assert g.types().get("q4_K", 0) >= 10 and "bf16" in g.types(), g.types()
    assert g.tensors["double_blocks.0.img_attn.qkv.bias"][0] == "bf16"  # merged kept parts stay in their dtype
    original = tmp_path / "sd-flux-original.safetensors"
    save_file({k: v.contiguous() for k, v in sd_models.flux_to_original(transformer).items()}, str(original))
    ref = tmp_path / "sd-flux-transformer-ref.gguf"
    sd_convert(original, ref, g.type_rules())
    assert compare(files["transformer"], ref) == []
    images = []
    for model in (files["transformer"], ref):
        png = tmp_path / f"{model.stem}.png"
        generate(png, "--diffusion-model", model, "--vae", files["vae"], "--clip_l", files["text_encoder"], extra=("--cfg-scale", "1"))
        assert not is_constant(png)
        images.append(png)
    assert same_image(*images)



def test_original_single_file_checkpoints_export_as_their_diffusers_pipelines_do(work, tmp_path):
    """An original single-file checkpoint (SD1's LDM names with model.diffusion_model. /
    first_stage_model. / cond_stage_model. prefixes, written here by sd-cli's own --convert-name;
    FLUX.1's BFL names with merged qkv) keeps its names, and quantized alike gives the same file as
    the diffusers pipeline it came from: the same tensors kept (the keep rules know the original
    names), the same bytes (merged rows quantize as the separate ones do)."""
    sd1 = tmp_path / "sd1-original.safetensors"
    sd_convert(work / "sd1", sd1, None, "--convert-name")
    for name, original, arch, pipeline in (("sd1", sd1, "sd1", work / "sd1-q4_k.gguf"), ("flux", work / "flux" / "flux-original.safetensors", "flux", work / "flux-q4_k.gguf")):
        if not pipeline.exists():
            pytest.skip(f"needs {pipeline.name} from the tests above")
        src = tmp_path / f"{name}-original.parquet"
        arrowquant("quantize", original, "-o", src, "--method", "q4_k", "--uniform-importance", "--quiet")
        ours = tmp_path / f"{name}-original.gguf"
        export(src, ours, arch)
        assert compare(ours, pipeline) == [], name
        g = Gguf(ours)
        assert g.kv["general.architecture"] == arch
        ref = tmp_path / f"{name}-original-ref.gguf"
        sd_convert(original, ref, g.type_rules())
        assert compare(ours, ref) == [], name