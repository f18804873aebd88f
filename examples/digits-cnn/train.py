"""Train the digits CNN and write weights.safetensors (seeded, CPU, a few seconds).

    python examples/digits-cnn/train.py
"""

from pathlib import Path

import torch
from safetensors.torch import save_file

from data import evaluation, train_set
from model import build_model


def main() -> None:
    torch.manual_seed(0)
    x, y = (torch.from_numpy(a) for a in train_set())
    model = build_model()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _epoch in range(30):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
    model.eval()
    inputs, labels = evaluation()
    with torch.no_grad():
        pred = model(torch.from_numpy(inputs["pixels"])).argmax(1).numpy()
    print(f"holdout accuracy: {(pred == labels).mean():.4f}")
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(Path(__file__).with_name("weights.safetensors")))


if __name__ == "__main__":
    main()
