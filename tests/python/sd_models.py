"""Synthetic image models for the stable-diffusion.cpp export tests (tests/python/test_sdcpp.py),
built with diffusers' and transformers' own classes and seeded random weights (their default
initialisation: sane scales, so a generated image is not constant). Nothing here is committed
data; every model is written into a test's temporary folder.

- `sd1_pipeline`: a diffusers StableDiffusionPipeline folder (unet/, vae/, text_encoder/,
  model_index.json). `real=True`: SD1.5's configs (1.07 B parameters, 2.1 GB in f16), the only
  size stable-diffusion.cpp loads (its UNet and CLIP are hard-coded); `real=False`: the same
  block structure at tiny widths (CLIP keeps its 768 width: stable-diffusion.cpp tells SD1 from SD2
  by it), for name and byte checks that need no generation.
- `sdxl_pipeline`: the same for SDXL (tiny only: unet/, vae/, text_encoder/, text_encoder_2/).
- `flux_transformer`: a small FluxTransformer2DModel (hidden 256 = 2 heads of 128, 1 double and 1
  single block: the smallest stable-diffusion.cpp accepts, whose Flux is shape-driven) as a
  diffusers folder, and the same weights in BFL's original names (`double_blocks.*`, merged qkv),
  made by `flux_to_original` and checked against diffusers' own converter.
- `sd3_transformer`: a tiny SD3Transformer2DModel and its SAI original (`joint_blocks.*`), likewise.
- `flux_vae_original`, `zero_clip_l`: what stable-diffusion.cpp needs besides a Flux diffusion
  model to generate (a tiny Flux VAE decoder in original names, an all-zero CLIP-L).
"""
import json
import struct
from pathlib import Path

import numpy as np
import torch

SEED = 1234


def _save(model, folder, dtype):
    model.to(dtype).save_pretrained(str(folder), safe_serialization=True)


def _clip_config(real):
    from transformers import CLIPTextConfig

    if real:  # openai/clip-vit-large-patch14's text tower, as SD1.x uses it
        return CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                              num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu",
                              projection_dim=768)
    return CLIPTextConfig(vocab_size=1000, hidden_size=768, intermediate_size=64, num_hidden_layers=1,
                          num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu")


def _vae(real, latent_channels=4, quant_conv=True):
    from diffusers import AutoencoderKL

    ch = (128, 256, 512, 512) if real else (32, 32, 64, 64)
    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=latent_channels, block_out_channels=ch,
                         down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                         layers_per_block=2, norm_num_groups=32, sample_size=512 if real else 64,
                         use_quant_conv=quant_conv, use_post_quant_conv=quant_conv)


def _model_index(folder, cls, components):
    index = {"_class_name": cls, "_diffusers_version": "0.31.0"}
    index.update(components)
    (folder / "model_index.json").write_text(json.dumps(index, indent=2))


def sd1_pipeline(folder, real=False, seed=SEED, dtype=torch.float16):
    """A StableDiffusionPipeline folder; returns it."""
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel

    folder = Path(folder)
    torch.manual_seed(seed)
    if real:  # runwayml/stable-diffusion-v1-5's unet/config.json
        unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8,
                                    block_out_channels=(320, 640, 1280, 1280), layers_per_block=2)
    else:
        unet = UNet2DConditionModel(sample_size=8, cross_attention_dim=32, attention_head_dim=8,
                                    block_out_channels=(32, 64, 64, 64), layers_per_block=2, norm_num_groups=32)
    _save(unet, folder / "unet", dtype)
    del unet
    _save(_vae(real), folder / "vae", dtype)
    _save(CLIPTextModel(_clip_config(real)), folder / "text_encoder", dtype)
    _model_index(folder, "StableDiffusionPipeline", {
        "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
        "text_encoder": ["transformers", "CLIPTextModel"]})
    return folder


