"""prune on a tiny model: the asked share of weights is zero in the exported graph, and it runs."""

import numpy as np
import onnx
from onnx import numpy_helper

from compiler.passes.prune import pruned_candidate
from tests.passes.tiny import cosine, eager, pixels, run_onnx, tiny


def _zero_share(path) -> float:
    weights = [numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer if len(t.dims) >= 2]
    return sum(int((w == 0).sum()) for w in weights) / sum(w.size for w in weights)


def test_prune_zeroes_the_asked_share_and_still_runs(tmp_path):
    _, model, ctx = tiny(tmp_path)
    art = pruned_candidate(model, 0.5, ctx)
    assert (art.candidate, art.format, art.produced_by[0]) == ("onnx-pruned", "onnx", "prune")
    assert 0.49 <= _zero_share(art.path) <= 0.51  # global L1 over conv and linear weights
    data = pixels(32)
    out = run_onnx(art.path, data)
    assert out.shape == (32, 10) and np.isfinite(out).all()
    assert cosine(out, eager(data)) < 0.99999  # the weights really changed
    assert model.module[0].weight.count_nonzero() == model.module[0].weight.numel()  # the original is untouched


def test_another_amount_is_another_artifact(tmp_path):
    _, model, ctx = tiny(tmp_path)
    assert pruned_candidate(model, 0.2, ctx).sha256 != pruned_candidate(model, 0.6, ctx).sha256
