"""Back-propagation for 3-4-4 --hidden tanh --output sigmoid --loss mse, one sample at a time."""
import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def backprop(params, X, Y):
    W1, b1, W2, b2 = params
    grads = [np.zeros_like(p) for p in params]
    for x, y in zip(X, Y):
        a1 = np.tanh(x @ W1 + b1)
        yhat = sigmoid(a1 @ W2 + b2)
        d2 = (yhat - y) * yhat * (1 - yhat)
        d1 = np.dot(W2, d2) * (1 - a1**2)
        grads[0] += np.outer(x, d1)
        grads[1] += d1
        grads[2] += np.outer(a1, d2)
        grads[3] += d2
    return [g / len(X) for g in grads]
