"""``rbsnn``: train, evaluate and list SNN models; show leaderboards.

Bad input (unknown names, missing data, bad values) prints one line
``rbsnn: error: ...`` to stderr and exits with code 2.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import re
import signal
import sys
import time
from pathlib import Path

import pandas as pd

from .attacks import ATTACKS, NORMS
from .core.atomic import atomic_write_bytes
from .core.errors import UnknownNameError, UserInputError
from .core.home import boards_dir, site_dir
from .core.limits import BATCH_SIZE, FAILURE_PROBABILITY, MAX_DRAWS_CERTIFY, MAX_SAMPLES, MAX_STEPS, MAX_T, SEED, positive_int
from .core.neurons import GRAD_MODES
from .core.surrogate import Surrogate
from .data.catalog import DATASETS, load_dataset
from .data.events import EVENT_DATASETS, require_event_data
from .defenses import DEFENSES, get_defense
from .evaluation.allocator import keep_freed_memory
from .evaluation.certify import CertifyConfig, MECHANISMS, certify_model, check_sigma, make_mechanism, summary
from .evaluation.compiled import COMPILE_MODES
from .evaluation.composite import COMPOSITES
from .evaluation.memory import out_of_memory
from .evaluation.model_checks import check_model, possible_surrogate_attack_labels
from .evaluation.settings import DEFAULT_EPS_TEXT, attack_names, check_attack_fits, check_budget, parse_eps, resolve_device
from .models.registry import create_model, get_model_entry, list_models
from .models.zoo import (
    DEFAULT_ZOO, checkpoint_paths, load_checkpoint, missing_checkpoint, read_card, save_checkpoint, write_paths, zoo_models,
)
from .results.leaderboard import (
    CERTIFIED, certified_path, check_folder_writable, check_writable, committed_path, default_path, format_table, json_cell,
    read, read_boards, refuse_smaller, upsert,
)
from .results.plots import plot_certified
from .results.provenance import command_line, git_commit, host, today, version
from .results.report import stale, write
from .results.site import write_site
from .results.sources import Sources, eps_label
from .runners.signals import (
    INTERRUPTED, TERMINATED, close_progress_bars, end_by_signal, stop_as_interrupt, stopped_message, stopped_status,
)
from .runners.sweep import BACKENDS, EvalSpec, sweep
from .submission.submit import CLAIM_FLAG, CLAIM_MARGIN, run_submission
from .training.trainer import AUGMENTATIONS, TrainConfig, default_augment, default_epochs, train_model


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line (no usage dump) and exit 2."""

    def error(self, message: str):  # type: ignore[override]
        raise UserInputError(f"{message} (see `{self.prog} --help`)")


#: Zoo checkpoint names: file names inside zoo/<dataset>/, never paths.
ZOO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")


def _positive_float(name: str):
    """argparse type: a finite number > 0."""

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a finite number > 0, got {text!r}") from None
        if not (0 < v < float("inf")):
            raise argparse.ArgumentTypeError(f"{name} must be a finite number > 0, got {text!r}")
        return v

    return parse


def _path(name: str):
    """argparse type: a file or folder path, not empty (an empty one would silently mean
    the current folder, or the default, and not what the user typed)."""

    def parse(text: str) -> str:
        if not text.strip() or "\0" in text:
            raise argparse.ArgumentTypeError(f"{name} must be a file or folder path, got {text!r}")
        return text

    return parse


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _literal(text: str) -> int | float | str | tuple[int | float, ...]:
    """``'8'`` -> 8, ``'0.5'`` -> 0.5, ``'32,64,128'`` -> (32, 64, 128), anything else stays a string."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if "," in text:
        items = [_literal(t.strip()) for t in text.split(",")]
        if all(isinstance(v, (int, float)) for v in items):
            return tuple(items)
    return text


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="digits", help="digits (embedded, default), mnist, fashion-mnist, cifar10, cifar10-jpeg, image-folder; events: digits-events, mnist-events, nmnist, dvs-gesture, cifar10-dvs")
    p.add_argument("--data-dir", type=_path("--data-dir"), default=None, help="folder with the dataset's standard files (not needed for digits)")
    p.add_argument("--zoo-dir", type=_path("--zoo-dir"), default=None, help="model zoo folder (default $RBSNN_ZOO, else yours under <home> then the repository's zoo/; with --publish the repository's)")
    p.add_argument("--seed", type=SEED.argument("--seed"), default=0)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--quiet", action="store_true", help="no progress bars")


class _VersionAction(argparse.Action):
    """``rbsnn --version``: the package version and the code's commit (as rows record it),
    read only when asked (a git call)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"rbsnn {version()} (commit {git_commit()})")
        parser.exit()


PUBLISH_HELP = "write the repository's committed board (a maintainer's action; default: your board under <home>, $RBSNN_HOME)"


