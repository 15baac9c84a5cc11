"""Back-propagation for 2-3-2 --hidden sigmoid --output sigmoid --loss mse, samples in columns (the course layout)."""
import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def backprop(params, X, Y):
    W1, b1, W2, b2 = params
    m = X.shape[1]
    Z1 = W1 @ X + b1
    A1 = sigmoid(Z1)
    Z2 = W2 @ A1 + b2
    A2 = sigmoid(Z2)
    dZ2 = (A2 - Y) * A2 * (1 - A2)
    dW2 = 1 / m * dZ2 @ A1.T
    db2 = 1 / m * np.sum(dZ2, axis=1, keepdims=True)
    dZ1 = (W2.T @ dZ2) * A1 * (1 - A1)
    dW1 = 1 / m * dZ1 @ X.T
    db1 = 1 / m * np.sum(dZ1, axis=1, keepdims=True)
    return [dW1, db1, dW2, db2]
