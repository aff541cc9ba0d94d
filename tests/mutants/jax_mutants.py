"""Deliberately wrong jax.custom_vjp rules, each next to its correct twin."""

import jax
import jax.numpy as jnp


def _vjp(forward, backward):
    f = jax.custom_vjp(forward)
    f.defvjp(lambda *args: (forward(*args), args), lambda args, g: backward(g, *args))
    return f


softplus_ok = _vjp(lambda x: jnp.logaddexp(0.0, x), lambda g, x: (g * jax.nn.sigmoid(x),))
softplus_bad = _vjp(lambda x: jnp.logaddexp(0.0, x), lambda g, x: (-g * jax.nn.sigmoid(x),))

exp_ok = _vjp(jnp.exp, lambda g, x: (g * jnp.exp(x),))
exp_bad = _vjp(jnp.exp, lambda g, x: (g * jnp.exp(x) * 1.01,))      # off by 1%

abs_ok = _vjp(jnp.abs, lambda g, x: (g * jnp.sign(x),))
abs_bad = _vjp(jnp.abs, lambda g, x: (g * jnp.where(x > 0, 1.0, 1.0),))   # wrong branch

matmul_ok = _vjp(lambda x, w, b: jnp.tanh(x @ w + b),
                 lambda g, x, w, b: _affine_grads(g, x, w, b))
matmul_bad_w = _vjp(lambda x, w, b: jnp.tanh(x @ w + b),
                    lambda g, x, w, b: _affine_grads(g, x, w, b, transpose_w=True))
matmul_bad_b = _vjp(lambda x, w, b: jnp.tanh(x @ w + b),
                    lambda g, x, w, b: _affine_grads(g, x, w, b, sum_b=False))


def _affine_grads(g, x, w, b, transpose_w=False, sum_b=True):
    s = g * (1 - jnp.tanh(x @ w + b) ** 2)
    gw = x.T @ s
    return s @ w.T, (gw.T if transpose_w else gw), (s.sum(0) if sum_b else s[0])


# ----- second order: a custom_jvp whose tangent rule is right only to first order -----
def _jvp(forward, derivative):
    f = jax.custom_jvp(forward)
    f.defjvp(lambda primals, tangents: (forward(*primals), derivative(*primals) * tangents[0]))
    return f


_cos_right = _jvp(jnp.cos, lambda x: -jnp.sin(x))
_cos_wrong = _jvp(jnp.cos, lambda x: jnp.sin(x))          # sign lost in cos' = -sin
sin2_ok = _jvp(jnp.sin, _cos_right)
sin2_bad = _jvp(jnp.sin, _cos_wrong)
