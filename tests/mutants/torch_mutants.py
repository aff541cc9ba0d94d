"""Deliberately wrong torch backward passes, each next to its correct twin."""

import torch


def _function(forward, backward):
    """A torch.autograd.Function from two plain functions (of tensors)."""
    class Op(torch.autograd.Function):
        @staticmethod
        def forward(ctx, *args):
            ctx.save_for_backward(*args)
            return forward(*args)

        @staticmethod
        def backward(ctx, grad):
            return backward(grad, *ctx.saved_tensors)
    return Op.apply


# wrong sign: sigmoid' = s (1 - s)
sigmoid_ok = _function(torch.sigmoid, lambda g, x: g * torch.sigmoid(x) * (1 - torch.sigmoid(x)))
sigmoid_bad = _function(torch.sigmoid, lambda g, x: -g * torch.sigmoid(x) * (1 - torch.sigmoid(x)))

# missing factor: tanh' = 1 - tanh^2, not 1 - tanh
tanh_ok = _function(torch.tanh, lambda g, x: g * (1 - torch.tanh(x) ** 2))
tanh_bad = _function(torch.tanh, lambda g, x: g * (1 - torch.tanh(x)))

# off by 1%
softplus_ok = _function(torch.nn.functional.softplus, lambda g, x: g * torch.sigmoid(x))
softplus_bad = _function(torch.nn.functional.softplus, lambda g, x: g * torch.sigmoid(x) * 1.01)

# a gradient that ignores one of two uses of x: d/dx x sin x = sin x + x cos x
xsinx_ok = _function(lambda x: x * torch.sin(x), lambda g, x: g * (torch.sin(x) + x * torch.cos(x)))
xsinx_bad = _function(lambda x: x * torch.sin(x), lambda g, x: g * x * torch.cos(x))

# wrong branch of a piecewise function: leaky relu with slopes swapped
leaky_ok = _function(lambda x: torch.where(x > 0, x, 0.1 * x),
                     lambda g, x: g * torch.where(x > 0, 1.0, 0.1))
leaky_bad = _function(lambda x: torch.where(x > 0, x, 0.1 * x),
                      lambda g, x: g * torch.where(x > 0, 0.1, 1.0))

# relu with its gradient: correct, and with the mask inverted
relu_ok = _function(torch.relu, lambda g, x: g * (x > 0))
relu_bad = _function(torch.relu, lambda g, x: g * (x <= 0))


def _linear(grad_w, grad_b):
    return _function(lambda x, w, b: x @ w.T + b,
                     lambda g, x, w, b: (g @ w, grad_w(g, x), grad_b(g)))


# a linear layer's backward: weight gradient g^T x, bias gradient summed over the batch
linear_ok = _linear(lambda g, x: g.T @ x, lambda g: g.sum(0))
linear_bad_bias = _linear(lambda g, x: g.T @ x, lambda g: g[0])            # not summed
linear_bad_weight = _linear(lambda g, x: (g.T @ x).T, lambda g: g.sum(0))  # transposed


class Dense(torch.nn.Module):
    """A module whose forward uses a custom linear op (square: in = out = 3)."""

    def __init__(self, op="linear_ok"):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(3, 3))
        self.bias = torch.nn.Parameter(torch.randn(3))
        self.op = globals()[op]

    def forward(self, x):
        return torch.tanh(self.op(x, self.weight, self.bias))


# ----- second order: the backward pass differentiated again ------------------------
# softplus whose backward uses a sigmoid with its own backward: right, or wrong (so the
# first derivative is right and only the second is wrong)
_sigmoid_right = _function(torch.sigmoid,
                           lambda g, x: g * torch.sigmoid(x) * (1 - torch.sigmoid(x)))
_sigmoid_wrong = _function(torch.sigmoid, lambda g, x: g * torch.sigmoid(x))
softplus2_ok = _function(torch.nn.functional.softplus, lambda g, x: g * _sigmoid_right(x))
softplus2_bad = _function(torch.nn.functional.softplus, lambda g, x: g * _sigmoid_wrong(x))


class _OnceSoftplus(torch.autograd.Function):
    """A backward that cannot be differentiated again (once_differentiable)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.nn.functional.softplus(x)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * torch.sigmoid(x)


softplus_once = _OnceSoftplus.apply
# a backward that detaches what it uses: right at order 1, no second derivative
softplus_detached = _function(torch.nn.functional.softplus,
                              lambda g, x: g * torch.sigmoid(x.detach()))


# ----- structural mutants: each breaks one property torch's gradcheck checks -----------
class _TwoOut(torch.autograd.Function):
    """sin and cos of x; the backward assumes both output gradients are defined."""

    @staticmethod
    def forward(ctx, x):
        ctx.set_materialize_grads(False)  # undefined output gradients arrive as None
        ctx.save_for_backward(x)
        return x.sin(), x.cos()

    @staticmethod
    def backward(ctx, ga, gb):
        (x,) = ctx.saved_tensors
        return ga * x.cos() - gb * x.sin()


class _TwoOutOk(_TwoOut):
    @staticmethod
    def backward(ctx, ga, gb):
        (x,) = ctx.saved_tensors
        out = torch.zeros_like(x)
        if ga is not None:
            out = out + ga * x.cos()
        if gb is not None:
            out = out - gb * x.sin()
        return out


class _Sticky(torch.autograd.Function):
    """A backward that gives a nonzero gradient for zero output gradients."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * x * g + 1e-3 * (g == 0).all()


