"""Hand-written NumPy derivatives: the classic backprop assignments, each right and with
its classic bug. Checked by gradcheck_numpy.yaml (the bugs are marked xfail there)."""

import numpy as np


# ----- a scalar objective and its gradient and Hessian (scipy.optimize's example) -----
def rosen(x):
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


def rosen_der(x):
    der = np.zeros_like(x)
    der[1:-1] = (200 * (x[1:-1] - x[:-2] ** 2) - 400 * (x[2:] - x[1:-1] ** 2) * x[1:-1]
                 - 2 * (1 - x[1:-1]))
    der[0] = -400 * x[0] * (x[1] - x[0] ** 2) - 2 * (1 - x[0])
    der[-1] = 200 * (x[-1] - x[-2] ** 2)
    return der


def rosen_hess(x):
    h = np.diag(-400 * x[:-1], 1) - np.diag(400 * x[:-1], -1)
    diagonal = np.zeros_like(x)
    diagonal[0] = 1200 * x[0] ** 2 - 400 * x[1] + 2
    diagonal[-1] = 200
    diagonal[1:-1] = 202 + 1200 * x[1:-1] ** 2 - 400 * x[2:]
    return h + np.diag(diagonal)


# ----- softmax cross-entropy, value and gradient in one (minimize(jac=True) style) -----
def softmax_loss(scores, labels):
    """Mean cross-entropy of a batch of scores (N, C) and integer labels (N,)."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = scores.shape[0]
    loss = -log_p[np.arange(n), labels].mean()
    grad = np.exp(log_p)
    grad[np.arange(n), labels] -= 1
    return loss, grad / n


# ----- 1. softmax: its Jacobian -----------------------------------------------------
def softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def softmax_jacobian(x):
    s = softmax(x)
    return np.diag(s) - np.outer(s, s)


def softmax_jacobian_no_diagonal(x):       # BUG: forgets diag(s)
    s = softmax(x)
    return -np.outer(s, s)


# ----- 2. max-pool 2x2, stride 2: its backward pass, at ties ----------------------------
def max_pool(x):
    h, w = x.shape
    return x.reshape(h // 2, 2, w // 2, 2).max(axis=(1, 3))


def max_pool_vjp(u, x):
    """The gradient goes to one maximum of each window (the first), as the frameworks do."""
    h, w = x.shape
    windows = x.reshape(h // 2, 2, w // 2, 2).transpose(0, 2, 1, 3).reshape(h // 2, w // 2, 4)
    first = windows.argmax(axis=2)
    dx = np.zeros_like(windows)
    np.put_along_axis(dx, first[..., None], u[..., None], axis=2)
    return dx.reshape(h // 2, w // 2, 2, 2).transpose(0, 2, 1, 3).reshape(h, w)


def max_pool_vjp_all_ties(u, x):           # BUG: a mask x == max sends u to every tie
    h, w = x.shape
    out = max_pool(x)
    mask = x == np.repeat(np.repeat(out, 2, axis=0), 2, axis=1)
    return mask * np.repeat(np.repeat(u, 2, axis=0), 2, axis=1)


# ----- 3. matrix inverse: its backward pass ---------------------------------------------
def inverse(a):
    return np.linalg.inv(a)


def inverse_vjp(u, a):
    inv = np.linalg.inv(a)
    return -inv.T @ u @ inv.T


def inverse_vjp_no_transpose(u, a):        # BUG: -A⁻¹ U A⁻¹ (right only for symmetric A)
    inv = np.linalg.inv(a)
    return -inv @ u @ inv


# ----- 4. strided convolution (2-D, one channel, stride 2): its backward pass ----------
STRIDE = 2


def conv(x, w):
    k = w.shape[0]
    n = (x.shape[0] - k) // STRIDE + 1
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            out[i, j] = np.sum(x[i * STRIDE:i * STRIDE + k, j * STRIDE:j * STRIDE + k] * w)
    return out


def conv_vjp(u, x, w):
    k = w.shape[0]
    dx, dw = np.zeros_like(x), np.zeros_like(w)
    for i in range(u.shape[0]):
        for j in range(u.shape[1]):
            window = (slice(i * STRIDE, i * STRIDE + k), slice(j * STRIDE, j * STRIDE + k))
            dx[window] += u[i, j] * w
            dw += u[i, j] * x[window]
    return dx, dw


def conv_vjp_stride_forgotten(u, x, w):    # BUG: dx scattered as if the stride were 1
    k = w.shape[0]
    dx, dw = np.zeros_like(x), np.zeros_like(w)
    for i in range(u.shape[0]):
        for j in range(u.shape[1]):
            dx[i:i + k, j:j + k] += u[i, j] * w
            dw += u[i, j] * x[i * STRIDE:i * STRIDE + k, j * STRIDE:j * STRIDE + k]
    return dx, dw


# ----- a layer with forward and reverse mode by hand ----------------------------------
def affine(x, w, b):
    return np.tanh(x @ w + b)


def affine_vjp(u, x, w, b):
    du = u * (1 - affine(x, w, b) ** 2)
    return du @ w.T, x.T @ du, du.sum(axis=0)


def affine_jvp(v, x, w, b):
    dx, dw, db = v
    return (1 - affine(x, w, b) ** 2) * (dx @ w + x @ dw + db)
