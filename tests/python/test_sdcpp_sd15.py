"""`arrowquant export --to gguf --arch sd1` at SD1.5's real sizes (the only size stable-diffusion.cpp
loads: its UNet, VAE encoder and CLIP are hard-coded), against stable-diffusion.cpp. The slow part of
`npm run test:runtimes` (6 minutes on this 2-core machine, 13 beside another job; 8.8 GB peak RSS,
9 GB of temporary files); skipped unless ARROWQUANT_SD15=1 (the script sets it).

A seeded random SD1.5 pipeline (diffusers' UNet2DConditionModel, AutoencoderKL and transformers'
CLIPTextModel with SD1.5's configs, f16, 2.1 GB) is quantized at q8_0 and at q4_K with
--uniform-importance (its 320/640-wide rows take llama.cpp's Q5_0 fallback), exported as the one
checkpoint `sd-cli -m` loads, and compared with sd-cli's own `-M convert --convert-name` of the
same diffusers folder given each tensor's type: every tensor's name, type, shape and bytes, then a
64×64 one-step image from each file, pixel for pixel. The `--component vae` file, given to sd-cli
with `--vae` beside a checkpoint, replaces the checkpoint's VAE (same bytes: same image; the
Q8_0 VAE beside the Q4_K checkpoint: another image)."""
import os

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning")
torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

import sd_models  # noqa: E402
from sdcpp import Gguf, arrowquant, compare, generate, is_constant, same_image, sd_cli, sd_convert  # noqa: E402

if os.environ.get("ARROWQUANT_SD15") != "1":
    pytest.skip("the SD1.5-size test runs with ARROWQUANT_SD15=1 (npm run test:runtimes)", allow_module_level=True)

CASES = [("q8_0", []), ("q4_k", ["--uniform-importance"])]


@pytest.fixture(scope="module")
def sd15(tmp_path_factory):
    sd_cli()
    d = tmp_path_factory.mktemp("sd15")
    sd_models.sd1_pipeline(d / "sd15", real=True)
    return d


def image(d, png, *models):
    generate(png, *models, steps=1)
    assert not is_constant(png), f"{png} is one colour"
    return png


@pytest.mark.parametrize("method,extra", CASES, ids=[c[0] for c in CASES])
def test_sd15_checkpoint_equals_sdcpp_convert_and_its_image(sd15, method, extra):
    d = sd15
    src = d / f"sd15-{method}.parquet"
    arrowquant("quantize", d / "sd15", "-o", src, "--method", method, "--quiet", *extra)
    ours, ref = d / f"sd15-{method}.gguf", d / f"sd15-{method}-ref.gguf"
    arrowquant("export", src, "--to", "gguf", "--arch", "sd1", "-o", ours)
    g = Gguf(ours)
    assert len(g.tensors) == 1130 and g.kv["general.architecture"] == "sd1"
    types = g.types()
    if method == "q8_0":
        # Every Linear weight (the VAE's 2-D mid-attention ones included); sd-cli -M convert --type q8_0
        # would also quantize 186 1-D norm weights, which ArrowQuant keeps.
        assert types == {"q8_0": 262, "f16": 868}, types
    else:
        assert types.get("q4_K", 0) > 100 and types.get("q5_0", 0) > 50, types
    sd_convert(d / "sd15", ref, g.type_rules(), "--convert-name")
    assert compare(ours, ref) == []
    assert same_image(image(d, d / f"sd15-{method}.png", "-m", ours), image(d, d / f"sd15-{method}-ref.png", "-m", ref))
    if method == "q8_0":
        # --component vae is what sd-cli --vae takes: beside the checkpoint it replaces the
        # checkpoint's VAE (here with the same bytes: the same image, no tensor unknown to sd-cli).
        vae = d / "sd15-vae.gguf"
        arrowquant("export", src, "--to", "gguf", "--arch", "sd1", "--component", "vae", "-o", vae)
        r = generate(d / "sd15-vae.png", "-m", ours, "--vae", vae, steps=1)
        assert "unknown tensor" not in r.stdout
        assert same_image(d / "sd15-vae.png", d / "sd15-q8_0.png")


def test_sd15_types_differ_and_vae_replaces_the_checkpoint_s(sd15):
    a, b, vae = sd15 / "sd15-q8_0.png", sd15 / "sd15-q4_k.png", sd15 / "sd15-vae.gguf"
    if not (a.exists() and b.exists() and vae.exists()):
        pytest.skip("needs both images and the q8_0 VAE")
    assert not same_image(a, b)
    # The Q4_K checkpoint's VAE (mid-attention in Q4_K) replaced by the Q8_0 one: another image.
    png = image(sd15, sd15 / "sd15-q4_k-vae-q8_0.png", "-m", sd15 / "sd15-q4_k.gguf", "--vae", vae)
    assert not same_image(png, b)
