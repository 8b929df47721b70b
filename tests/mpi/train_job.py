"""Run by tests/test_mpi.py under ``mpiexec -n N`` (and alone): train, then rank 0 saves the weights and history.

argv: OUT.npz DTYPE BATCH [extra: "validation" | "frozen"]
"""

import sys

import numpy as np

import bprop
from bprop.training.distributed import world


def main() -> None:
    out, dtype, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
    extra = sys.argv[4] if len(sys.argv) > 4 else ""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(203, 6))
    y = (X[:, 0] + 0.5 * X[:, 1] ** 2 > 0.3).astype(int)
    Y = np.eye(2)[y]
    net = bprop.mlp([6, 16, 8, 2], activation="tanh", output_activation="softmax", seed=1, dtype=dtype,
                    dropout=0.0)  # fmt: skip
    if extra == "frozen":  # the first layer's weights held fixed: no gradient to all-reduce for them
        net.layers[0].frozen = frozenset({"W"})
    collective = world()
    history = bprop.fit(
        net,
        X,
        Y,
        loss="categorical_cross_entropy",
        optimizer="adam",
        epochs=3,
        batch_size=batch,
        seed=0,
        validation_split=0.2 if extra == "validation" else 0.0,
        verbose=0,
        collective=collective,
    )
    if collective is None or collective.rank == 0:
        arrays = {f"p{i}": p for i, p in enumerate(net.parameters())}
        np.savez(out, loss=np.array(history.loss), val=np.array(history.val_loss), **arrays)


if __name__ == "__main__":
    main()
