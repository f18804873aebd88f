"""Calibration and holdout data from scikit-learn's bundled digits set, split deterministically.

Pixels are scaled from 0..16 to 0..1; the holdout (last 25%, after a seeded shuffle) was
never seen in training (see train.py).
"""

import numpy as np
from sklearn.datasets import load_digits


def _split():
    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    cut = int(len(x) * 0.75)
    return (x[order[:cut]], y[order[:cut]]), (x[order[cut:]], y[order[cut:]])


def train_set():
    return _split()[0]


def calibration():
    x, _ = _split()[0]
    return {"pixels": x[:256]}


def evaluation():
    x, y = _split()[1]
    return {"pixels": x}, y
