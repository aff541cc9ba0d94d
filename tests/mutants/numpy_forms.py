"""NumPy functions with every form of hand-written derivative, right and wrong (one
element or one term off): each wrong one has its right twin."""

import numpy as np


def scalar(x):                      # f: R^4 -> R
    return float(np.sum(np.sin(x) * x ** 2))


def scalar_gradient(x):
    return np.cos(x) * x ** 2 + 2 * x * np.sin(x)


def scalar_gradient_wrong(x):       # the product rule's second term forgotten at x[1]
    g = scalar_gradient(x)
    g[1] = np.cos(x[1]) * x[1] ** 2
    return g


def scalar_hessian(x):
    return np.diag(-np.sin(x) * x ** 2 + 4 * x * np.cos(x) + 2 * np.sin(x))


def scalar_hessian_wrong(x):        # 4 x cos x written 2 x cos x
    return np.diag(-np.sin(x) * x ** 2 + 2 * x * np.cos(x) + 2 * np.sin(x))


def scalar_hvp(v, x):
    return scalar_hessian(x) @ v


def scalar_hvp_wrong(v, x):
    return scalar_hessian_wrong(x) @ v


def vector(x):                      # f: R^3 -> R^2
    return np.array([np.sin(x[0] * x[1]), x[0] ** 2 + np.exp(x[2])])


def vector_jacobian(x):
    c = np.cos(x[0] * x[1])
    return np.array([[x[1] * c, x[0] * c, 0.0], [2 * x[0], 0.0, np.exp(x[2])]])


def vector_jacobian_wrong(x):       # ∂f0/∂x1 with x1 for x0
    j = vector_jacobian(x)
    j[0, 1] = x[1] * np.cos(x[0] * x[1])
    return j


def vector_vjp(u, x):
    return u @ vector_jacobian(x)


def vector_vjp_wrong(u, x):
    return u @ vector_jacobian_wrong(x)


def vector_jvp(v, x):
    return vector_jacobian(x) @ v


def vector_jvp_wrong(v, x):
    return vector_jacobian_wrong(x) @ v


# several inputs: every way of returning one gradient per input
def bilinear(x, w, scale):
    return float(scale * np.sum((x @ w) ** 2))


def bilinear_grad_tuple(x, w, scale):
    y = x @ w
    return 2 * scale * y @ w.T, 2 * scale * x.T @ y


def bilinear_grad_per_argument(x, w, scale):   # None for the argument held constant
    dx, dw = bilinear_grad_tuple(x, w, scale)
    return dx, dw, None


def bilinear_grad_dict(x, w, scale):
    dx, dw = bilinear_grad_tuple(x, w, scale)
    return {"w": dw, "x": dx}


def bilinear_grad_three(x, w, scale):          # three values for two inputs: not matched
    dx, dw = bilinear_grad_tuple(x, w, scale)
    return dx, dw, dw, dw


def softmax_in_place(x):            # BUG: shifts its input in place
    x -= x.max()
    e = np.exp(x)
    return e / e.sum()


def softmax_copy(x):
    x = x - x.max()
    e = np.exp(x)
    return e / e.sum()


def softmax_vjp(u, x):
    s = softmax_copy(x)
    return s * (u - u @ s)


def column_gradient(x):             # the right numbers in shape (n, 1) for an input (n,)
    return scalar_gradient(x)[:, None]


def least_squares(x, a, b):         # scipy's convention: f(x, *args)
    r = a @ x - b
    return float(r @ r)


def least_squares_grad(x, a, b):
    return 2 * a.T @ (a @ x - b)


def least_squares_grad_wrong(x, a, b):   # the transpose forgotten
    return 2 * a @ (a @ x - b)