def _exclusive_publish(args, *flags: str) -> None:
    """``--publish`` names the repository's files; refuse it beside a flag naming another file."""
    given = [f for f in flags if getattr(args, f.lstrip("-").replace("-", "_")) is not None]
    if args.publish and given:
        raise UserInputError(f"--publish writes the repository's files; it cannot be combined with {', '.join(given)}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rbsnn", description="Adversarial-robustness benchmark for spiking neural networks.")
    parser.add_argument("--version", action=_VersionAction, help="the version and the commit that rows made now record")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("list", help="registered models, attacks, datasets and zoo checkpoints").add_argument(
        "--dataset", default=None, help="show zoo accuracy for this dataset only"
    )

    t = sub.add_parser("train", help="train a registered model and write it to the zoo")
    t.add_argument("--model", required=True)
    t.add_argument("--epochs", type=positive_int("--epochs"), default=None)
    t.add_argument("--lr", type=_positive_float("--lr"), default=None)
    t.add_argument("--batch-size", type=positive_int("--batch-size"), default=64)
    t.add_argument("--T", type=positive_int("--T", MAX_T), default=None, help="time steps (SNNs only; default: the model's)")
    t.add_argument("--surrogate", default=None, help="training surrogate, name[:width] (default atan:1)")
    t.add_argument("--n-train", type=positive_int("--n-train"), default=None, help="train on the first N training examples only")
    t.add_argument("--defense", default=None, help="training defense (default: the model's registered one); see `rbsnn list`")
    t.add_argument("--defense-param", type=_key_value, action="append", default=[], metavar="KEY=VALUE", help="defense hyper-parameter, repeatable (e.g. eps=0.1)")
    t.add_argument("--build", type=_key_value, action="append", default=[], metavar="KEY=VALUE", help="model build argument, repeatable (e.g. rate=0.5 for rsc-snn)")
    t.add_argument("--name", default=None, help="zoo name (default: the model, or MODEL+DEFENSE when --defense differs from the model's)")
    t.add_argument("--resume", action="store_true", help="continue an interrupted run from its per-epoch training state")
    t.add_argument("--init-from", default=None, metavar="ZOO_MODEL", help="start from this zoo checkpoint's weights (same architecture), e.g. to adversarially fine-tune it")
    t.add_argument("--augment", default=None, help="none or crop-flip (random 4-pixel crop and horizontal flip); default crop-flip on CIFAR-10, else none")
    t.add_argument("--compile", default="off", choices=["on", "off"], help="run the training forward through torch.compile (about 1.8x faster on CIFAR-sized SNNs; default off)")
    t.add_argument("--publish", action="store_true", help="write the repository's zoo/ (a maintainer's action; default: your zoo under <home>, $RBSNN_HOME)")
    _common(t)

    e = sub.add_parser("eval", help="attack a zoo model and upsert its leaderboard row")
    e.add_argument("--model", required=True, help="a zoo model, or 'all' for every zoo checkpoint of the dataset")
    e.add_argument("--attack", default="pgd")
    e.add_argument("--T", type=positive_int("--T", MAX_T), default=None, help="run the model with T time steps (converted / direct-coded SNNs)")
    e.add_argument("--norm", default="linf", help="linf (default), l2, or events (event datasets: at most --eps K events added or removed)")
    e.add_argument("--eps", default=None, help="perturbation budget; default 8/255 (linf), 0.5 (l2), 20 events (events); inputs in [0, 1]")
    e.add_argument("--steps", type=positive_int("--steps", MAX_STEPS), default=10)
    e.add_argument("--alpha", default=None, help="step size (default 2.5*eps/steps; FGSM uses eps)")
    e.add_argument("--surrogate", default=None, help="attack surrogate name[:width], or 'all' for the worst case over a sweep (default: the model's training surrogate)")
    e.add_argument("--grad", default="bptt", help="how gradients cross spiking neurons: bptt (default), bptr, rga")
    e.add_argument("--eot", type=positive_int("--eot", MAX_SAMPLES), default=None, help="EOT samples per gradient (default 10 for stochastic encoders, else 1)")
    e.add_argument("--draws", type=positive_int("--draws", MAX_SAMPLES), default=None, help="encoder draws per accuracy (default 10 for stochastic encoders, else 1)")
    e.add_argument("--n-examples", type=positive_int("--n-examples"), default=None, help="first N test examples (default: all)")
    e.add_argument("--batch-size", type=positive_int("--batch-size"), default=BATCH_SIZE)
    e.add_argument("--out", type=_path("--out"), default=None, help="leaderboard CSV (default: your board, <home>/leaderboards/<dataset>_<norm>.csv)")
    e.add_argument("--publish", action="store_true", help=PUBLISH_HELP)
    e.add_argument("--no-save", action="store_true", help="print the result without writing the leaderboard")
    e.add_argument("--per-example", type=_path("--per-example"), default=None, metavar="DIR", help="also write each example's clean, robust and per-member scores to a CSV in DIR (named after the row)")
    e.add_argument("--force", action="store_true", help="let a row evaluated on fewer examples replace one evaluated on more")
    e.add_argument("--compile", default="auto", help="auto (default: attack gradients of known architectures through torch.compile), on (also a foreign model's forward), off (eager, the reference path)")
    _common(e)

    sw = sub.add_parser("sweep", help="evaluate a grid (models x attacks x eps x datasets), each row sharded over processes or Ray")
    sw.add_argument("--models", required=True, help="comma-separated zoo models ('all': every checkpoint of each dataset)")
    sw.add_argument("--attacks", default="pgd", help="comma-separated attacks (default pgd)")
    sw.add_argument("--eps", default=None, help="comma-separated budgets (default 8/255 for linf, 0.5 for l2)")
    sw.add_argument("--datasets", default="digits", help="comma-separated datasets (default digits)")
    sw.add_argument("--shards", type=positive_int("--shards"), default=1, help="split each row's examples into N shards (whole blocks of 250)")
    sw.add_argument("--backend", default="local", help="local (worker processes, default) or ray")
    sw.add_argument("--workers", type=positive_int("--workers"), default=1, help="parallel shards (local processes; Ray: CPUs of a local cluster)")
    sw.add_argument("--address", default=None, help="an existing Ray cluster (default $RAY_ADDRESS, else a local one)")
    sw.add_argument("--store", type=_path("--store"), default=".rbsnn-shards", help="where finished shards are kept, so a re-run skips them (default .rbsnn-shards)")
    for flag in ("--per-example", "--norm", "--steps", "--alpha", "--surrogate", "--grad", "--eot", "--draws", "--n-examples", "--batch-size",
                 "--out", "--publish", "--force", "--compile", "--T", "--data-dir", "--zoo-dir", "--seed", "--device", "--quiet"):
        sw._add_action(next(a for a in e._actions if flag in a.option_strings))  # the very option of rbsnn eval

    sm = sub.add_parser("submit", help="evaluate a submission folder (model.py, weights.safetensors, card.json) and upsert its row")
    sm.add_argument("folder", help="the submission folder; model.py is code and runs as you: review it first")
    sm.add_argument("--n-examples", type=positive_int("--n-examples"), default=None, help="first N test examples (a dry run; the row records N). Default: the full test set")
    sm.add_argument("--batch-size", type=positive_int("--batch-size"), default=BATCH_SIZE)
    sm.add_argument("--out", type=_path("--out"), default=None, help="leaderboard CSV (default: your board, <home>/leaderboards/<dataset>_<threat model>.csv)")
    sm.add_argument("--archive", type=_path("--archive"), default=None, help="where the submission is kept (default <home>/submissions; with --publish the checkout's submissions/)")
    sm.add_argument("--publish", action="store_true", help="write the repository's committed board and archive (a maintainer's action)")
    sm.add_argument("--force", action="store_true", help="let a row evaluated on fewer examples replace one evaluated on more, or a submission replace another author's of the same name")
    sm.add_argument("--data-dir", type=_path("--data-dir"), default=None, help="folder with the dataset's standard files (not needed for digits)")
    sm.add_argument("--seed", type=SEED.argument("--seed"), default=0)
    sm.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    sm.add_argument("--quiet", action="store_true", help="no progress bars")
    sm.add_argument("--compile", default="auto", help="auto (default), on, off: see rbsnn eval")
    sm.add_argument("--time-limit", type=_positive_float("--time-limit"), default=None, metavar="SECONDS",
                    help="wall clock the submission's evaluation may take (default 600 s + 30 s per example); it runs in a child process")
    sm.add_argument("--memory-limit", type=positive_int("--memory-limit"), default=None, metavar="MB",
                    help="address space of the submission's process (default three quarters of this machine's memory)")

    c = sub.add_parser("certify", help="randomized-smoothing certificate of a zoo model (Cohen et al. 2019); upserts leaderboards/<dataset>_certified.csv")
    c.add_argument("--model", required=True)
    c.add_argument("--mechanism", default=None, help="gaussian (noise N(0, sigma^2), L2 radius) or encoder (the model's Poisson coding, Linf radius); default gaussian")
    c.add_argument("--sigma", type=_positive_float("--sigma"), default=None, help="Gaussian noise level (default: the model's training sigma, if it was trained with noise)")
    c.add_argument("--n0", type=positive_int("--n0", MAX_DRAWS_CERTIFY), default=100, help="selection draws (default 100)")
    c.add_argument("--n", type=positive_int("--n", MAX_DRAWS_CERTIFY), default=10_000, help="estimation draws (default 10,000; 100,000 for tighter radii)")
    c.add_argument("--alpha", type=FAILURE_PROBABILITY.argument("--alpha"), default=0.001, help="failure probability of each certificate (default 0.001)")
    c.add_argument("--batch", type=positive_int("--batch"), default=1000, help="draws per forward pass (default 1000)")
    c.add_argument("--n-examples", type=positive_int("--n-examples"), default=100, help="first N test examples (default 100)")
    c.add_argument("--out", type=_path("--out"), default=None, help="folder for the per-example CSV and the plot (default <home>/leaderboards/certified)")
    c.add_argument("--board", type=_path("--board"), default=None, help="certified leaderboard CSV (default <home>/leaderboards/<dataset>_certified.csv)")
    c.add_argument("--publish", action="store_true", help="write the repository's committed certified board and files (a maintainer's action)")
    c.add_argument("--no-crosscheck", action="store_true", help="skip the PGD attack inside each certified ball")
    c.add_argument("--no-time", action="store_true", help="write the time column as 0, so reruns are byte-identical")
    c.add_argument("--compile", default="auto", help="auto (default), on, off: whether the model's passes run through torch.compile (see rbsnn eval)")
    _common(c)

    rp = sub.add_parser("report", help="regenerate README.md's result tables, the plots and site/ from the leaderboard CSVs")
    rp.add_argument("--check", action="store_true", help="write nothing; exit 1 naming every file that differs from what the CSVs give")
    rp.add_argument("--root", type=_path("--root"), default=None, help="the checkout to report on (default: this one)")

    st = sub.add_parser("site", help="write the static leaderboard site (no network needed to view it)")
    st.add_argument("--out", type=_path("--out"), default=None, help="output folder (default <home>/site; with --publish the checkout's site/)")
    st.add_argument("--publish", action="store_true", help="write the repository's site/ (a maintainer's action)")
    st.add_argument("--root", type=_path("--root"), default=None, help="the checkout whose leaderboards/ to publish (default: this one)")

    lb = sub.add_parser("leaderboard", help="print a leaderboard sorted by robust accuracy")
    lb.add_argument("--dataset", default="digits")
    lb.add_argument("--norm", default="linf")
    lb.add_argument("--file", type=_path("--file"), default=None, help="a leaderboard CSV (default: the committed board and yours, side by side)")
    return parser