def sdxl_pipeline(folder, seed=SEED, dtype=torch.float16):
    """A tiny StableDiffusionXLPipeline folder (SDXL's block structure: 3 levels, attention in the
    lower two, 1/2/2 transformer layers, text_time added embeddings, two text encoders)."""
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    folder = Path(folder)
    torch.manual_seed(seed)
    te2 = CLIPTextConfig(vocab_size=1000, hidden_size=64, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
                         max_position_embeddings=77, hidden_act="gelu", projection_dim=64)
    unet = UNet2DConditionModel(
        sample_size=8, cross_attention_dim=768 + 64, attention_head_dim=(2, 4, 8), block_out_channels=(32, 64, 64),
        layers_per_block=2, norm_num_groups=32, transformer_layers_per_block=(1, 2, 2), use_linear_projection=True,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        addition_embed_type="text_time", addition_time_embed_dim=8, projection_class_embeddings_input_dim=6 * 8 + 64)
    _save(unet, folder / "unet", dtype)
    _save(_vae(False), folder / "vae", dtype)
    _save(CLIPTextModel(_clip_config(False)), folder / "text_encoder", dtype)
    _save(CLIPTextModelWithProjection(te2), folder / "text_encoder_2", dtype)
    _model_index(folder, "StableDiffusionXLPipeline", {
        "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
        "text_encoder": ["transformers", "CLIPTextModel"], "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"]})
    return folder


# --- Flux --------------------------------------------------------------------------------------

def _sdpa_stand_in():
    """diffusers' Flux and SD3 attention processors refuse to be built without PyTorch 2's
    scaled_dot_product_attention; these tests never run them (only their weights are used), so a
    stand-in that fails if called is enough under torch 1.13."""
    import torch.nn.functional as F

    if not hasattr(F, "scaled_dot_product_attention"):
        def scaled_dot_product_attention(*args, **kwargs):
            raise NotImplementedError("stand-in: these tests do not run the transformer")
        F.scaled_dot_product_attention = scaled_dot_product_attention


def _swap_halves(t):
    a, b = t.chunk(2, dim=0)
    return torch.cat([b, a], dim=0)


def flux_to_original(sd):
    """A diffusers FluxTransformer2DModel state dict in BFL's names: the inverse of diffusers'
    convert_flux_transformer_checkpoint_to_diffusers (which the tests run on the result)."""
    out = {}
    ren = {"x_embedder": "img_in", "context_embedder": "txt_in", "proj_out": "final_layer.linear",
           "time_text_embed.timestep_embedder.linear_1": "time_in.in_layer",
           "time_text_embed.timestep_embedder.linear_2": "time_in.out_layer",
           "time_text_embed.text_embedder.linear_1": "vector_in.in_layer",
           "time_text_embed.text_embedder.linear_2": "vector_in.out_layer",
           "time_text_embed.guidance_embedder.linear_1": "guidance_in.in_layer",
           "time_text_embed.guidance_embedder.linear_2": "guidance_in.out_layer"}
    for k, v in ren.items():
        for p in ("weight", "bias"):
            if f"{k}.{p}" in sd:
                out[f"{v}.{p}"] = sd[f"{k}.{p}"]
    for p in ("weight", "bias"):
        out[f"final_layer.adaLN_modulation.1.{p}"] = _swap_halves(sd[f"norm_out.linear.{p}"])
    n_double = 1 + max([int(k.split(".")[1]) for k in sd if k.startswith("transformer_blocks.")], default=-1)
    n_single = 1 + max([int(k.split(".")[1]) for k in sd if k.startswith("single_transformer_blocks.")], default=-1)
    for i in range(n_double):
        s, d = f"transformer_blocks.{i}.", f"double_blocks.{i}."
        for a, b in (("norm1.linear", "img_mod.lin"), ("norm1_context.linear", "txt_mod.lin"),
                     ("attn.to_out.0", "img_attn.proj"), ("attn.to_add_out", "txt_attn.proj"),
                     ("ff.net.0.proj", "img_mlp.0"), ("ff.net.2", "img_mlp.2"),
                     ("ff_context.net.0.proj", "txt_mlp.0"), ("ff_context.net.2", "txt_mlp.2")):
            for p in ("weight", "bias"):
                out[f"{d}{b}.{p}"] = sd[f"{s}{a}.{p}"]
        for p in ("weight", "bias"):
            out[f"{d}img_attn.qkv.{p}"] = torch.cat([sd[f"{s}attn.to_{x}.{p}"] for x in "qkv"])
            out[f"{d}txt_attn.qkv.{p}"] = torch.cat([sd[f"{s}attn.add_{x}_proj.{p}"] for x in "qkv"])
        out[f"{d}img_attn.norm.query_norm.scale"] = sd[f"{s}attn.norm_q.weight"]
        out[f"{d}img_attn.norm.key_norm.scale"] = sd[f"{s}attn.norm_k.weight"]
        out[f"{d}txt_attn.norm.query_norm.scale"] = sd[f"{s}attn.norm_added_q.weight"]
        out[f"{d}txt_attn.norm.key_norm.scale"] = sd[f"{s}attn.norm_added_k.weight"]
    for i in range(n_single):
        s, d = f"single_transformer_blocks.{i}.", f"single_blocks.{i}."
        for p in ("weight", "bias"):
            out[f"{d}modulation.lin.{p}"] = sd[f"{s}norm.linear.{p}"]
            out[f"{d}linear1.{p}"] = torch.cat([sd[f"{s}attn.to_{x}.{p}"] for x in "qkv"] + [sd[f"{s}proj_mlp.{p}"]])
            out[f"{d}linear2.{p}"] = sd[f"{s}proj_out.{p}"]
        out[f"{d}norm.query_norm.scale"] = sd[f"{s}attn.norm_q.weight"]
        out[f"{d}norm.key_norm.scale"] = sd[f"{s}attn.norm_k.weight"]
    return out


