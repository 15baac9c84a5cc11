"""Back-propagation for 3-4-4 --hidden tanh --output sigmoid --loss mse, samples in rows.

The tests copy it once per mistake, each copy with one line changed."""
import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def backprop(params, X, Y):
    W1, b1, W2, b2 = params
    m = X.shape[0]
    H1 = X @ W1 + b1
    A1 = np.tanh(H1)
    H2 = A1 @ W2 + b2
    Yhat = sigmoid(H2)
    D2 = (Yhat - Y) * Yhat * (1 - Yhat) / m
    dW2 = A1.T @ D2
    db2 = D2.sum(axis=0)
    D1 = (D2 @ W2.T) * (1 - A1**2)
    dW1 = X.T @ D1
    db1 = D1.sum(axis=0)
    return [dW1, db1, dW2, db2]