def _per_example_folder(value: str | None) -> Path | None:
    """``--per-example DIR`` of ``eval`` and ``sweep``, checked writable before any work."""

    if value is None:
        return None
    check_folder_writable(Path(value), "--per-example")
    return Path(value)


def _check_zoo_dir(args) -> None:
    """Refuse a ``--zoo-dir`` that is a file; with ``--publish`` and no ``--zoo-dir``, read
    only the repository's zoo, so a committed row never comes from a user's checkpoint."""

    zoo_dir = args.zoo_dir
    if zoo_dir is not None and Path(zoo_dir).exists() and not Path(zoo_dir).is_dir():
        raise UserInputError(f"--zoo-dir {zoo_dir!r} is a file, not a folder")
    if getattr(args, "publish", False) and zoo_dir is None and not os.environ.get("RBSNN_ZOO"):
        args.zoo_dir = str(DEFAULT_ZOO)


def _check_name(kind: str, name: str, valid) -> None:
    if name not in valid:
        raise UnknownNameError(kind, name, valid)


def _say(quiet: bool, msg: str) -> None:
    if not quiet:
        print(msg, file=sys.stderr)


def cmd_list(args) -> int:
    if args.dataset is not None:
        _check_name("dataset", args.dataset, DATASETS)
    print("models (architectures, and recipes = architecture + defense; zoo checkpoints below each):")
    datasets = [args.dataset] if args.dataset else list(DATASETS)
    zoo = {ds: zoo_models(ds) for ds in datasets}

    def zoo_line(name: str, ds: str) -> str:
        try:
            card = read_card(name, ds)
            return f"{ds:<7} {card['clean_acc']:6.2f}% clean  defense={card['defense']}  encoder={card['encoder']}  T={card['T']}"
        except (UserInputError, KeyError, TypeError, ValueError) as e:  # one bad card must not hide the others
            return f"{ds:<7} (unreadable card: {e})"

    width = max(map(len, list_models()))
    for name in list_models():
        entry = get_model_entry(name)
        recipe = f" (= {entry.architecture} + {entry.defense})" if entry.architecture != name else ""
        print(f"  {name:<{width}} defense={entry.defense:<8} {entry.description}{recipe}")
        if entry.configs:
            print(f"  {'':<{width}} configs (--build config=NAME): {', '.join(entry.configs)}")
        for ds in datasets:
            if name in zoo[ds]:
                print(f"  {'':<{width}} zoo {zoo_line(name, ds)}")
    variants = [(ds, n) for ds in datasets for n in zoo[ds] if n not in list_models()]
    if variants:
        print("zoo variants (trained with --name):")
        for ds, n in variants:
            print(f"  {n:<{width}} {zoo_line(n, ds)}")
    print("defenses:")
    for name in DEFENSES:
        print(f"  {name:<{width}} {DEFENSES.description(name)}")

    print("attacks:")
    for name, desc in [*((n, ATTACKS.description(n)) for n in ATTACKS), *((n, COMPOSITES.description(n)) for n in COMPOSITES)]:
        print(f"  {name:<{width}} {desc}")
    print("datasets: " + ", ".join(DATASETS))
    return 0