def _perturb_norms(model, seed):
    """RMSNorm scales and LayerNorm-free modulation are 1/0 at initialisation; a little noise makes
    every tensor distinct, so a wrong mapping cannot hide behind equal values."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.add_(0.05 * torch.randn(p.shape, generator=g))


def _check_roundtrip(original, sd, convert, **kw):
    back = convert({k: v.clone() for k, v in original.items()}, **kw)
    assert sorted(back) == sorted(sd), (sorted(set(back) ^ set(sd)))[:10]
    for k in sd:
        assert torch.equal(back[k], sd[k]), k


def _flux_converter(hidden):
    """diffusers' convert_flux_transformer_checkpoint_to_diffusers, whose single-block split
    assumes FLUX.1's width (`inner_dim = 3072`), with that one constant set to `hidden`."""
    import inspect

    from diffusers.loaders import single_file_utils

    src = inspect.getsource(single_file_utils.convert_flux_transformer_checkpoint_to_diffusers)
    assert src.count("inner_dim = 3072") == 1
    scope = dict(vars(single_file_utils))
    exec(src.replace("inner_dim = 3072", f"inner_dim = {hidden}"), scope)
    return scope["convert_flux_transformer_checkpoint_to_diffusers"]


def flux_transformer(folder, seed=SEED, guidance=False, dtype=torch.float32):
    """diffusers folder `folder/transformer` (FluxPipeline model_index.json) and `folder/flux-original.safetensors`.
    Returns (pipeline folder, original file)."""
    from diffusers import FluxTransformer2DModel
    from safetensors.torch import save_file

    folder = Path(folder)
    _sdpa_stand_in()
    torch.manual_seed(seed)
    m = FluxTransformer2DModel(patch_size=1, in_channels=64, num_layers=1, num_single_layers=1, attention_head_dim=128,
                               num_attention_heads=2, joint_attention_dim=4096, pooled_projection_dim=768,
                               guidance_embeds=guidance, axes_dims_rope=(16, 56, 56))
    _perturb_norms(m, seed + 1)
    m = m.to(dtype)
    sd = {k: v.contiguous() for k, v in m.state_dict().items()}
    original = flux_to_original(sd)
    _check_roundtrip(original, sd, _flux_converter(m.config.num_attention_heads * m.config.attention_head_dim))
    m.save_pretrained(str(folder / "transformer"), safe_serialization=True)
    _model_index(folder, "FluxPipeline", {"transformer": ["diffusers", "FluxTransformer2DModel"]})
    save_file({k: v.contiguous() for k, v in original.items()}, str(folder / "flux-original.safetensors"))
    return folder, folder / "flux-original.safetensors"


# --- SD3 ---------------------------------------------------------------------------------------

