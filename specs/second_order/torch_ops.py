"""Second-order examples in torch: a physics-informed network's Hessian (its trace is the
Laplacian a PINN trains on), custom Functions whose backward is right, wrong or not
differentiable at all, rules whose forward and reverse modes disagree, a noisy op, and a
model with one wrong layer. Each wrong one sits beside its right twin."""

import torch
import torch.nn.functional as F


class PINN(torch.nn.Module):
    """u(x, y): a small tanh MLP, as a physics-informed network; seeded weights."""

    def __init__(self, width: int = 16):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(2, width), torch.nn.Tanh(),
                                       torch.nn.Linear(width, width), torch.nn.Tanh(),
                                       torch.nn.Linear(width, 1))

    def forward(self, xy):
        return self.net(xy).squeeze(-1)


def laplacian(model, xy):
    """Δu at the points xy ([n, 2]) the way a PINN's loss computes it: two backward
    passes (create_graph), which is what the order-2 check of u verifies."""
    xy = xy.requires_grad_(True)
    u = model(xy).sum()
    (g,) = torch.autograd.grad(u, xy, create_graph=True)
    return sum(torch.autograd.grad(g[:, i].sum(), xy, create_graph=True)[0][:, i]
               for i in range(2))


def _function(forward, backward):
    class Op(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return forward(x)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return backward(grad, x)
    return Op.apply


# softplus' = sigmoid, through a sigmoid with its own backward: right, or with s' = s
# (so the first derivative is right and only the second is wrong)
_sigmoid = _function(torch.sigmoid, lambda g, x: g * torch.sigmoid(x) * (1 - torch.sigmoid(x)))
_sigmoid_wrong = _function(torch.sigmoid, lambda g, x: g * torch.sigmoid(x))
softplus = _function(F.softplus, lambda g, x: g * _sigmoid(x))
softplus_wrong_second = _function(F.softplus, lambda g, x: g * _sigmoid_wrong(x))


class _OnceSoftplus(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return F.softplus(x)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * torch.sigmoid(x)


softplus_once_differentiable = _OnceSoftplus.apply


class _Sin(torch.autograd.Function):
    """sin with a backward and a forward-mode rule; ``jvp_scale`` breaks the latter."""

    jvp_scale, noise = 1.0, 0.0

    @classmethod
    def forward(cls, ctx, x):
        ctx.save_for_backward(x)
        ctx.x = x
        return torch.sin(x) + cls.noise * torch.rand_like(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * torch.cos(x)

    @classmethod
    def jvp(cls, ctx, t):
        return t * torch.cos(ctx.x) * cls.jvp_scale


class _SinJvpOff(_Sin):
    jvp_scale = 1.1


class _NoisySin(_Sin):
    """An iterative solver's answer: right to 1e-6, noise below that."""

    noise = 1e-6


sin_rules, sin_jvp_off, noisy_sin = _Sin.apply, _SinJvpOff.apply, _NoisySin.apply


class _TanhOff(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.tanh(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (1 - torch.tanh(x) ** 2) * 1.05   # 5 % off


class TanhOff(torch.nn.Module):
    def forward(self, x):
        return _TanhOff.apply(x)


def model(wrong: bool = False):
    """Linear, Tanh, Linear, Tanh (or the 5 %-off TanhOff), Linear."""
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 4),
                               TanhOff() if wrong else torch.nn.Tanh(),
                               torch.nn.Linear(4, 2)).double()


right_model = model()
model_with_a_wrong_layer = model(wrong=True)