def cmd_train(args) -> int:
    entry = get_model_entry(args.model)
    defense = args.defense or entry.defense
    defense_params = dict(args.defense_param)
    get_defense(defense, defense_params)  # unknown defense or parameter: fail before loading data
    name = args.name if args.name is not None else (args.model if defense == entry.defense else f"{args.model}+{defense}")
    if not ZOO_NAME.match(name):
        raise UserInputError(f"bad --name {name!r}; a zoo name is letters, digits, '.', '_', '+' or '-' (at most 64, no '/')")
    _check_zoo_dir(args)
    train = load_dataset(args.dataset, "train", args.data_dir).head(args.n_train)
    test = load_dataset(args.dataset, "test", args.data_dir)
    _check_build(args, train)
    if args.augment is not None:
        _check_name("augmentation", args.augment, AUGMENTATIONS)
    cfg = TrainConfig(
        epochs=args.epochs or default_epochs(args.dataset),
        lr=args.lr or entry.train_defaults.get("lr", TrainConfig.lr),
        batch_size=args.batch_size,
        seed=args.seed,
        augment=args.augment or default_augment(args.dataset),
    )
    build = {k: _literal(v) for k, v in args.build}
    if args.T is not None:
        build["T"] = args.T
    if args.surrogate is not None:
        build["surrogate"] = str(Surrogate.parse(args.surrogate))
    device = resolve_device(args.device)
    command = command_line(
        "train", ("--model", args.model), ("--dataset", args.dataset), ("--epochs", cfg.epochs), ("--lr", f"{cfg.lr:g}"),
        ("--batch-size", cfg.batch_size), ("--seed", cfg.seed), ("--T", args.T), ("--surrogate", build.get("surrogate")),
        ("--n-train", args.n_train), ("--data-dir", args.data_dir), ("--defense", args.defense),
        *[("--defense-param", f"{k}={v}") for k, v in args.defense_param], *[("--build", f"{k}={v}") for k, v in args.build],
        ("--name", args.name), ("--init-from", args.init_from), ("--augment", args.augment),
        ("--compile", "on" if args.compile == "on" else None),
    )
    init_from = _init_weights(args, name) if args.init_from else None
    weights_path = write_paths(name, args.dataset, args.zoo_dir, publish=args.publish)[0]
    check_folder_writable(weights_path.parent, "--zoo-dir")  # every input checked: now the folder, before the epochs
    state_path = weights_path.with_name(f"{name}.train-state.pt")
    model, card = train_model(
        args.model, train, test, cfg, build, command=command, quiet=args.quiet, device=device, defense=defense,
        defense_params=defense_params, name=name, state_path=state_path, resume=args.resume, init_from=init_from,
        compile=args.compile == "on",
    )
    weights, card_path = save_checkpoint(model, card, args.zoo_dir, publish=args.publish)
    state_path.unlink(missing_ok=True)  # the run finished; nothing left to resume
    print(f"{name} on {args.dataset}: clean accuracy {card['clean_acc']:.2f}% ({card['train_seconds']:.0f} s); wrote {weights} and {card_path.name}")
    return 0


