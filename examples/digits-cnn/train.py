"""Train the digits CNN; write weights.safetensors, calibration.npz, holdout.npz and train.npz
(the training split's pixels and labels, which optimize.distill trains the student on), seeded, CPU.

The .npz files are the deterministic split of data.py, saved so a build reads them in
milliseconds instead of importing scikit-learn.

    python examples/digits-cnn/train.py
"""

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from data import calibration, evaluation, train_set
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
    here = Path(__file__).parent
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(here / "weights.safetensors"))
    np.savez_compressed(here / "calibration.npz", **calibration())
    np.savez_compressed(here / "holdout.npz", **inputs, labels=labels)
    train_x, train_y = train_set()
    np.savez_compressed(here / "train.npz", pixels=train_x, labels=train_y)


if __name__ == "__main__":
    main()