def sd3_to_original(sd):
    """A diffusers SD3Transformer2DModel state dict in SAI's MMDiT names: the inverse of diffusers'
    convert_sd3_transformer_checkpoint_to_diffusers."""
    out = {"pos_embed": sd["pos_embed.pos_embed"]}
    ren = {"pos_embed.proj": "x_embedder.proj", "context_embedder": "context_embedder", "proj_out": "final_layer.linear",
           "time_text_embed.timestep_embedder.linear_1": "t_embedder.mlp.0",
           "time_text_embed.timestep_embedder.linear_2": "t_embedder.mlp.2",
           "time_text_embed.text_embedder.linear_1": "y_embedder.mlp.0",
           "time_text_embed.text_embedder.linear_2": "y_embedder.mlp.2"}
    for k, v in ren.items():
        for p in ("weight", "bias"):
            out[f"{v}.{p}"] = sd[f"{k}.{p}"]
    for p in ("weight", "bias"):
        out[f"final_layer.adaLN_modulation.1.{p}"] = _swap_halves(sd[f"norm_out.linear.{p}"])
    n = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("transformer_blocks."))
    for i in range(n):
        s, d = f"transformer_blocks.{i}.", f"joint_blocks.{i}."
        last = f"{s}ff_context.net.0.proj.weight" not in sd
        for p in ("weight", "bias"):
            out[f"{d}x_block.attn.qkv.{p}"] = torch.cat([sd[f"{s}attn.to_{x}.{p}"] for x in "qkv"])
            out[f"{d}context_block.attn.qkv.{p}"] = torch.cat([sd[f"{s}attn.add_{x}_proj.{p}"] for x in "qkv"])
            out[f"{d}x_block.attn.proj.{p}"] = sd[f"{s}attn.to_out.0.{p}"]
            out[f"{d}x_block.adaLN_modulation.1.{p}"] = sd[f"{s}norm1.linear.{p}"]
            ctx = sd[f"{s}norm1_context.linear.{p}"]
            out[f"{d}context_block.adaLN_modulation.1.{p}"] = _swap_halves(ctx) if last else ctx
            out[f"{d}x_block.mlp.fc1.{p}"] = sd[f"{s}ff.net.0.proj.{p}"]
            out[f"{d}x_block.mlp.fc2.{p}"] = sd[f"{s}ff.net.2.{p}"]
            if not last:
                out[f"{d}context_block.attn.proj.{p}"] = sd[f"{s}attn.to_add_out.{p}"]
                out[f"{d}context_block.mlp.fc1.{p}"] = sd[f"{s}ff_context.net.0.proj.{p}"]
                out[f"{d}context_block.mlp.fc2.{p}"] = sd[f"{s}ff_context.net.2.{p}"]
        if f"{s}attn2.to_q.weight" in sd:  # SD3.5's dual attention
            for p in ("weight", "bias"):
                out[f"{d}x_block.attn2.qkv.{p}"] = torch.cat([sd[f"{s}attn2.to_{x}.{p}"] for x in "qkv"])
                out[f"{d}x_block.attn2.proj.{p}"] = sd[f"{s}attn2.to_out.0.{p}"]
        for a, b in (("attn.norm_q", "x_block.attn.ln_q"), ("attn.norm_k", "x_block.attn.ln_k"),
                     ("attn.norm_added_q", "context_block.attn.ln_q"), ("attn.norm_added_k", "context_block.attn.ln_k"),
                     ("attn2.norm_q", "x_block.attn2.ln_q"), ("attn2.norm_k", "x_block.attn2.ln_k")):
            if f"{s}{a}.weight" in sd:
                out[f"{d}{b}.weight"] = sd[f"{s}{a}.weight"]
    return out


def sd3_transformer(folder, seed=SEED, dtype=torch.float32):
    """A tiny SD3Transformer2DModel (2 joint blocks; qk RMS norms and a dual-attention block as in SD3.5) as a diffusers folder,
    and `folder/sd3-original.safetensors`. Returns (pipeline folder, original file)."""
    from diffusers import SD3Transformer2DModel
    from diffusers.loaders.single_file_utils import convert_sd3_transformer_checkpoint_to_diffusers
    from safetensors.torch import save_file

    folder = Path(folder)
    _sdpa_stand_in()
    torch.manual_seed(seed)
    m = SD3Transformer2DModel(sample_size=16, patch_size=2, in_channels=16, num_layers=2, attention_head_dim=32,
                              num_attention_heads=2, joint_attention_dim=64, caption_projection_dim=64,
                              pooled_projection_dim=64, out_channels=16, pos_embed_max_size=16, qk_norm="rms_norm",
                              dual_attention_layers=(0,))
    _perturb_norms(m, seed + 1)
    m = m.to(dtype)
    sd = {k: v.contiguous() for k, v in m.state_dict().items()}
    original = sd3_to_original(sd)
    _check_roundtrip(original, sd, convert_sd3_transformer_checkpoint_to_diffusers)
    m.save_pretrained(str(folder / "transformer"), safe_serialization=True)
    _model_index(folder, "StableDiffusion3Pipeline", {"transformer": ["diffusers", "SD3Transformer2DModel"]})
    save_file({k: v.contiguous() for k, v in original.items()}, str(folder / "sd3-original.safetensors"))
    return folder, folder / "sd3-original.safetensors"