def _check_build(args, data) -> None:
    """Build the network once with the command's --build / --T / --surrogate before training,
    so a bad build argument is one line instead of a traceback from deep inside a factory."""

    build = {k: _literal(v) for k, v in args.build}
    if args.T is not None:
        build["T"] = args.T
    if args.surrogate is not None:
        build["surrogate"] = args.surrogate
    for key, value in build.items():
        if any(isinstance(v, (int, float)) and not (0 <= v < float("inf")) for v in (value if isinstance(value, tuple) else (value,))):
            raise UserInputError(f"bad --build {key}={value!r}; it must be a finite number >= 0 (or a comma-separated list of them)")
    try:
        create_model(args.model, data.in_shape, data.num_classes, **build)
    except UserInputError:
        raise
    except (TypeError, ValueError) as e:
        given = ", ".join(f"{k}={v}" for k, v in args.build) or "(none)"
        raise UserInputError(f"bad --build for model {args.model!r} ({given}): {str(e).splitlines()[0]}") from None


def _init_weights(args, name: str) -> tuple[str, dict]:
    """``(label, state_dict)`` of zoo checkpoint ``--init-from``; label = name and weights hash."""

    if args.init_from == name:
        raise UserInputError(f"--init-from {args.init_from!r} is the checkpoint this run writes; give the result another --name")
    model, card = load_checkpoint(args.init_from, args.dataset, args.zoo_dir)
    arch = card.get("architecture", card["model"])
    if arch != args.model:
        raise UserInputError(f"--init-from {args.init_from!r} is a {arch!r} network, not {args.model!r}; valid: checkpoints of {args.model!r}")
    digest = hashlib.sha256(checkpoint_paths(args.init_from, args.dataset, args.zoo_dir)[0].read_bytes()).hexdigest()[:12]
    return f"{args.init_from}@{digest}", model.state_dict()


def _require_zoo_model(model: str, dataset: str, available: list[str], allow_all: bool = False) -> None:
    """Fail before any work, naming the fix, unless ``model`` has a zoo checkpoint for ``dataset``."""

    if model in available:
        return
    if model in list_models():
        raise missing_checkpoint(model, dataset)
    raise UnknownNameError("model", model, (["all"] if allow_all else []) + sorted(set(available) | set(list_models())))


def _zoo_models(model: str, dataset: str, zoo_dir: str | None) -> list[str]:
    """``[model]`` checked against the zoo, or every checkpoint of ``dataset`` for ``all``."""

    _check_name("dataset", dataset, DATASETS)
    available = zoo_models(dataset, zoo_dir)
    if model == "all":
        if not available:
            raise UserInputError(f"no zoo checkpoints for {dataset!r}; train one with `rbsnn train --model M --dataset {dataset}`")
        return available
    _require_zoo_model(model, dataset, available, allow_all=True)
    return [model]


def _check_eval_options(attack: str, norm: str, eps_text: str, args, dataset: str) -> float:
    """Every ``rbsnn eval`` / ``sweep`` option checked before any work; returns eps."""

    _check_name("attack", attack, attack_names())
    _check_name("gradient mode", args.grad, GRAD_MODES)
    _check_name("norm", norm, NORMS)
    _check_name("compile mode", args.compile, COMPILE_MODES)
    require_event_data(norm, dataset, dataset in EVENT_DATASETS)
    check_attack_fits(attack, norm, "--norm")
    eps = parse_eps(eps_text, norm, "--eps")
    if args.alpha is not None and parse_eps(args.alpha, norm, "--alpha") == 0:
        raise UserInputError(f"bad --alpha {args.alpha!r}; the step size must be > 0")
    if args.surrogate and args.surrogate != "all":
        Surrogate.parse(args.surrogate)
    return eps


def _spec(args, model: str, dataset: str, attack: str, eps: str | None):
    """The :class:`~robustbench_snn.runners.sweep.EvalSpec` of one row from parsed options."""

    return EvalSpec(
        model=model, dataset=dataset, attack=attack, norm=args.norm, eps=eps, steps=args.steps, alpha=args.alpha,
        surrogate=args.surrogate, grad=args.grad, eot=args.eot, draws=args.draws, seed=args.seed, T=args.T,
        n_examples=args.n_examples, data_dir=args.data_dir, zoo_dir=args.zoo_dir, batch_size=args.batch_size, compile=args.compile,
    )


