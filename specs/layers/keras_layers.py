"""Keras layers from the course material (seed 001) and a tf.custom_gradient op.

MyDense is the seed's layer, written for Keras 3 (``add_weight(name=..., shape=...)``:
the seed's positional ``add_weight("W", shape)`` is Keras 2).
"""

import tensorflow as tf


class MyDense(tf.keras.layers.Layer):
    def __init__(self, output_dim):
        super().__init__()
        self.num_outputs = output_dim

    def build(self, input_shape):
        self.W = self.add_weight(name="W", shape=[input_shape[1], self.num_outputs],
                                 initializer="glorot_uniform")
        self.b = self.add_weight(name="b", shape=[1, self.num_outputs], initializer="zeros")

    def call(self, inputs):
        return tf.matmul(inputs, self.W) + self.b


class SigmoidNet(tf.keras.layers.Layer):
    """The seed's network: MyDense(2), sigmoid, MyDense(2), sigmoid, with its MSE loss
    on the training pairs [0.9, 0.1] -> [0.1, 0.9] and [0.1, 0.9] -> [0.9, 0.1]."""

    def __init__(self):
        super().__init__()
        self.d1, self.d2 = MyDense(2), MyDense(2)

    def call(self, x):
        targets = tf.constant([[0.1, 0.9], [0.9, 0.1]], dtype=x.dtype)
        p = tf.sigmoid(self.d2(tf.sigmoid(self.d1(x))))
        return tf.reduce_mean((p - targets) ** 2)


@tf.custom_gradient
def softsign(x):
    """x / (1 + |x|) with a hand-written gradient 1 / (1 + |x|)^2."""
    y = x / (1 + tf.abs(x))

    def grad(g):
        return g / (1 + tf.abs(x)) ** 2
    return y, grad


def conv_loss(A, K):
    """The seed's conv2d + relu + average pool + MAE, with its numbers."""
    A4 = tf.reshape(A, (1, 2, 3, 1))
    K4 = tf.reshape(K, (2, 2, 1, 1))
    F = tf.reshape(tf.nn.conv2d(A4, K4, strides=(1, 1, 1, 1), padding="VALID"), (1, 1, 2, 1))
    G = tf.nn.relu(F)
    p = tf.reshape(tf.nn.avg_pool2d(G, (1, 2), (1, 1), "VALID"), (1,))
    return tf.abs(p - tf.constant(0.01, A.dtype))