class _UnderVmap(torch.autograd.Function):
    """A backward that computes something else when its gradients are batched."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        k = 1.01 if torch._C._functorch.is_legacy_batchedtensor(g) else 1.0
        return g * x.cos() * k


class _Writes(torch.autograd.Function):
    """A backward that writes into its saved input."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.exp()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        grad = g * x.exp()
        x.data.add_(1.0)
        return grad


two_outputs_bad, two_outputs_ok = _TwoOut.apply, _TwoOutOk.apply
zero_cotangent_bad = _Sticky.apply
zero_cotangent_ok = _function(lambda x: x * x, lambda g, x: 2 * x * g)
batched_bad = _UnderVmap.apply
batched_ok = _function(torch.sin, lambda g, x: g * torch.cos(x))
mutates_bad = _Writes.apply
mutates_ok = _function(torch.exp, lambda g, x: g * torch.exp(x))


class _ForwardUnderVmap(torch.autograd.Function):
    """A forward-mode rule (jvp) that computes something else when its tangents are
    batched."""

    scale = 1.01

    @classmethod
    def forward(cls, ctx, x):
        ctx.save_for_backward(x)
        ctx.x = x
        return x.sin()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x.cos()

    @classmethod
    def jvp(cls, ctx, t):
        k = cls.scale if torch._C._functorch.is_legacy_batchedtensor(t) else 1.0
        return t * ctx.x.cos() * k


class _ForwardUnderVmapOk(_ForwardUnderVmap):
    scale = 1.0


forward_batched_bad, forward_batched_ok = _ForwardUnderVmap.apply, _ForwardUnderVmapOk.apply


# ----- forward and reverse rules of one op that disagree; a noisy op ----------------------
class _SinRules(torch.autograd.Function):
    """sin with both rules; ``jvp_scale`` breaks the forward-mode one."""

    jvp_scale = vjp_scale = 1.0
    noise = 0.0

    @classmethod
    def forward(cls, ctx, x):
        ctx.save_for_backward(x)
        ctx.x = x
        return torch.sin(x) + cls.noise * torch.rand_like(x)

    @classmethod
    def backward(cls, ctx, g):
        (x,) = ctx.saved_tensors
        return g * torch.cos(x) * cls.vjp_scale

    @classmethod
    def jvp(cls, ctx, t):
        return t * torch.cos(ctx.x) * cls.jvp_scale


class _SinRulesDisagree(_SinRules):
    jvp_scale = 1.1


class _NoisySin(_SinRules):
    """An iterative solver's answer: right to 1e-6, noisy below."""

    noise = 1e-6


class _NoisySinDisagree(_NoisySin):
    jvp_scale = 1.1


class _NoisySinBothOff(_NoisySin):
    """Both rules 10 % off: they agree with each other, and both are wrong."""

    jvp_scale = vjp_scale = 1.1


rules_agree, rules_disagree = _SinRules.apply, _SinRulesDisagree.apply
noisy_agree, noisy_disagree = _NoisySin.apply, _NoisySinDisagree.apply
noisy_both_off = _NoisySinBothOff.apply


# ----- a model with one wrong layer -------------------------------------------------------
class _ScaledTanh(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.tanh(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (1 - torch.tanh(x) ** 2) * 1.05   # 5 % off


class WrongTanh(torch.nn.Module):
    def forward(self, x):
        return _ScaledTanh.apply(x)


def model_with_a_wrong_layer():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 4),
                               WrongTanh(), torch.nn.Linear(4, 2)).double()


def model_all_right():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 4),
                               torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()


# ----- a block that is exactly zero: f linear in w ------------------------------------
class _Scale(torch.autograd.Function):
    """f = w x, linear in w: ∂²f/∂w² is exactly 0."""

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return w * x

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return g * w, g * x


class _ScaleCurved(_Scale):
    """Right at order 1, but its backward is not linear in w: w - w.detach() is zero in
    value and one in slope, so d/dw of the w-gradient is g, where it must be 0."""

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return g * w, g * x + g * (w - w.detach())


def scale_ok(x, w):
    return _Scale.apply(x, w)


def scale_curved(x, w):
    return _ScaleCurved.apply(x, w)
