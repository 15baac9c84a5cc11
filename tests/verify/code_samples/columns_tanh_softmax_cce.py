"""Back-propagation for 4-5-3 --hidden tanh --output softmax --loss cce, samples in columns (the course layout)."""
import numpy as np


def softmax(Z):
    e = np.exp(Z - Z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def forward(params, X):
    W1, b1, W2, b2 = params
    Z1 = np.dot(W1, X) + b1
    A1 = np.tanh(Z1)
    A2 = softmax(np.dot(W2, A1) + b2)
    return A1, A2


def backward_propagation(params, X, Y):
    W1, b1, W2, b2 = params
    m = X.shape[1]
    A1, A2 = forward(params, X)
    dZ2 = A2 - Y
    dW2 = np.dot(dZ2, A1.T) / m
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m
    dZ1 = np.dot(W2.T, dZ2) * (1 - np.power(A1, 2))
    dW1 = np.dot(dZ1, X.T) / m
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m
    return [dW1, db1, dW2, db2]
