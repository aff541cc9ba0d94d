"""PyTorch layers from the course material (seed 000) and a custom autograd.Function."""

import math

import torch


class FusedSoftplus(torch.autograd.Function):
    """softplus with a hand-written backward: d/dx log(1 + e^x) = sigmoid(x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.nn.functional.softplus(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * torch.sigmoid(x)


def fused_softplus(x):
    return FusedSoftplus.apply(x)


def mlp():
    """The seed's 1 -> 25 -> 25 -> 1 tanh network."""
    model = torch.nn.Sequential()
    model.add_module("layer_1", torch.nn.Linear(1, 25))
    model.add_module("fun_1", torch.nn.Tanh())
    model.add_module("layer_2", torch.nn.Linear(25, 25))
    model.add_module("fun_2", torch.nn.Tanh())
    model.add_module("layer_3", torch.nn.Linear(25, 1))
    return model


class MLP(torch.nn.Module):
    """The network as a module, for checking its parameters' gradients."""

    def __init__(self):
        super().__init__()
        self.net = mlp()

    def forward(self, x):
        return self.net(x)


def _trained():
    # Fit sin(pi x) on linspace(-1, 1, 50) as the seed does (fewer epochs, Adam):
    # its input gradient should then follow pi cos(pi x).
    torch.manual_seed(0)
    model = mlp().double()
    x = torch.linspace(-1, 1, 50, dtype=torch.float64).reshape(-1, 1)
    y = torch.sin(math.pi * x)
    optim = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(1500):
        optim.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        optim.step()
    return model


_FIT = None


def fitted(x):
    """The trained network's prediction (trained on first use)."""
    global _FIT
    if _FIT is None:
        with torch.enable_grad():  # gradcheck may call this under no_grad
            _FIT = _trained()
    return _FIT.to(x.dtype)(x)
