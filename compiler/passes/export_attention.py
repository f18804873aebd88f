"""Export form of attention: `nn.MultiheadAttention` as one in_proj MatMul and MatMul-Softmax-MatMul.

`nn.MultiheadAttention.forward` runs `F.multi_head_attention_forward`, whose layout changes
(batch-first transposes, an unsqueeze/transpose/squeeze to split q, k and v, three per-head
reshape/transpose pairs, the shape arithmetic around them) each become ONNX nodes. At batch 1 a
small encoder spends about half its onnxruntime kernel time in them (docs/architecture.md,
"Attention at export"). While the model is exported, each eligible module's forward is the same
computation written the way Hugging Face models' eager attention writes it: one `linear` to q, k
and v, a reshape/permute to heads, softmax(q k^T / sqrt(d) + mask) v, one transpose back,
`out_proj`. Not `F.scaled_dot_product_attention`: the dynamo exporter transposes its k through a
rank-generic Shape/Slice/Concat/Reshape chain (8 nodes per attention), where `k.transpose(-2, -1)`
is one Transpose that onnxruntime folds into its FusedMatMul.

Only the export sees it: the module the reference runs is untouched, and every candidate is
still compared with it. Anything the export form does not cover (attention weights asked for,
separate key/value widths, `bias_k`/`add_zero_attn`, the `is_causal` hint, unbatched or nested
input, a float mask in another dtype than the query's, a subclass with its own forward) runs
torch's own forward, and so does dropout while training (the export form has none; exports run
in eval).
"""

from __future__ import annotations

import types
from contextlib import contextmanager
from typing import Iterator

# In the export cache key: a change to the export form must not reuse graphs exported before it.
VERSION = 2


@contextmanager
def export_form(module) -> Iterator[set[int]]:
    """Within the block, eligible `nn.MultiheadAttention` submodules of `module` run the export
    form, and torch's fused fast paths are off (`nn.TransformerEncoderLayer`'s would skip the
    attention module altogether; neither has an ONNX translation). Yields the set of ids of the
    modules that really ran the export form, filled as the trace calls them. Everything comes
    back as it was on exit, also on an error."""
    import functools

    import torch
    from torch import nn

    used: set[int] = set()
    patched = [m for m in module.modules() if isinstance(m, nn.MultiheadAttention) and _eligible(m)]
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    for m in patched:
        m.forward = types.MethodType(functools.partial(_export_forward, used=used), m)
    try:
        yield used
    finally:
        for m in patched:
            del m.forward
        torch.backends.mha.set_fastpath_enabled(fastpath)


def _eligible(m) -> bool:
    """Static conditions, from the module's construction (call-time ones are in _covered)."""
    from torch import nn

    return (type(m).forward is nn.MultiheadAttention.forward and "forward" not in vars(m)
            and m._qkv_same_embed_dim and m.bias_k is None and m.bias_v is None and not m.add_zero_attn)


def _covered(self, query, key_padding_mask, need_weights, attn_mask, is_causal) -> bool:
    """Call-time conditions: static properties only (dtype, rank), never a size, which would make
    the trace specialize a dynamic dim."""
    import torch

    masks_ok = all(mask is None or mask.dtype in (torch.bool, query.dtype) for mask in (key_padding_mask, attn_mask))
    return (not need_weights and not is_causal and masks_ok and query.dim() == 3 and not query.is_nested
            and not (self.training and self.dropout > 0))


def _export_forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                    average_attn_weights=True, is_causal=False, *, used: set[int]):
    """nn.MultiheadAttention.forward's signature and result (output, None) for need_weights=False.

    query/key/value: [batch, seq, embed] (batch_first) or [seq, batch, embed], float.
    key_padding_mask: [batch, src_seq], bool (True = ignore) or float (added), query's dtype.
    attn_mask: [seq, src_seq] or [batch * heads, seq, src_seq], bool (True = not allowed) or
    float (added), query's dtype. A query row with every key masked gives zeros, as torch's
    scaled_dot_product_attention does (a plain softmax would give NaN).
    """
    from torch import nn

    if not _covered(self, query, key_padding_mask, need_weights, attn_mask, is_causal):
        return nn.MultiheadAttention.forward(self, query, key, value, key_padding_mask, need_weights, attn_mask,
                                             average_attn_weights, is_causal)
    used.add(id(self))
    self_attention = query is key and key is value
    if not self.batch_first:
        query, key, value = (t.transpose(0, 1) for t in (query, key, value))
    out = _attend(self, query, key, value, self_attention, _additive_mask(self, query, key_padding_mask, attn_mask))
    return (out if self.batch_first else out.transpose(0, 1).contiguous()), None


def _attend(self, query, key, value, self_attention: bool, mask):
    import torch
    import torch.nn.functional as F

    batch, seq, embed = query.shape
    heads = self.num_heads
    if self_attention:  # one matmul for q, k and v, as the fused in_proj weight is stored
        qkv = F.linear(query, self.in_proj_weight, self.in_proj_bias)
        q, k, v = qkv.view(batch, seq, 3, heads, embed // heads).permute(2, 0, 3, 1, 4).unbind(0)
    else:
        weights = self.in_proj_weight.chunk(3)
        biases = self.in_proj_bias.chunk(3) if self.in_proj_bias is not None else (None,) * 3
        q, k, v = (F.linear(t, w, b).view(batch, -1, heads, embed // heads).transpose(1, 2)
                   for t, w, b in zip((query, key, value), weights, biases))
    scores = torch.matmul(q * (embed // heads) ** -0.5, k.transpose(-2, -1))
    if mask is not None:
        scores = scores + mask
    probs = scores.softmax(dim=-1)
    if mask is not None:  # torch's safe softmax: a row with no key to attend to is 0, not NaN
        probs = probs.masked_fill(torch.isneginf(scores).all(dim=-1, keepdim=True), 0.0)
    out = torch.matmul(probs, v)  # [batch, heads, seq, head_dim]
    # F.linear, as torch's forward does: out_proj's hooks do not run there either.
    return F.linear(out.transpose(1, 2).reshape(batch, seq, embed), self.out_proj.weight, self.out_proj.bias)


def _additive_mask(self, query, key_padding_mask, attn_mask):
    """The masks as one mask in the query's dtype that broadcasts to [batch, heads, seq, src_seq],
    the way F.multi_head_attention_forward merges them (bool True -> -inf); None when neither is given."""
    mask = None
    if attn_mask is not None:
        mask = _as_float(attn_mask, query.dtype)
        if mask.dim() == 3:  # [batch * heads, seq, src_seq]
            mask = mask.view(query.shape[0], self.num_heads, mask.shape[-2], mask.shape[-1])
    if key_padding_mask is not None:
        padding = _as_float(key_padding_mask, query.dtype)[:, None, None, :]
        mask = padding if mask is None else mask + padding
    return mask


def _as_float(mask, dtype):
    import torch

    if mask.dtype == torch.bool:
        return torch.zeros_like(mask, dtype=dtype).masked_fill(mask, float("-inf"))
    return mask  # already the query's dtype (_covered)
