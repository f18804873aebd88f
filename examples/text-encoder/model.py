"""A two-layer transformer encoder over int64 token ids, with dynamic batch and sequence length.

Weights are random but seeded: the example exists to exercise dynamic axes and to benchmark.
"""

import torch
from torch import nn

VOCAB, DIM, HEADS, LAYERS, MAX_LEN = 1000, 128, 4, 2, 128


class TextEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Parameter(torch.randn(1, MAX_LEN, DIM) * 0.02)
        layer = nn.TransformerEncoderLayer(DIM, HEADS, dim_feedforward=4 * DIM, batch_first=True, dropout=0.0)
        self.encoder = nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(DIM)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(input_ids) + self.pos[:, : input_ids.shape[1]]
        x = self.norm(self.encoder(x))
        return x.mean(dim=1)


def build_model() -> nn.Module:
    torch.manual_seed(1234)
    return TextEncoder().eval()