def cmd_eval(args) -> int:
    """Load zoo checkpoint(s), :func:`~robustbench_snn.api.benchmark` each, upsert the rows."""

    _check_zoo_dir(args)
    models = _zoo_models(args.model, args.dataset, args.zoo_dir)
    eps_text = args.eps if args.eps is not None else DEFAULT_EPS_TEXT.get(args.norm, "")
    eps = _check_eval_options(args.attack, args.norm, eps_text, args, args.dataset)
    device = resolve_device(args.device)
    _exclusive_publish(args, "--out")
    out = Path(args.out) if args.out else default_path(args.dataset, args.norm, publish=args.publish)
    if not args.no_save:
        check_writable(out, "--out")
    per_example_dir = _per_example_folder(args.per_example)
    commit = git_commit()  # taken before the (long) evaluation, like the code it describes
    data = load_dataset(args.dataset, "test", args.data_dir).head(args.n_examples)
    check_budget(eps, args.norm, data.x[0].numel())  # before anything is printed
    for name in models:
        spec = _spec(args, name, args.dataset, args.attack, args.eps)
        model, card = spec.checkpoint()
        if not (args.no_save or args.force):
            refuse_smaller(out, {"model": name, "dataset": args.dataset, "norm": args.norm, "eps": eps, "attack": args.attack, "grad": args.grad},
                           possible_surrogate_attack_labels(args.surrogate, args.attack, card["surrogate"]), len(data))
        _say(args.quiet, f"{name} on {args.dataset} ({len(data)} examples): {args.attack} {args.norm} eps={eps_text} steps={args.steps} surrogate={args.surrogate or 'own'} grad={args.grad}")
        result = spec.run(model, card, data, device=device, progress=not args.quiet)
        _print_result(result, eps_text)
        s = result.settings
        row = result.row(command=spec.command(s["eot"], s["draws"], len(data)), commit=commit)
        if not args.no_save:
            upsert(out, row, force=args.force)
            print(f"leaderboard row written to {out}")
        if per_example_dir is not None:
            print(f"per-example scores written to {result.save_per_example(per_example_dir, row, data.example_ids, data.y)}")
    return 0


def _split(flag: str, text: str) -> list[str]:
    items = [t.strip() for t in text.split(",")]
    if not text.strip() or any(not t for t in items):
        raise UserInputError(f"bad {flag} {text!r}; give a comma-separated list without empty items")
    return items


def cmd_sweep(args) -> int:
    """Every (dataset, model, attack, eps) as one row, sharded over workers (:func:`~robustbench_snn.runners.sweep.sweep`)."""

    _check_zoo_dir(args)
    _check_name("backend", args.backend, BACKENDS)
    datasets, attacks = _split("--datasets", args.datasets), _split("--attacks", args.attacks)
    eps_list = _split("--eps", args.eps) if args.eps is not None else [None]
    specs = []
    for dataset in datasets:
        for model in [m for name in _split("--models", args.models) for m in _zoo_models(name, dataset, args.zoo_dir)]:
            for attack in attacks:
                for eps in eps_list:
                    _check_eval_options(attack, args.norm, eps if eps is not None else DEFAULT_EPS_TEXT.get(args.norm, ""), args, dataset)
                    specs.append(_spec(args, model, dataset, attack, eps))
    _exclusive_publish(args, "--out")
    outs = {spec.dataset: Path(args.out) if args.out else default_path(spec.dataset, args.norm, publish=args.publish) for spec in specs}
    for out in set(outs.values()):
        check_writable(out, "--out")
    per_example_dir = _per_example_folder(args.per_example)
    device = resolve_device(args.device)
    report = sweep(specs, shards=args.shards, backend=args.backend, workers=args.workers, address=args.address, device=device,
                   store=args.store, out=lambda spec: outs[spec.dataset], force=args.force, progress=not args.quiet,
                   per_example=per_example_dir)
    for row in report.rows:
        print(f"{row['model']} {row['dataset']} {row['attack']} {row['norm']} eps={eps_label(row['eps'])}: clean {row['clean_acc']:.2f}%  "
              f"robust {row['robust_acc']:.2f}%" + (f"  flags: {row['flags']}" if row["flags"] else ""))
    for path in report.per_example:
        print(f"per-example scores written to {path}")
    print(f"{len(report.rows)} row(s) written to {', '.join(sorted({str(p) for p in report.outputs}))}; "
          f"{report.computed} shard(s) computed, {report.reused} reused from {args.store}")
    return 0


def _print_result(result, eps_text: str) -> None:
    s = result.settings
    if s["attack"] in COMPOSITES:
        for k, v in result.per_attack.items():
            print(f"  {k:<16} {v:6.2f}%  ({result.member_seconds.get(k, 0):.0f} s)")
    if "masking-checks" in result.member_seconds:
        print(f"  flags: {', '.join(result.flags) or 'none'}  (masking checks {result.member_seconds['masking-checks']:.0f} s)")
    elif result.flags:
        print(f"  flags: {', '.join(result.flags)}")
    compiled = result.params.get("compile", {})
    compile_note = f", {compiled['graphs']} graphs compiled in {result.member_seconds.get('compile', 0):.0f} s" if compiled.get("graphs") else ""
    print(
        f"{result.model_info['name']} {s['dataset']} {s['attack']} {s['threat_model']} eps={eps_text}: clean {result.clean_acc:.2f}%  "
        f"robust {result.robust_acc:.2f}%  (n={s['n_examples']}, {result.seconds:.1f} s{compile_note}; "
        f"passes per example: {result.passes.get('forward', 0):g} forward, {result.passes.get('backward', 0):g} backward)"
    )


