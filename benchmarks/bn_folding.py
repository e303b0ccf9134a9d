"""Batch norm folded into the layer before it, measured on the attack gradient: why the
compiled path does not fold it itself.

A network in eval mode applies batch norm as a fixed per-channel affine map
(Ioffe & Szegedy, ICML 2015, Algorithm 1, with the running statistics), so a
convolution or linear layer followed by it is one layer ``W' x + b'`` with
``W' = s W``, ``b' = s (b - mu) + beta``, ``s = gamma / sqrt(var + eps)``
(Jacob et al., CVPR 2018, Section 3.2). Issue 16 asked for this folding on
the attack path. Measured here on the EOT-10 input gradient (the attacks'
own ``eot_loss_and_gradient``), eager and compiled, folded and not, in one
run: folding saves a few percent eagerly and nothing compiled, because
inductor already fuses the eval-mode affine into the element-wise kernel
next to it (forward and backward). The eager path stays unfolded (it is the
reference, and folding changes results by an ulp); inference graphs are
folded by inductor's ``freezing`` (robustbench_snn.evaluation.compiled). The folding
itself uses torch's ``torch.nn.utils.fusion``.

    python benchmarks/bn_folding.py [--dataset mnist] [--model rsc-snn] [--batch 256] [--threads 1]
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils.fusion import fuse_conv_bn_weights, fuse_linear_bn_weights

from robustbench_snn.core.limits import positive_int


#: Exactly these types (a subclass may compute something else in its forward).
FOLDABLE_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def foldable_pairs(model: nn.Module) -> list[tuple[nn.Sequential, int]]:
    """``(sequential, i)`` for every ``sequential[i]`` (Conv1d/2d/3d or Linear) directly followed by
    a batch norm in eval mode with running statistics, whose output feeds nothing else."""
    pairs = []
    for seq in model.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        layers = list(seq)
        for i, (layer, bn) in enumerate(zip(layers, layers[1:])):
            if (type(layer) in FOLDABLE_LAYERS and isinstance(bn, _BatchNorm) and not bn.training and bn.track_running_stats
                    and bn.running_mean is not None and layer.weight.shape[0] == bn.num_features):
                pairs.append((seq, i))
    return pairs


def folded_layer(layer: nn.Module, bn: _BatchNorm) -> nn.Module:
    """A new layer computing ``bn(layer(x))`` in eval mode (weights without gradient)."""
    with torch.no_grad():
        if isinstance(layer, nn.Linear):
            weight, bias = fuse_linear_bn_weights(layer.weight, layer.bias, bn.running_mean, bn.running_var,
                                                  bn.eps, _affine(bn, "weight", 1.0), _affine(bn, "bias", 0.0))
            folded = nn.Linear(layer.in_features, layer.out_features, bias=True, device=weight.device, dtype=weight.dtype)
        else:
            weight, bias = fuse_conv_bn_weights(layer.weight, layer.bias, bn.running_mean, bn.running_var,
                                                bn.eps, _affine(bn, "weight", 1.0), _affine(bn, "bias", 0.0))
            folded = type(layer)(layer.in_channels, layer.out_channels, layer.kernel_size, stride=layer.stride,
                                 padding=layer.padding, dilation=layer.dilation, groups=layer.groups, bias=True,
                                 padding_mode=layer.padding_mode, device=weight.device, dtype=weight.dtype)
        folded.weight = nn.Parameter(weight.detach(), requires_grad=False)
        folded.bias = nn.Parameter(bias.detach(), requires_grad=False)
    return folded.eval()


def _affine(bn: _BatchNorm, name: str, default: float) -> torch.Tensor:
    """``bn``'s gamma or beta, or the identity value when it has no affine parameters."""
    value = getattr(bn, name)
    return value if value is not None else torch.full_like(bn.running_mean, default)


@contextmanager
def batchnorm_folded(model: nn.Module) -> Iterator[int]:
    """Within the block every foldable (layer, batch norm) pair of ``model`` (:func:`foldable_pairs`)
    is one folded layer followed by ``nn.Identity``; the original modules are put back after.
    Yields the number of pairs folded."""
    pairs = foldable_pairs(model)
    saved = [(seq, i, seq[i], seq[i + 1]) for seq, i in pairs]
    for seq, i, layer, bn in saved:
        seq[i], seq[i + 1] = folded_layer(layer, bn), nn.Identity()
    try:
        yield len(saved)
    finally:
        for seq, i, layer, bn in saved:
            seq[i], seq[i + 1] = layer, bn


def main() -> None:
    import argparse

    from robustbench_snn.core import streams
    from robustbench_snn.attacks.gradient import eot_loss_and_gradient
    from robustbench_snn.attacks.losses import cross_entropy
    from robustbench_snn.evaluation.compiled import compiled_path
    from robustbench_snn.data.catalog import load_dataset
    from robustbench_snn.models.zoo import load_checkpoint
    from timing import best_of

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--data-dir", default="../shared/data/mnist")
    p.add_argument("--model", default="rsc-snn")
    p.add_argument("--batch", type=positive_int("--batch"), default=256)
    p.add_argument("--eot", type=positive_int("--eot"), default=10)
    p.add_argument("--threads", type=positive_int("--threads"), default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset, "test", None if args.dataset == "digits" else args.data_dir).head(args.batch)
    model = load_checkpoint(args.model, args.dataset)[0].eval()

    def gradient():
        with streams.per_example(0, torch.arange(len(data.x)), "benchmark"):
            return eot_loss_and_gradient(model, data.x, data.y, cross_entropy, args.eot)[1]

    times = {}
    for compiled in (False, True):
        for folded in (False, True):
            with ExitStack() as stack:
                pairs = stack.enter_context(batchnorm_folded(model)) if folded else None
                if compiled:
                    stack.enter_context(compiled_path(model, "on"))
                times[compiled, folded] = best_of(gradient, reps=3)
    print(f"{args.model} {args.dataset}, EOT-{args.eot} gradient on {args.batch} images, {args.threads} threads, "
          f"{pairs} batch norms folded:")
    for compiled in (False, True):
        name = "compiled" if compiled else "eager"
        print(f"  {name:>8}: unfolded / folded time ratio {times[compiled, False] / times[compiled, True]:.2f} (>1: folding faster)")


if __name__ == "__main__":
    main()
