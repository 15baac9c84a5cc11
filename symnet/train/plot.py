"""Loss and accuracy curves of a training run, and for a two-feature classifier its decision boundary
(matplotlib, the optional 'plot' extra)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from symnet.errors import InputError
from symnet.files import write_atomic

#: the formats ``--plot`` writes, by file extension (matplotlib's savefig format names)
FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}


def plot_format(path: str | Path) -> str:
    """The savefig format of ``path``'s extension, or one line saying which extensions are known."""
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise InputError(f"--plot {path}: the file name must end in .png, .pdf or .svg (the format written)")
    return fmt


def plot_history(trained, path: str | Path, data=None) -> Path:
    """Write the curves of ``trained`` to ``path`` (.png, .pdf or .svg), whole or not at all."""
    return write_atomic(path, render_history(trained, plot_format(path), data))


def has_boundary(trained, data) -> bool:
    """Whether a decision-boundary panel is drawn: a classifier trained on two features."""
    return data is not None and data.is_classification and data.X.shape[1] == 2 and trained.net.layers[0] == 2


def render_history(trained, fmt: str = "png", data=None) -> bytes:
    """The loss (and accuracy) curves of ``trained`` as ``fmt`` (png, pdf or svg); with ``data`` of two
    features and class labels, also the decision boundary over the data's points."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and CI
    import matplotlib.pyplot as plt

    h = trained.history
    epochs = [e.epoch for e in h]
    has_acc = h[0].train_accuracy is not None
    boundary = has_boundary(trained, data)
    n = 1 + has_acc + boundary
    fig, axes = plt.subplots(1, n, figsize=(4.5 * n + 1, 4), squeeze=False)
    ax = axes[0][0]
    ax.plot(epochs, [e.loss for e in h], label="train (mean batch loss)")
    if h[0].test_loss is not None:
        ax.plot(epochs, [e.test_loss for e in h], label="test")
    ax.set(xlabel="epoch", ylabel=f"E ({trained.net.loss})", title=f"{trained.net.compact}: loss")
    ax.legend()
    if has_acc:
        ax = axes[0][1]
        ax.plot(epochs, [e.train_accuracy for e in h], label="train")
        if h[0].test_accuracy is not None:
            ax.plot(epochs, [e.test_accuracy for e in h], label="test")
        ax.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1.02))
        ax.legend()
    if boundary:
        _draw_boundary(axes[0][-1], trained, data)
    fig.tight_layout()
    buf = io.BytesIO()
    # fixed metadata: the same run gives the same bytes (no creation date, no matplotlib version)
    metadata = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Producer": None},
                "svg": {"Date": None}}[fmt]
    fig.savefig(buf, format=fmt, dpi=100, metadata=metadata)
    plt.close(fig)
    return buf.getvalue()


def predicted_classes(trained, X: np.ndarray) -> np.ndarray:
    """The class index the trained network gives each row of raw (unstandardised) ``X``."""
    from symnet.emit.numba.cache import compile as compile_kernel

    Z = trained.standardizer(X) if trained.standardizer is not None else X
    outputs = np.asarray(compile_kernel(trained.net).forward(trained.params, np.ascontiguousarray(Z)))
    return (outputs[:, 0] > 0.5).astype(int) if outputs.shape[1] == 1 else np.argmax(outputs, axis=1)


def _draw_boundary(ax, trained, data, steps: int = 200) -> None:
    X = data.X
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = 0.1 * np.where(hi > lo, hi - lo, 1.0)
    u = np.linspace(lo[0] - pad[0], hi[0] + pad[0], steps)
    v = np.linspace(lo[1] - pad[1], hi[1] + pad[1], steps)
    U, V = np.meshgrid(u, v)
    classes = predicted_classes(trained, np.c_[U.ravel(), V.ravel()]).reshape(U.shape)
    k = max(len(data.classes), 2)
    ax.contourf(U, V, classes, levels=np.arange(k + 1) - 0.5, cmap="coolwarm", alpha=0.3)
    ax.scatter(X[:, 0], X[:, 1], c=data.labels, cmap="coolwarm", vmin=0, vmax=k - 1, s=8, edgecolors="none")
    names = data.columns if len(data.columns) == 2 else ["x1", "x2"]
    ax.set(xlabel=names[0], ylabel=names[1], title="decision boundary")
