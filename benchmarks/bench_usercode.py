"""User-code benchmarks (issue 4), measured side by side in one run.

Run: python benchmarks/bench_usercode.py

1. A torch Linear(1000, 1000) layer, 10^6 parameters, checked by random
   projections (input and parameters), against torch.autograd.gradcheck(fast_mode=True)
   on the same function of (x, weight, bias).
2. Full-Jacobian mode on an input of 1,000 elements, against
   torch.autograd.gradcheck in its default mode on the same layer.
"""

from __future__ import annotations

import time

import torch

from gradcheck_cli.usercode import run_callable


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main():
    torch.manual_seed(0)
    layer = torch.nn.Linear(1000, 1000).double()
    x = torch.randn(4, 1000, dtype=torch.float64)

    check = {"callable": layer, "backend": "torch", "params": True, "seed": 0,
             "inputs": {"x": {"value": x.numpy()}}}
    run_callable(dict(check, inputs={"x": {"value": x[:1, :10].numpy()}},
                      callable=torch.nn.Linear(10, 3).double()),
                 source="warm-up", base=None, label="warm-up")
    ours, result = timed(lambda: run_callable(check, source="bench", base=None, label="Linear"))
    assert result.status == "pass", result.status
    w, b = layer.weight.detach().clone(), layer.bias.detach().clone()
    fast, ok = timed(lambda: torch.autograd.gradcheck(
        torch.nn.functional.linear, (x.clone().requires_grad_(), w.requires_grad_(),
                                     b.requires_grad_()), fast_mode=True))
    print(f"Linear(1000, 1000), 10^6 parameters, projections: gradcheck {ours:.2f} s "
          f"({result.status}); torch.autograd.gradcheck(fast_mode=True) {fast:.2f} s ({ok})")

    small = torch.nn.Linear(1000, 10).double()
    xs = torch.randn(1, 1000, dtype=torch.float64)
    check = {"callable": small, "backend": "torch", "seed": 0,
             "inputs": {"x": {"value": xs.numpy()}}}
    ours, result = timed(lambda: run_callable(check, source="bench", base=None, label="full"))
    assert result.status == "pass" and any("full Jacobian" in n for n in result.notes)
    default, ok = timed(lambda: torch.autograd.gradcheck(
        small, (xs.clone().requires_grad_(),)))
    print(f"full Jacobian, input of 1,000 elements (Linear(1000, 10)): gradcheck {ours:.2f} s "
          f"({result.status}); torch.autograd.gradcheck default {default:.2f} s ({ok}); "
          f"{default / ours:.1f}x")


if __name__ == "__main__":
    main()
