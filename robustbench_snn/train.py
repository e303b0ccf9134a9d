"""Training registered models with BPTT (surrogate gradients through all T steps)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import torch
from tqdm import tqdm

from robustbench_snn.defenses import get_objective

from .data import Dataset
from .harness import clean_accuracy
from .provenance import CODE_PATHS, git_commit, today, version
from .registry import create_model, get_model_entry

#: Epochs when neither the command line nor the model sets them: small data
#: sets need many passes, MNIST-sized ones few (keeps CPU training in minutes).
DEFAULT_EPOCHS = {"digits": 30}
LARGE_DATASET_EPOCHS = 4


def default_epochs(dataset: str) -> int:
    return DEFAULT_EPOCHS.get(dataset, LARGE_DATASET_EPOCHS)


#: How many encoder draws the card's clean accuracy averages over for stochastic models.
CARD_DRAWS = 10


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    lr: float = 2e-3
    batch_size: int = 64
    seed: int = 0
    weight_decay: float = 0.0


def fit(model, data: Dataset, cfg: TrainConfig, objective, quiet: bool = False, device: str = "cpu") -> list[float]:
    """Adam + cosine learning-rate schedule; returns the mean loss of each epoch."""
    model.to(device).train()
    g = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    n_batches = -(-len(data) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * n_batches)
    losses = []
    bar = tqdm(range(cfg.epochs), desc=f"train {data.name}", disable=quiet, unit="epoch")
    for _ in bar:
        perm = torch.randperm(len(data), generator=g)
        total = 0.0
        for i in range(0, len(data), cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            x, y = data.x[idx].to(device), data.y[idx].to(device)
            loss = objective(model, x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        losses.append(total / len(data))
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
    return losses


@torch.no_grad()
def recalibrate_batchnorm(model, data: Dataset, batch_size: int = 256, max_batches: int = 50, device: str = "cpu") -> None:
    """Re-estimate every BatchNorm's running mean/variance as an exact average
    over (up to ``max_batches``) training batches with the final weights.

    The exponential moving average BN keeps during training lags the
    weights; after a short run it is still near its initial (0, 1) and a
    spiking network normalised with it can fall silent at test time.
    """
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    saved = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average
    model.train()
    for i in range(0, min(len(data), batch_size * max_batches), batch_size):
        model(data.x[i : i + batch_size].to(device))
    for bn, m in zip(bns, saved):
        bn.momentum = m
    model.eval()


def train_model(
    name: str,
    train: Dataset,
    test: Dataset,
    cfg: TrainConfig,
    build_kwargs: dict | None = None,
    command: str = "",
    quiet: bool = False,
    device: str = "cpu",
):
    """Build, train and score registered model ``name``; returns ``(model, card)``."""
    entry = get_model_entry(name)
    commit = git_commit(paths=CODE_PATHS)  # the code at start; the zoo is this run's output
    build_kwargs = dict(build_kwargs or {})
    torch.manual_seed(cfg.seed)
    model = create_model(name, train.in_shape, train.num_classes, **build_kwargs)
    start = time.perf_counter()
    losses = fit(model, train, cfg, get_objective(entry.defense), quiet=quiet, device=device)
    recalibrate_batchnorm(model, train, device=device)
    seconds = time.perf_counter() - start
    draws = CARD_DRAWS if model.stochastic else 1
    model.cpu()
    clean = clean_accuracy(model, test, draws=draws, seed=cfg.seed).mean().item()
    card = {
        "model": name,
        "dataset": train.name,
        "defense": entry.defense,
        "in_shape": list(train.in_shape),
        "num_classes": train.num_classes,
        "build_kwargs": build_kwargs,
        **model.config(),
        "clean_acc": round(100 * clean, 2),
        "clean_acc_draws": draws,
        "n_test": len(test),
        "epochs": cfg.epochs,
        "lr": cfg.lr,
        "batch_size": cfg.batch_size,
        "seed": cfg.seed,
        "final_train_loss": round(losses[-1], 5),
        "train_seconds": round(seconds, 1),
        "threads": torch.get_num_threads(),
        "command": command,
        "commit": commit,
        "version": version(),
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "date": today(),
    }
    return model, card
