"""Speed of our LIF layer relative to the field's neuron libraries.

Prints ratios (ours / peer) measured in this one run, never absolute times
alone: timings on shared CPUs swing ~20% between runs, ratios much less.

Multi-step LIF layer, forward + BPTT backward, ``[T, B, N]``:
   ours vs SpikingJelly ``LIFNode(step_mode='m')`` (same dynamics; spikes are
   checked equal first) vs snntorch ``Leaky`` (its own update rule; timing only).

``make bench`` (``benchmarks/bench.py``) puts these ratios in its table beside
the attack benchmarks; this script prints them alone.
"""

from __future__ import annotations

import torch

from robustbench_snn.core.neurons import LIFNode
from timing import best_of

T, B, N = 8, 256, 1024
REPEATS = 7


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


def lif_times(x: torch.Tensor, repeats: int = REPEATS) -> dict[str, float]:
    """Best-of times of a multi-step LIF layer's forward + BPTT backward on ``x: [T, B, N]``:
    ours, SpikingJelly's (spikes checked equal to ours first) and snntorch's where installed."""
    ours = LIFNode(tau=2.0, surrogate="atan:1", detach_reset=True)
    results = {"ours": best_of(fwd_bwd(ours, x), repeats)}
    try:
        from spikingjelly.activation_based import neuron, surrogate

        sj = neuron.LIFNode(tau=2.0, surrogate_function=surrogate.ATan(alpha=2.0), detach_reset=True, step_mode="m")
        sj.reset()
        assert torch.equal(sj(x), ours(x)), "SpikingJelly and our LIF disagree on identical input"
        results["spikingjelly"] = best_of(fwd_bwd(lambda v: (sj.reset(), sj(v))[1], x), repeats)
    except ImportError:
        print("spikingjelly not installed: `make bench` installs it")
    try:
        results["snntorch"] = best_of(fwd_bwd(snntorch_layer(), x), repeats)
    except ImportError:
        print("snntorch not installed: `make bench` installs it")
    return results


def main() -> None:
    torch.set_num_threads(2)
    torch.manual_seed(0)
    x = torch.rand(T, B, N) * 2
    results = lif_times(x)
    print(f"LIF layer forward+backward, T={T} B={B} N={N}, best of {REPEATS}:")
    for peer, t in results.items():
        if peer != "ours":
            print(f"  ours / {peer:<13} time ratio {results['ours'] / t:5.2f}  (<1: ours faster)")


if __name__ == "__main__":
    main()
