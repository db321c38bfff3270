"""Q4_0 and Q8_0 blocks are byte-identical to llama.cpp's reference quantizers, as ported to numpy
in gguf-py (the Python package that ships with llama.cpp), for every kernel this CPU runs."""
import numpy as np
import pytest
from gguf import GGMLQuantizationType
from gguf.quants import quantize as gguf_quantize

from conftest import awkward

ISAS = ["scalar", "best"]


@pytest.mark.parametrize("fmt,qtype", [("q4_0", GGMLQuantizationType.Q4_0), ("q8_0", GGMLQuantizationType.Q8_0)])
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("shape,seed", [((64, 4096), 1), ((33, 1152), 2), ((7, 96), 3)])
def test_blocks_match_gguf_py(tmp_path, quantize_raw, fmt, qtype, isa, shape, seed):
    x = awkward(*shape, seed)
    ours, _ = quantize_raw(tmp_path, x, fmt, isa=isa)
    theirs = gguf_quantize(x, qtype).tobytes()
    assert len(ours) == len(theirs)
    if ours != theirs:
        i = next(i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b)
        block = i // (18 if fmt == "q4_0" else 34)
        raise AssertionError(f"{fmt}/{isa}: byte {i} (block {block}) differs: {ours[i]:#04x} vs {theirs[i]:#04x}")


def test_awkward_data_really_has_ties_and_zeros():
    x = awkward(64, 4096, 1).reshape(-1, 32)
    assert (np.abs(x).max(axis=1) == 0).any()
    assert any(len(np.unique(b)) == 1 and b[0] != 0 for b in x)
