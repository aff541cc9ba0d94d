"""Deliberately wrong TensorFlow custom gradients, each next to its correct twin."""

import tensorflow as tf


def _op(forward, backward):
    @tf.custom_gradient
    def op(*args):
        y = forward(*args)
        return y, lambda g: backward(g, *args)
    return op


softsign_ok = _op(lambda x: x / (1 + tf.abs(x)), lambda g, x: g / (1 + tf.abs(x)) ** 2)
softsign_bad = _op(lambda x: x / (1 + tf.abs(x)), lambda g, x: -g / (1 + tf.abs(x)) ** 2)

square_ok = _op(lambda x: x * x, lambda g, x: 2 * g * x)
square_bad = _op(lambda x: x * x, lambda g, x: g * x)          # missing factor 2

product_ok = _op(lambda x, y: x * tf.exp(y), lambda g, x, y: (g * tf.exp(y), g * x * tf.exp(y)))
product_bad = _op(lambda x, y: x * tf.exp(y), lambda g, x, y: (g * tf.exp(y), g * tf.exp(y)))


class Affine(tf.keras.layers.Layer):
    """x W + b through a custom gradient; ``variant`` breaks one piece of it."""

    def __init__(self, units=3, variant="ok"):
        super().__init__()
        self.units, self.variant = units, variant

    def build(self, shape):
        self.w = self.add_weight(name="kernel", shape=(shape[-1], self.units),
                                 initializer="random_normal")
        self.b = self.add_weight(name="bias", shape=(self.units,), initializer="random_normal")

    def call(self, x):
        variant = self.variant

        @tf.custom_gradient
        def affine(x, w, b):
            y = tf.sigmoid(x @ w + b)

            def grad(g):
                s = g * y * (1 - y)
                gb = tf.reduce_sum(s, 0) * (0.0 if variant == "no_bias" else 1.0)
                gw = tf.transpose(x) @ s
                if variant == "weight_1pct":
                    gw = gw * 1.01
                return s @ tf.transpose(w), gw, gb
            return y, grad
        return affine(x, tf.convert_to_tensor(self.w), tf.convert_to_tensor(self.b))


# ----- second order: a custom gradient whose own gradient is wrong ----------------------
_three_x2_right = _op(lambda x: 3 * x * x, lambda g, x: 6 * g * x)
_three_x2_wrong = _op(lambda x: 3 * x * x, lambda g, x: 5 * g * x)   # 6x, not 5x
cube2_ok = _op(lambda x: x * x * x, lambda g, x: g * _three_x2_right(x))
cube2_bad = _op(lambda x: x * x * x, lambda g, x: g * _three_x2_wrong(x))


# ----- a Keras model with one wrong layer --------------------------------------------------
@tf.custom_gradient
def _scaled_tanh(x):
    y = tf.tanh(x)
    return y, lambda g: g * (1 - y * y) * 1.05     # 5 % off


class WrongTanh(tf.keras.layers.Layer):
    def call(self, x):
        return _scaled_tanh(x)


def keras_model(wrong: bool):
    tf.keras.utils.set_random_seed(0)
    return tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(4, dtype="float64"),
                                WrongTanh(dtype="float64") if wrong
                                else tf.keras.layers.Activation("tanh", dtype="float64"),
                                tf.keras.layers.Dense(2, dtype="float64")])
