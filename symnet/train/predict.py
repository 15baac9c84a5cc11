"""Predictions from saved parameters, written as CSV."""
from __future__ import annotations

import csv
import io

import numpy as np

from symnet.functions.activations import unit_interval
from symnet.train import data as datasets
from symnet.errors import InputError
from symnet.train.loop import accuracy, load_saved


def predict_file(saved: str, source: str, label: str | None = None) -> tuple[str, str | None]:
    """(CSV text of predictions, a one-line accuracy summary when the file has labels).

    The file may come without labels: an .npz with only ``X``, or a CSV whose columns are the model's
    inputs (with one more column, the last is the label, or the one ``label`` names)."""
    from symnet import compile as compile_kernel

    model = load_saved(saved)
    net = model.net
    if not (source.endswith(".csv") or source.endswith(".npz")):
        raise InputError(f"--data for predict must be a .csv or .npz file, got {source!r}")
    data = datasets.load(source, label=label, n_features=net.n_in)
    datasets.check_features(data, net)
    X = model.standardizer.apply(data.X, data) if model.standardizer else data.X
    kernel = compile_kernel(net)
    outputs = np.asarray(kernel.forward(model.params, np.ascontiguousarray(X)))
    bad = ~np.isfinite(outputs)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise InputError(f"the prediction for data row {row + 1} of {source} is not a finite number: its "
                         f"inputs are too large for the model {saved}; rescale them as in training")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    K = outputs.shape[1]
    if model.classes:
        if K == 1:
            predicted = [model.classes[int(v > 0.5)] for v in outputs[:, 0]]
        else:
            predicted = [model.classes[k] for k in np.argmax(outputs, axis=1)]
        column = "p" if unit_interval(net.output) else "score"  # a hinge's outputs are scores, not probabilities
        writer.writerow(["prediction"] + [f"{column}_{c}" for c in (model.classes if K > 1 else model.classes[1:])])
        for p, row in zip(predicted, outputs):
            writer.writerow([p] + [f"{v:.9g}" for v in row])
    else:
        writer.writerow([f"yhat{j + 1}" if K > 1 else "yhat" for j in range(K)])
        for row in outputs:
            writer.writerow([f"{v:.9g}" for v in row])
    summary = None
    if model.classes and data.is_classification and data.labels is not None:
        names = [str(c) for c in data.classes]
        index = {c: k for k, c in enumerate(model.classes)}
        if all(n in index for n in names):
            truth = np.array([index[names[l]] for l in data.labels])
            Y = np.eye(max(K, 2))[truth][:, :K] if K > 1 else truth.reshape(-1, 1).astype(float)
            summary = f"accuracy {accuracy(outputs, Y):.4f} on {datasets.plural(len(truth), 'row')} of {source}"
    return buf.getvalue(), summary