def cmd_submit(args) -> int:
    """:func:`~robustbench_snn.submission.submit.run_submission`, then print what it measured."""

    _check_name("compile mode", args.compile, COMPILE_MODES)
    _exclusive_publish(args, "--out", "--archive")
    run = run_submission(
        args.folder, out=args.out, archive_root=args.archive, publish=args.publish, n_examples=args.n_examples, seed=args.seed,
        device=resolve_device(args.device), batch_size=args.batch_size, data_dir=args.data_dir, progress=not args.quiet,
        force=args.force, compile=args.compile, time_limit=args.time_limit, memory_limit_mb=args.memory_limit,
    )
    _print_result(run.result, str(run.card["eps"]))
    print(f"submission kept in {run.target}; leaderboard row written to {run.out}")
    if CLAIM_FLAG in run.result.flags:
        print(f"  the claimed robust accuracy {run.card['claimed_robust']:.2f}% is more than {CLAIM_MARGIN:g} points above the measured {run.result.robust_acc:.2f}%")
    return 0


def cmd_certify(args) -> int:
    _check_name("dataset", args.dataset, DATASETS)
    _check_zoo_dir(args)
    _require_zoo_model(args.model, args.dataset, zoo_models(args.dataset, args.zoo_dir))
    mechanism_name = args.mechanism or "gaussian"
    _check_name("mechanism", mechanism_name, MECHANISMS)
    _check_name("compile mode", args.compile, COMPILE_MODES)
    _exclusive_publish(args, "--out", "--board")
    out_dir = Path(args.out) if args.out else boards_dir(args.publish) / "certified"
    board_path = Path(args.board) if args.board else certified_path(args.dataset, publish=args.publish)
    check_folder_writable(out_dir, "--out")  # both before the (long) certification, so no result is lost
    check_writable(board_path, "--board", CERTIFIED)
    model, card = load_checkpoint(args.model, args.dataset, args.zoo_dir)
    sigma = args.sigma
    if sigma is None and mechanism_name == "gaussian" and card.get("defense") == "gaussian":
        sigma = card["defense_params"]["sigma"]
    mechanism = make_mechanism(mechanism_name, model, sigma)
    model.to(resolve_device(args.device)).eval()
    cfg = CertifyConfig(args.n0, args.n, args.alpha, args.batch, args.seed)
    commit = git_commit()
    data = load_dataset(args.dataset, "test", args.data_dir).head(args.n_examples)
    check_sigma(sigma, data.x[0].numel())  # before anything is printed
    check_model(model, data.x[:8].to(next(model.parameters()).device), data.num_classes)  # finite logits, or one line
    sigma_text = f"{sigma:g}" if mechanism_name == "gaussian" else "none"
    _say(args.quiet, f"{args.model} on {args.dataset} ({len(data)} examples): {mechanism_name} smoothing sigma={sigma_text}, n0={cfg.n0} n={cfg.n} alpha={cfg.alpha:g}")
    start = time.perf_counter()
    run = certify_model(model, mechanism, data, cfg, compile=args.compile, crosscheck_attack=not args.no_crosscheck,
                        record_time=not args.no_time, progress=not args.quiet)
    rows, attempts, violations, compile_stats = run.rows, run.attempts, run.violations, run.compile
    seconds = time.perf_counter() - start

    per_example = f"{args.dataset}_{args.model}_{mechanism_name}_s{sigma_text}_n{cfg.n}.csv"
    frame = pd.DataFrame(rows, columns=["idx", "label", "predict", "radius", "correct", "time"])
    atomic_write_bytes(out_dir / per_example, frame.to_csv(index=False, float_format="%.6g").encode())
    stats = summary(rows, mechanism.norm)
    for k, v in stats.items():
        print(f"  {k:<22} {v}")
    if attempts is not None:
        print(f"  crosscheck: {attempts} PGD attacks inside certified balls, {violations} flipped the smoothed prediction")
    if compile_stats.compiles:
        print(f"  compiled: {compile_stats.compiles} graphs in {compile_stats.seconds:.0f} s (counted in the time)")
    if compile_stats.fallback:
        print(f"  compiled path failed, ran eagerly: {compile_stats.fallback}")
    command = command_line(
        "certify", ("--model", args.model), ("--dataset", args.dataset), ("--mechanism", mechanism_name),
        ("--sigma", f"{sigma:g}" if mechanism_name == "gaussian" else None), ("--n0", cfg.n0), ("--n", cfg.n),
        ("--alpha", f"{cfg.alpha:g}"), ("--batch", cfg.batch), ("--n-examples", args.n_examples), ("--seed", cfg.seed),
        ("--data-dir", args.data_dir or None), ("--compile", args.compile if args.compile != "auto" else None),
    ) + (" --no-crosscheck" if args.no_crosscheck else "")
    config = model.config()
    row = {
        "model": args.model, "dataset": args.dataset, "defense": card["defense"], "encoder": config["encoder"], "T": config["T"],
        "mechanism": mechanism_name, "norm": mechanism.norm, "sigma": sigma_text, "n0": cfg.n0, "n": cfg.n, "alpha": cfg.alpha,
        "n_examples": len(data), **stats, "crosscheck_attempts": attempts, "crosscheck_violations": violations,
        "per_example": per_example, "seconds": round(seconds, 1),
        "host": json_cell(host()), "seed": cfg.seed, "date": today(), "version": version(),
        "commit": commit, "command": command,
    }
    table = upsert(board_path, row, CERTIFIED)
    plot = plot_certified(table[table["dataset"] == args.dataset], out_dir, out_dir / f"{args.dataset}_certified.png")
    print(f"{args.model} {args.dataset} certified ({mechanism_name}, {mechanism.norm}): {len(data)} examples in {seconds:.1f} s")
    print(f"per-example file {out_dir / per_example}; plot {plot}; leaderboard row written to {board_path}")
    return 0