# --- what a Flux generation needs besides the diffusion model ------------------------------------

def _write_safetensors(path, tensors, dtype="F32"):
    """tensors: name -> (shape, numpy array or None for zeros); zeros are left sparse."""
    header, off, blobs = {}, 0, []
    size = {"F32": 4, "F16": 2}[dtype]
    for k in sorted(tensors):
        shape, a = tensors[k]
        n = int(np.prod(shape)) * size
        header[k] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + n]}
        blobs.append((off, None if a is None else np.ascontiguousarray(a, dtype="<f4" if dtype == "F32" else "<f2").tobytes()))
        off += n
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        base = f.tell()
        for o, b in blobs:
            if b is not None:
                f.seek(base + o)
                f.write(b)
        f.truncate(base + off)
    return path


def flux_vae_original(path, seed=SEED):
    """A Flux-shaped VAE decoder (16 latent channels, no quant convs) at width 32, original names."""
    rng = np.random.default_rng(seed)
    t = {}

    def conv(n, o, i, k):
        t[n + ".weight"] = ((o, i, k, k), rng.uniform(-1, 1, (o, i, k, k)) * (1.0 / (i * k * k)) ** 0.5)
        t[n + ".bias"] = ((o,), rng.uniform(-0.01, 0.01, o))

    def gn(n, c):
        t[n + ".weight"] = ((c,), np.ones(c))
        t[n + ".bias"] = ((c,), np.zeros(c))

    def res(n, i, o):
        gn(n + ".norm1", i); conv(n + ".conv1", o, i, 3); gn(n + ".norm2", o); conv(n + ".conv2", o, o, 3)
        if i != o:
            conv(n + ".nin_shortcut", o, i, 1)

    ch, mult, z, d = 32, (1, 2, 4, 4), 16, "decoder."
    bi = ch * mult[-1]
    conv(d + "conv_in", bi, z, 3)
    res(d + "mid.block_1", bi, bi); res(d + "mid.block_2", bi, bi)
    gn(d + "mid.attn_1.norm", bi)
    for q in ("q", "k", "v", "proj_out"):
        conv(d + "mid.attn_1." + q, bi, bi, 1)
    for i in range(3, -1, -1):
        bo = ch * mult[i]
        for j in range(3):
            res(d + f"up.{i}.block.{j}", bi, bo)
            bi = bo
        if i != 0:
            conv(d + f"up.{i}.upsample.conv", bi, bi, 3)
    gn(d + "norm_out", bi); conv(d + "conv_out", 3, bi, 3)
    return _write_safetensors(path, t)


def zero_clip_l(path):
    """An all-zero CLIP-L text model in Hugging Face names (sparse file): stable-diffusion.cpp needs
    a text encoder to run a Flux model at all; zeros make its conditioning constant."""
    c = _clip_config(True)
    d, t = c.hidden_size, {}
    t["text_model.embeddings.token_embedding.weight"] = ((c.vocab_size, d), None)
    t["text_model.embeddings.position_embedding.weight"] = ((c.max_position_embeddings, d), None)
    for i in range(c.num_hidden_layers):
        p = f"text_model.encoder.layers.{i}."
        for x in ("q", "k", "v", "out"):
            t[f"{p}self_attn.{x}_proj.weight"] = ((d, d), None)
            t[f"{p}self_attn.{x}_proj.bias"] = ((d,), None)
        for x in ("layer_norm1", "layer_norm2"):
            t[f"{p}{x}.weight"] = ((d,), None)
            t[f"{p}{x}.bias"] = ((d,), None)
        t[f"{p}mlp.fc1.weight"] = ((c.intermediate_size, d), None)
        t[f"{p}mlp.fc1.bias"] = ((c.intermediate_size,), None)
        t[f"{p}mlp.fc2.weight"] = ((d, c.intermediate_size), None)
        t[f"{p}mlp.fc2.bias"] = ((d,), None)
    t["text_model.final_layer_norm.weight"] = ((d,), None)
    t["text_model.final_layer_norm.bias"] = ((d,), None)
    return _write_safetensors(path, t, "F16")
