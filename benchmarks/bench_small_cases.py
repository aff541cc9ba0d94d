"""Small code checks against torch.autograd.gradcheck, side by side in one run (issue 12).

Run: python benchmarks/bench_small_cases.py [--blocks 7] [--repeat 30]

Most of OpInfo's samples are small (half have 25 elements or fewer), where a check's
fixed cost decides its time. Each case is checked the way the OpInfo runner checks
it (benchmarks/opinfo/run.py): gradcheck through ``assert_gradients`` with batched
backward and forward mode, torch with full Jacobians, forward mode, batched gradients
and undefined output gradients. Times are the best block of ``--repeat`` checks, as a
ratio ours / torch. One thread, CPU, float64. The authoritative per-case figure is the
whole OpInfo run (docs/benchmarks.md); this one takes half a minute.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import gradcheck_cli


def cases():
    g = torch.Generator().manual_seed(0)

    def x(*shape):
        return torch.rand(*shape, generator=g, dtype=torch.float64) * 2 - 1

    return [
        ("sin, 0 elements", torch.sin, (torch.zeros(0, 3, dtype=torch.float64),)),
        ("sin, 1 element", torch.sin, (x(1),)),
        ("sum, 2x2", torch.sum, (x(2, 2),)),
        ("mul, 5 and 5", torch.mul, (x(5), x(5))),
        ("tanh, 20", torch.tanh, (x(20),)),
        ("softmax, 4x5", lambda t: torch.softmax(t, -1), (x(4, 5),)),
        ("matmul, 5x5 @ 5x5", torch.matmul, (x(5, 5), x(5, 5))),
        ("logsumexp, 10x10", lambda t: torch.logsumexp(t, 0), (x(10, 10),)),
    ]


def ours(f, args):
    gradcheck_cli.assert_gradients(f, *args, backend="torch", batched=["rev", "fwd"])


def theirs(f, args):
    inputs = tuple(a.detach().requires_grad_() for a in args)
    torch.autograd.gradcheck(f, inputs, fast_mode=False, check_undefined_grad=True,
                             check_batched_grad=True, check_forward_ad=True,
                             check_batched_forward_grad=True)


def best(fn, blocks: int, repeat: int) -> float:
    times = []
    for _ in range(blocks):
        start = time.perf_counter()
        for _ in range(repeat):
            fn()
        times.append((time.perf_counter() - start) / repeat)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, gradcheck {gradcheck_cli.__version__}, "
          f"best of {args.blocks} blocks of {args.repeat}\n")
    print("| case | gradcheck (ms) | torch.autograd.gradcheck (ms) | ratio |")
    print("|---|---|---|---|")
    ratios = []
    for name, f, inputs in cases():
        for _ in range(5):   # warm-up: imports, caches, vmap's first trace
            ours(f, inputs)
            theirs(f, inputs)
        a = best(lambda: ours(f, inputs), args.blocks, args.repeat)
        b = best(lambda: theirs(f, inputs), args.blocks, args.repeat)
        ratios.append(a / b)
        print(f"| {name} | {a * 1e3:.2f} | {b * 1e3:.2f} | {a / b:.2f} |")
    print(f"\nmedian ratio {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
