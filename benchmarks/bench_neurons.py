"""Speed of our spiking layers and attacks relative to the field's libraries.

Prints ratios (ours / peer) measured in this one run, never absolute times
alone: timings on shared CPUs swing ~20% between runs, ratios much less.

1. Multi-step LIF layer, forward + BPTT backward, ``[T, B, N]``:
   ours vs SpikingJelly ``LIFNode(step_mode='m')`` (same dynamics; spikes are
   checked equal first) vs snntorch ``Leaky`` (its own update rule; timing only).
2. PGD on the zoo's digits ``snn-cnn``: ours vs torchattacks' PGD, same
   budget and start (robust accuracy printed for both).

Run: ``make bench`` (installs snntorch and spikingjelly into .venv first).
"""

from __future__ import annotations

import statistics
import time

import torch

from robustbench_snn.attacks import LinfBall, pgd, torchattacks_pgd
from robustbench_snn.data import load_dataset
from robustbench_snn.neurons import LIFNode
from robustbench_snn.zoo import load_checkpoint

T, B, N = 8, 256, 1024
REPEATS = 7


def timed(fn, repeats: int = REPEATS) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def fwd_bwd(layer, x):
    def run():
        xx = x.detach().requires_grad_(True)
        layer(xx).sum().backward()

    return run


def snntorch_layer():
    import snntorch as snn
    from snntorch import surrogate

    leaky = snn.Leaky(beta=0.5, spike_grad=surrogate.atan(alpha=2.0), reset_mechanism="zero", init_hidden=False)

    def run(x):  # x: [T, B, N], snntorch steps one time step per call
        mem = leaky.init_leaky()
        out = []
        for t in range(x.shape[0]):
            spk, mem = leaky(x[t], mem)
            out.append(spk)
        return torch.stack(out)

    return run


def main() -> None:
    torch.set_num_threads(2)
    torch.manual_seed(0)
    x = torch.rand(T, B, N) * 2
    ours = LIFNode(tau=2.0, surrogate="atan:1", detach_reset=True)
    results = {"ours": timed(fwd_bwd(ours, x))}
    try:
        from spikingjelly.activation_based import neuron, surrogate

        sj = neuron.LIFNode(tau=2.0, surrogate_function=surrogate.ATan(alpha=2.0), detach_reset=True, step_mode="m")
        sj.reset()
        assert torch.equal(sj(x), ours(x)), "SpikingJelly and our LIF disagree on identical input"
        results["spikingjelly"] = timed(fwd_bwd(lambda v: (sj.reset(), sj(v))[1], x))
    except ImportError:
        print("spikingjelly not installed: `make bench` installs it")
    try:
        results["snntorch"] = timed(fwd_bwd(snntorch_layer(), x))
    except ImportError:
        print("snntorch not installed: `make bench` installs it")
    print(f"LIF layer forward+backward, T={T} B={B} N={N}, median of {REPEATS}:")
    for peer, t in results.items():
        if peer != "ours":
            print(f"  ours / {peer:<13} time ratio {results['ours'] / t:5.2f}  (<1: ours faster)")

    model, _ = load_checkpoint("snn-cnn", "digits")
    data = load_dataset("digits", "test").head(250)
    ball = LinfBall(16 / 255)
    accs = {}

    def attack(fn, name):
        def run():
            torch.manual_seed(0)
            x_adv = fn(model, data.x, data.y, ball, steps=10)
            with torch.no_grad():
                accs[name] = (model(x_adv).argmax(1) == data.y).float().mean().item()

        return run

    t_ours = timed(attack(pgd, "ours"), 3)
    t_ta = timed(attack(torchattacks_pgd, "torchattacks"), 3)
    print("PGD-10 Linf 16/255 on digits snn-cnn (250 examples), median of 3:")
    print(f"  ours / torchattacks time ratio {t_ours / t_ta:5.2f}; robust accuracy ours {100 * accs['ours']:.1f}% vs torchattacks {100 * accs['torchattacks']:.1f}%")


if __name__ == "__main__":
    main()
