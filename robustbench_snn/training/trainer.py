"""Training registered models with BPTT (surrogate gradients through all T steps).

One loop (:func:`fit`) for every defense: the defense supplies the batch
loss and a hook after each optimizer step. With a ``state_path`` the loop
writes its complete state (weights, optimizer, schedule, RNG streams,
losses) after every epoch, and ``resume=True`` continues from it -- a
resumed run ends with exactly the weights of an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from ..core.atomic import atomic_write_bytes
from ..core.errors import UserInputError
from ..core.limits import is_number
from ..data.catalog import load_dataset
from ..data.dataset import Dataset
from ..defenses import Defense, get_defense, majority_vote
from ..evaluation.harness import clean_scores
from ..models.registry import create_model, get_model_entry
from ..models.zoo import checkpoint_paths, load_checkpoint, write_card
from ..results.provenance import CODE_PATHS, git_commit, host, today, version

#: Epochs when neither the command line nor the model sets them: small data
#: sets need many passes, MNIST-sized ones few (keeps CPU training in minutes).
DEFAULT_EPOCHS = {"digits": 30, "digits-events": 30}
LARGE_DATASET_EPOCHS = 4


def default_epochs(dataset: str) -> int:
    return DEFAULT_EPOCHS.get(dataset, LARGE_DATASET_EPOCHS)


#: How many encoder draws the card's clean accuracy averages over for stochastic models.
CARD_DRAWS = 10


#: Training-time augmentations (``--augment``): none, or a random crop from the image padded
#: by 4 pixels (zeros) and a random horizontal flip, the standard CIFAR recipe (He et al., CVPR
#: 2016, Sec. 4.2) that SNN papers train with.
AUGMENTATIONS = ("none", "crop-flip")
#: Datasets trained with ``crop-flip`` unless told otherwise (natural images; digits are not mirror-symmetric).
AUGMENTED_DATASETS = ("cifar10", "cifar10-jpeg")


def default_augment(dataset: str) -> str:
    return "crop-flip" if dataset in AUGMENTED_DATASETS else "none"


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    lr: float = 2e-3
    batch_size: int = 64
    seed: int = 0
    weight_decay: float = 0.0
    augment: str = "none"


def crop_flip(x: torch.Tensor, g: torch.Generator, pad: int = 4) -> torch.Tensor:
    """``x [B, C, H, W]``, each image shifted by a random offset in [-pad, pad] on both axes
    (the crop of the zero-padded image) and mirrored left-right with probability 1/2; the
    draws come from ``g``, so a resumed run draws what the uninterrupted one drew."""
    b, _, h, w = x.shape
    shifts = torch.randint(0, 2 * pad + 1, (b, 2), generator=g)
    flips = torch.rand(b, generator=g) < 0.5
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    rows = (shifts[:, 0, None] + torch.arange(h)).view(b, 1, h, 1)
    cols = (shifts[:, 1, None] + torch.arange(w)).view(b, 1, 1, w)
    cols = torch.where(flips.view(b, 1, 1, 1), cols.flip(-1), cols)
    index = torch.arange(b).view(b, 1, 1, 1)
    channel = torch.arange(x.shape[1]).view(1, -1, 1, 1)
    return padded[index, channel, rows, cols]


def augmented(x: torch.Tensor, augment: str, g: torch.Generator) -> torch.Tensor:
    if augment == "none":
        return x
    if augment == "crop-flip":
        return crop_flip(x, g)
    raise UserInputError(f"unknown augmentation {augment!r}; valid: {', '.join(AUGMENTATIONS)}")


def _save_state(path: Path, **state) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def _load_state(path: Path) -> dict:
    """The training state at ``path``, read with ``weights_only=True``: torch's restricted
    unpickler admits tensors, containers and numbers only, so a crafted file that would
    run code when unpickled is refused instead (the state lives in the user's zoo folder)."""

    try:
        return torch.load(path, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserInputError(f"--resume: {path} is not a training state this version wrote ({first}); delete it and start without --resume") from None


def run_identity(model, defense: Defense, data: Dataset) -> dict[str, str]:
    """What a resumed run must share with the interrupted one beyond the optimiser settings:
    the network as built (encoder, T, neuron, surrogate, readout; every weight's shape),
    the defense with its parameters, and the data."""
    config = model.config() if hasattr(model, "config") else {}
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    return {
        "network": json.dumps({"class": type(model).__name__, **config}, sort_keys=True),
        "weights": hashlib.sha256(json.dumps(shapes, sort_keys=True).encode()).hexdigest()[:16],
        "defense": json.dumps({"name": defense.name, **defense.params()}, sort_keys=True, default=str),
        "data": f"{data.name}:{data.split}:{len(data)}",
    }


#: Seconds between the training-state writes inside an epoch: an epoch of a CIFAR-sized
#: SEW-ResNet is about 40 minutes on a busy CPU core, longer than a session may leave a process.
SAVE_EVERY_S = 600.0


def _epoch_in_progress(state: dict, n: int, batch_size: int, path) -> tuple[torch.Tensor, int, float] | None:
    """The interrupted epoch a training state carries (its example order, the next batch's
    start, the loss summed so far), checked against the data; None for a state written at an
    epoch's end."""
    if "epoch_perm" not in state:
        return None
    perm, step, total = state.get("epoch_perm"), state.get("epoch_step"), state.get("epoch_total")
    ok = (isinstance(perm, torch.Tensor) and perm.shape == (n,) and torch.equal(perm.sort().values, torch.arange(n))
          and isinstance(step, int) and is_number(step, 1, n - 1) and step % batch_size == 0
          and isinstance(total, float) and is_number(total, low=0))
    if not ok:
        raise UserInputError(f"--resume: {path} holds a broken epoch in progress; delete it and start without --resume")
    return perm, step, total


def fit(
    model,
    data: Dataset,
    cfg: TrainConfig,
    defense: Defense | None = None,
    quiet: bool = False,
    device: str = "cpu",
    state_path: str | Path | None = None,
    resume: bool = False,
    compile: bool = False,
    save_every_s: float = SAVE_EVERY_S,
) -> list[float]:
    """Adam + cosine learning-rate schedule; returns the mean loss of each epoch.

    ``state_path``: write the training state there after every epoch, and inside an epoch
    every ``save_every_s`` seconds (with the epoch's example order and the next batch);
    ``resume``: continue from that state (it must exist), to the same weights as a run never
    interrupted. ``compile``: the defense's loss calls the model through ``torch.compile``
    (the same weights; about 1.8x faster on CIFAR-sized spiking CNNs,
    ``benchmarks/cifar_train_speed.py``).
    """
    defense = defense or Defense()
    model.to(device).train()
    forward = torch.compile(model) if compile else model
    g = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    n_batches = -(-len(data) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * n_batches)
    losses: list[float] = []
    prior_seconds = 0.0  # training seconds of the runs this one resumes (the state carries them)
    in_progress = None
    if resume:
        if state_path is None or not Path(state_path).is_file():
            raise UserInputError(f"--resume: no training state at {state_path}; start the run without --resume")
        state = _load_state(Path(state_path))
        if state["config"] != cfg.__dict__:
            raise UserInputError(f"--resume: {state_path} was written by a run with {state['config']}, not {cfg.__dict__}")
        ours = run_identity(model, defense, data)
        theirs = state.get("identity", {})
        differ = sorted(k for k in ours if theirs.get(k) != ours[k])
        if differ:
            shown = "; ".join(f"{k}: {theirs.get(k)!r} there, {ours[k]!r} here" for k in differ)
            raise UserInputError(f"--resume: {state_path} is from another run ({shown}); start without --resume")
        in_progress = _epoch_in_progress(state, len(data), cfg.batch_size, state_path)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        g.set_state(state["perm_rng"])
        torch.set_rng_state(state["torch_rng"])
        losses = state["losses"]
        prior_seconds = float(state.get("seconds", 0.0))
    start = last_save = time.perf_counter()

    def save(**epoch) -> None:
        nonlocal last_save
        _save_state(
            Path(state_path), config=cfg.__dict__, identity=run_identity(model, defense, data), model=model.state_dict(), optimizer=opt.state_dict(),
            scheduler=sched.state_dict(), perm_rng=g.get_state(), torch_rng=torch.get_rng_state(), losses=losses,
            seconds=prior_seconds + time.perf_counter() - start, **epoch,
        )
        last_save = time.perf_counter()

    bar = tqdm(range(len(losses), cfg.epochs), desc=f"train {data.name}", disable=quiet, unit="epoch")
    for _ in bar:
        perm, first, total = in_progress or (torch.randperm(len(data), generator=g), 0, 0.0)
        in_progress = None
        steps = tqdm(range(first, len(data), cfg.batch_size), desc=f"epoch {len(losses) + 1}", disable=quiet, unit="batch", leave=False)
        for i in steps:  # a CIFAR epoch of a transformer takes about 25 minutes on a CPU core: show its batches
            idx = perm[i : i + cfg.batch_size]
            x, y = augmented(data.x[idx], cfg.augment, g).to(device), data.y[idx].to(device)
            loss = defense.loss(forward, x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            defense.after_step(model)
            sched.step()
            total += loss.item() * len(idx)
            if state_path is not None and i + cfg.batch_size < len(data) and time.perf_counter() - last_save >= save_every_s:
                save(epoch_perm=perm, epoch_step=i + cfg.batch_size, epoch_total=total)
        losses.append(total / len(data))
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
        if state_path is not None:
            save()
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


#: Encoder draws of the majority vote reported on a stochastic model's card.
VOTE_DRAWS = 32


def card_scores(model: torch.nn.Module, test: Dataset, seed: int) -> dict:
    """A card's accuracy fields: ``clean_acc`` (%, the mean over :data:`CARD_DRAWS` encoder
    draws for a stochastic model, on per-example streams, so any batch size gives it) with
    ``clean_acc_draws``, and for a stochastic model the majority-vote ``vote_acc`` over
    :data:`VOTE_DRAWS` draws."""

    draws = CARD_DRAWS if model.stochastic else 1
    scores = {"clean_acc": round(100 * clean_scores(model, test, draws=draws, seed=seed).mean().item(), 2), "clean_acc_draws": draws}
    if model.stochastic:
        vote = majority_vote(model, test.x, VOTE_DRAWS, seed=seed)
        scores |= {"vote_acc": round(100 * (vote == test.y).float().mean().item(), 2), "vote_draws": VOTE_DRAWS}
    return scores


def rescore_checkpoint(name: str, dataset: str, data_dir: str | Path | None = None, root: str | Path | None = None) -> dict:
    """Re-measure a zoo card's accuracy fields (:func:`card_scores`, its seed) from its
    unchanged weights, for a card scored by older code (e.g. the global generator before
    per-example streams), and write the card back atomically with ``rescored`` (commit,
    date, the fields' old values) and the weights' SHA-256. Returns the new card."""

    model, card = load_checkpoint(name, dataset, root)
    weights, card_path = checkpoint_paths(name, dataset, root)
    scores = card_scores(model, load_dataset(dataset, "test", data_dir), card["seed"])
    old = {k: card[k] for k in scores if k in card}
    card = {**card, **scores, "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
            "rescored": {"commit": git_commit(paths=CODE_PATHS), "date": today(), "was": old}}
    write_card(card_path, card)
    return card


def train_model(
    architecture: str,
    train: Dataset,
    test: Dataset,
    cfg: TrainConfig,
    build_kwargs: dict | None = None,
    command: str = "",
    quiet: bool = False,
    device: str = "cpu",
    defense: str | None = None,
    defense_params: dict | None = None,
    name: str | None = None,
    state_path: str | Path | None = None,
    resume: bool = False,
    init_from: tuple[str, dict] | None = None,
    compile: bool = False,
):
    """Build registered model ``architecture``, train it with ``defense`` (default: its
    registered one) and score it; returns ``(model, card)``. ``name`` is the zoo
    name (default ``architecture``). ``init_from=(label, state_dict)`` starts
    from trained weights (e.g. adversarial fine-tuning of a zoo model)."""
    entry = get_model_entry(architecture)
    if defense is None or defense == entry.defense:  # the registered defense, with its registered settings
        defense_params = {**entry.defense_params, **(defense_params or {})}
    defense_obj = get_defense(defense or entry.defense, defense_params)
    commit = git_commit(paths=CODE_PATHS)  # the code at start; the zoo is this run's output
    build_kwargs = dict(build_kwargs or {})
    torch.manual_seed(cfg.seed)
    model = create_model(architecture, train.in_shape, train.num_classes, **build_kwargs)
    defense_obj.check(model, architecture)
    if init_from is not None:
        model.load_state_dict(init_from[1])
    prior_seconds = float(_load_state(Path(state_path)).get("seconds", 0.0)) if resume and state_path and Path(state_path).is_file() else 0.0
    start = time.perf_counter()
    losses = fit(model, train, cfg, defense_obj, quiet=quiet, device=device, state_path=state_path, resume=resume, compile=compile)
    recalibrate_batchnorm(model, train, device=device)
    seconds = prior_seconds + time.perf_counter() - start  # every run of a resumed training, not only the last
    model.cpu()
    card = {
        "model": name or architecture,
        "architecture": entry.architecture,
        "dataset": train.name,
        "defense": defense_obj.name,
        "defense_params": defense_obj.params(),
        "defense_paper": defense_obj.paper,
        "init_from": init_from[0] if init_from else None,
        "in_shape": list(train.in_shape),
        "num_classes": train.num_classes,
        "build_kwargs": build_kwargs,
        **model.config(),
        **card_scores(model, test, cfg.seed),
        "n_test": len(test),
        "epochs": cfg.epochs,
        "lr": cfg.lr,
        "batch_size": cfg.batch_size,
        "augment": cfg.augment,
        "seed": cfg.seed,
        "final_train_loss": round(losses[-1], 5),
        "train_seconds": round(seconds, 1),
        **host(),
        "command": command,
        "commit": commit,
        "version": version(),
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "date": today(),
    }
    return model, card
