"""Shared training loop of the example submissions: Adam on the embedded digits
training split (1,297 images), cross-entropy on the model's logits; writes
``weights.safetensors`` beside the calling script. Seconds on 2 CPU cores.

Each example's ``train.py`` builds its model from its ``model.py`` and passes
the library's own reset (snntorch ``utils.reset``, SpikingJelly
``functional.reset_net``) for the stateful ones: training resets per batch as
their tutorials do; evaluation is the benchmark's business.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from robustbench_snn.data.catalog import load_dataset


def load_factory(folder: Path):
    spec = importlib.util.spec_from_file_location(f"example_{folder.name.replace('-', '_')}", folder / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build


def train(folder: str | Path, reset=lambda model: None, epochs: int = 20, lr: float = 2e-3, batch_size: int = 64, seed: int = 0) -> None:
    folder = Path(folder).resolve()
    torch.manual_seed(seed)
    model = load_factory(folder)()
    train_set, test_set = load_dataset("digits", "train"), load_dataset("digits", "test")
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(train_set), generator=generator)
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            reset(model)
            loss = torch.nn.functional.cross_entropy(model(train_set.x[idx]), train_set.y[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    model.eval()
    with torch.no_grad():
        reset(model)
        acc = (model(test_set.x).argmax(1) == test_set.y).float().mean().item()
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / "weights.safetensors"))
    print(f"{folder.name}: {epochs} epochs, test accuracy {100 * acc:.2f}% (one pass, reset first); wrote weights.safetensors")
    write_claim(folder, model)


def write_claim(folder: Path, model: torch.nn.Module) -> None:
    """Put in card.json the claim an author would typically make: PGD-10 at 8/255 with
    the model's own surrogate (``rbsnn submit`` then measures the standard evaluation)."""
    from robustbench_snn import benchmark

    result = benchmark(model, attack="pgd", eps="8/255", progress=False)
    card_path = folder / "card.json"
    card = json.loads(card_path.read_text())
    card.update(claimed_clean=result.clean_acc, claimed_robust=result.robust_acc,
                claim_attack="PGD-10, Linf 8/255, the model's own surrogate (robustbench_snn.benchmark(attack='pgd'))")
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    print(f"{folder.name}: claim written to card.json: clean {result.clean_acc:.2f}%, PGD-10 {result.robust_acc:.2f}%")
