"""Loss and accuracy curves of a training run (matplotlib, the optional 'plot' extra)."""
from __future__ import annotations

import io
from pathlib import Path

from symnet.files import write_atomic


def plot_history(trained, path: str | Path) -> Path:
    """Write the curves of ``trained`` to ``path`` (PNG), whole or not at all."""
    return write_atomic(path, render_history(trained))


def render_history(trained) -> bytes:
    """The PNG of the loss (and accuracy) curves of ``trained``."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and CI
    import matplotlib.pyplot as plt

    h = trained.history
    epochs = [e.epoch for e in h]
    has_acc = h[0].train_accuracy is not None
    fig, axes = plt.subplots(1, 2 if has_acc else 1, figsize=(10 if has_acc else 5.5, 4), squeeze=False)
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
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()