def _sources(root: str | None):
    if root is None:
        return Sources()
    if not (Path(root) / "leaderboards").is_dir():
        raise UserInputError(f"--root {root!r} has no leaderboards/ folder; give a robustbench-snn checkout")
    return Sources(Path(root).resolve())


def cli_reference() -> str:
    """docs/cli.md: every subcommand's ``--help``, at a fixed width so the file is the same on
    every terminal and machine (``rbsnn report`` writes it; ``--check`` compares it)."""

    def fixed_width(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.formatter_class = functools.partial(argparse.HelpFormatter, width=100, max_help_position=30)
        return parser

    parser = fixed_width(build_parser())
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices  # argparse keeps them there
    parts = ["# The `rbsnn` command line", "",
             "Every subcommand's `--help`, generated from the parser by `rbsnn report` (do not edit: `make test`",
             "checks it). Bad input to any of them prints one line `rbsnn: error: ...` and exits 2, with nothing written.",
             "", "```text", parser.format_help().rstrip(), "```"]
    for name, sub in commands.items():
        parts += ["", f"## rbsnn {name}", "", "```text", fixed_width(sub).format_help().rstrip(), "```"]
    return "\n".join(parts) + "\n"


def cmd_report(args) -> int:
    """:func:`~robustbench_snn.results.report.write` (or :func:`~robustbench_snn.results.report.stale` with --check)."""

    src = _sources(args.root)
    if not src.readme.is_file():
        raise UserInputError(f"no README.md in {src.root}")
    extra = {src.root / "docs" / "cli.md": cli_reference().encode()}
    if args.check:
        differ = stale(src, extra)
        for path in differ:
            print(f"differs from the CSVs: {path.relative_to(src.root)}", file=sys.stderr)
        if differ:
            print("rbsnn: run `rbsnn report` to regenerate them", file=sys.stderr)
        return 1 if differ else 0
    written = write(src, extra)
    print(f"{len(written)} file(s) regenerated" + "".join(f"\n  {p.relative_to(src.root)}" for p in written))
    return 0


def cmd_site(args) -> int:
    """:func:`~robustbench_snn.results.site.write_site`."""

    _exclusive_publish(args, "--out")
    out = Path(args.out) if args.out else site_dir(args.publish)
    check_folder_writable(out, "--out")
    files = write_site(out, _sources(args.root))
    print(f"site written: {len(files)} files in {out}; open {out / 'index.html'}")
    return 0


def cmd_leaderboard(args) -> int:
    """One board (``--file``), or the committed board of ``--dataset``/``--norm`` with the
    user's rows beside it (a ``board`` column says which is which)."""

    if args.file:
        path = Path(args.file)
        if not path.is_file():
            raise UserInputError(f"no leaderboard at {path}; give a leaderboard CSV")
        print(f"{path}:")
        print(format_table(read(path)))
        return 0
    boards = {"committed": committed_path(args.dataset, args.norm), "yours": default_path(args.dataset, args.norm)}
    if not any(p.is_file() for p in boards.values()):
        raise UserInputError(f"no leaderboard for --dataset {args.dataset!r} --norm {args.norm!r} "
                             f"(neither {boards['committed']} nor {boards['yours']}); run `rbsnn eval` first or pass --file")
    for label, path in boards.items():
        print(f"{label}: {path}" + ("" if path.is_file() else " (no rows yet)"))
    print(format_table(read_boards(boards)))
    return 0


#: subcommand -> its function (each parses nothing: build_parser did)
COMMANDS = {
    "list": cmd_list, "train": cmd_train, "eval": cmd_eval, "submit": cmd_submit, "certify": cmd_certify,
    "sweep": cmd_sweep, "report": cmd_report, "site": cmd_site, "leaderboard": cmd_leaderboard,
}


def main(argv: list[str] | None = None) -> int:
    """``rbsnn`` with ``argv``; the process's allocator and signal handlers are left as they are (see :func:`run`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except UserInputError as e:
        print(f"rbsnn: error: {e}", file=sys.stderr)
        return 2
    except (RuntimeError, MemoryError) as e:  # an allocation the memory estimate did not foresee
        if not out_of_memory(e):
            raise
        reason = next((line.strip() for line in str(e).splitlines() if "allocate" in line or "memory" in line), type(e).__name__)
        print(f"rbsnn: error: out of memory ({reason}); lower --batch-size (or --eot, --T)", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM: every file write is atomic, so nothing is half-written
        close_progress_bars()
        print(stopped_message(stop), file=sys.stderr)
        return stopped_status(stop)
    except BrokenPipeError:  # `rbsnn leaderboard | head`: the reader left; exit quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def run() -> None:
    """The ``rbsnn`` command: :func:`main` in a process of its own, which may keep freed
    memory (bit-identical; rsc-snn's MNIST APGD-CE 517 s -> 378 s, allocator.py), and
    stops on SIGTERM as on a Ctrl-C (:mod:`.runners.signals`). A program calling
    :func:`main` keeps its own allocator and signal handlers, as tests and notebooks do."""
    keep_freed_memory()
    stop_as_interrupt()
    status = main()
    if status in (INTERRUPTED, TERMINATED):
        end_by_signal(signal.SIGINT if status == INTERRUPTED else signal.SIGTERM)
    sys.exit(status)
