"""Second-order examples in JAX: the PINN's u(x, y) as a pure function, and a custom_jvp
rule whose tangent is right at first order and wrong only at second."""

import jax
import jax.numpy as jnp
import numpy as np

_rng = np.random.default_rng(0)
_W1, _b1 = _rng.standard_normal((2, 16)) / np.sqrt(2), _rng.standard_normal(16) * 0.1
_W2, _b2 = _rng.standard_normal((16, 16)) / 4, _rng.standard_normal(16) * 0.1
_W3 = _rng.standard_normal(16) / 4


def pinn(xy):
    """u(x, y): the same shape of network as torch_ops.PINN, fixed weights."""
    h = jnp.tanh(xy @ _W1 + _b1)
    h = jnp.tanh(h @ _W2 + _b2)
    return h @ _W3


def _jvp(forward, derivative):
    f = jax.custom_jvp(forward)
    f.defjvp(lambda primals, tangents: (forward(*primals), derivative(*primals) * tangents[0]))
    return f


_cos = _jvp(jnp.cos, lambda x: -jnp.sin(x))
_cos_sign_lost = _jvp(jnp.cos, lambda x: jnp.sin(x))   # cos' = -sin, sign lost
sin = _jvp(jnp.sin, _cos)                               # sin' = cos, whose own rule is right
sin_wrong_second = _jvp(jnp.sin, _cos_sign_lost)        # right at order 1, wrong at 2
