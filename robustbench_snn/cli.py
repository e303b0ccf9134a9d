"""``rbsnn``: train, evaluate and list SNN models; show leaderboards.

Bad input (unknown names, missing data, bad values) prints one line
``rbsnn: error: ...`` to stderr and exits with code 2.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from fractions import Fraction
from pathlib import Path

from .allocator import keep_freed_memory
from .errors import UnknownNameError, UserInputError

DEFAULT_EPS = {"linf": "8/255", "l2": "0.5"}
#: Default EOT samples and scoring draws for models with a stochastic encoder.
STOCHASTIC_EOT = 10
STOCHASTIC_DRAWS = 10


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line (no usage dump) and exit 2."""

    def error(self, message: str):  # type: ignore[override]
        raise UserInputError(f"{message} (see `{self.prog} --help`)")


def parse_eps(text: str) -> float:
    """``'8/255'`` or ``'0.03'`` -> float >= 0."""
    try:
        value = float(Fraction(text))
    except (ValueError, ZeroDivisionError):
        raise UserInputError(f"bad --eps {text!r}; give a number or a fraction such as 8/255") from None
    if value < 0:
        raise UserInputError(f"bad --eps {text!r}; it must be >= 0")
    return value


def _positive_int(name: str):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a positive integer, got {text!r}") from None
        if v < 1:
            raise argparse.ArgumentTypeError(f"{name} must be a positive integer, got {text!r}")
        return v

    return parse


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _literal(text: str) -> int | float | str:
    """``'8'`` -> 8, ``'0.5'`` -> 0.5, anything else stays a string."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UserInputError("--device cuda requested but no CUDA device is available; valid: auto, cpu")
    return device


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="digits", help="digits (embedded, default), mnist, fashion-mnist, cifar10")
    p.add_argument("--data-dir", default=None, help="folder with the dataset's standard files (not needed for digits)")
    p.add_argument("--zoo-dir", default=None, help="model zoo folder (default: the repository's zoo/ or $RBSNN_ZOO)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rbsnn", description="Adversarial-robustness benchmark for spiking neural networks.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("list", help="registered models, attacks, datasets and zoo checkpoints").add_argument(
        "--dataset", default=None, help="show zoo accuracy for this dataset only"
    )

    t = sub.add_parser("train", help="train a registered model and write it to the zoo")
    t.add_argument("--model", required=True)
    t.add_argument("--epochs", type=_positive_int("--epochs"), default=None)
    t.add_argument("--lr", type=float, default=None)
    t.add_argument("--batch-size", type=_positive_int("--batch-size"), default=64)
    t.add_argument("--T", type=_positive_int("--T"), default=None, help="time steps (SNNs only; default: the model's)")
    t.add_argument("--surrogate", default=None, help="training surrogate, name[:width] (default atan:1)")
    t.add_argument("--n-train", type=_positive_int("--n-train"), default=None, help="train on the first N training examples only")
    t.add_argument("--defense", default=None, help="training defense (default: the model's registered one); see `rbsnn list`")
    t.add_argument("--defense-param", type=_key_value, action="append", default=[], metavar="KEY=VALUE", help="defense hyper-parameter, repeatable (e.g. eps=0.1)")
    t.add_argument("--build", type=_key_value, action="append", default=[], metavar="KEY=VALUE", help="model build argument, repeatable (e.g. rate=0.5 for rsc-snn)")
    t.add_argument("--name", default=None, help="zoo name (default: the model, or MODEL+DEFENSE when --defense differs from the model's)")
    t.add_argument("--resume", action="store_true", help="continue an interrupted run from its per-epoch training state")
    t.add_argument("--init-from", default=None, metavar="ZOO_MODEL", help="start from this zoo checkpoint's weights (same architecture), e.g. to adversarially fine-tune it")
    _common(t)

    e = sub.add_parser("eval", help="attack a zoo model and upsert its leaderboard row")
    e.add_argument("--model", required=True, help="a zoo model, or 'all' for every zoo checkpoint of the dataset")
    e.add_argument("--attack", default="pgd")
    e.add_argument("--T", type=_positive_int("--T"), default=None, help="run the model with T time steps (converted / direct-coded SNNs)")
    e.add_argument("--norm", default="linf", help="linf (default) or l2")
    e.add_argument("--eps", default=None, help="perturbation budget; default 8/255 (linf) or 0.5 (l2), inputs in [0, 1]")
    e.add_argument("--steps", type=_positive_int("--steps"), default=10)
    e.add_argument("--alpha", default=None, help="step size (default 2.5*eps/steps; FGSM uses eps)")
    e.add_argument("--surrogate", default=None, help="attack surrogate name[:width], or 'all' for the worst case over a sweep (default: the model's training surrogate)")
    e.add_argument("--grad", default="bptt", help="how gradients cross spiking neurons: bptt (default), bptr, rga")
    e.add_argument("--eot", type=_positive_int("--eot"), default=None, help=f"EOT samples per gradient (default {STOCHASTIC_EOT} for stochastic encoders, else 1)")
    e.add_argument("--draws", type=_positive_int("--draws"), default=None, help=f"encoder draws per accuracy (default {STOCHASTIC_DRAWS} for stochastic encoders, else 1)")
    e.add_argument("--n-examples", type=_positive_int("--n-examples"), default=None, help="first N test examples (default: all)")
    e.add_argument("--batch-size", type=_positive_int("--batch-size"), default=250)
    e.add_argument("--out", default=None, help="leaderboard CSV (default leaderboards/<dataset>_<norm>.csv)")
    e.add_argument("--no-save", action="store_true", help="print the result without writing the leaderboard")
    _common(e)

    c = sub.add_parser("certify", help="randomized-smoothing certificate of a zoo model (Cohen et al. 2019); upserts leaderboards/<dataset>_certified.csv")
    c.add_argument("--model", required=True)
    c.add_argument("--mechanism", default=None, help="gaussian (noise N(0, sigma^2), L2 radius) or encoder (the model's Poisson coding, Linf radius); default gaussian")
    c.add_argument("--sigma", type=float, default=None, help="Gaussian noise level (default: the model's training sigma, if it was trained with noise)")
    c.add_argument("--n0", type=_positive_int("--n0"), default=100, help="selection draws (default 100)")
    c.add_argument("--n", type=_positive_int("--n"), default=10_000, help="estimation draws (default 10,000; 100,000 for tighter radii)")
    c.add_argument("--alpha", type=float, default=0.001, help="failure probability of each certificate (default 0.001)")
    c.add_argument("--batch", type=_positive_int("--batch"), default=1000, help="draws per forward pass (default 1000)")
    c.add_argument("--n-examples", type=_positive_int("--n-examples"), default=100, help="first N test examples (default 100)")
    c.add_argument("--out", default=None, help="folder for the per-example CSV and the plot (default leaderboards/certified)")
    c.add_argument("--board", default=None, help="certified leaderboard CSV (default leaderboards/<dataset>_certified.csv)")
    c.add_argument("--no-crosscheck", action="store_true", help="skip the PGD attack inside each certified ball")
    c.add_argument("--no-time", action="store_true", help="write the time column as 0, so reruns are byte-identical")
    _common(c)

    lb = sub.add_parser("leaderboard", help="print a leaderboard sorted by robust accuracy")
    lb.add_argument("--dataset", default="digits")
    lb.add_argument("--norm", default="linf")
    lb.add_argument("--file", default=None, help="a leaderboard CSV (overrides --dataset/--norm)")
    return parser


def _command(subcommand: str, *flags: tuple[str, object]) -> str:
    """The canonical ``rbsnn`` command line recorded in cards and rows; flags whose value is None are left out."""
    return shlex.join(["rbsnn", subcommand] + [a for flag, value in flags if value is not None for a in (flag, str(value))])


def _check_name(kind: str, name: str, valid) -> None:
    if name not in valid:
        raise UnknownNameError(kind, name, valid)


def _say(quiet: bool, msg: str) -> None:
    if not quiet:
        print(msg, file=sys.stderr)


def cmd_list(args) -> int:
    from robustbench_snn.attacks import ATTACKS

    from .data import DATASETS
    from .registry import get_model_entry, list_models
    from .zoo import read_card, zoo_models

    from robustbench_snn.defenses import DEFENSES

    print("models (registered; zoo checkpoints below each):")
    datasets = [args.dataset] if args.dataset else list(DATASETS)
    zoo = {ds: zoo_models(ds) for ds in datasets}

    def zoo_line(name: str, ds: str) -> str:
        card = read_card(name, ds)
        return f"{ds:<7} {card['clean_acc']:6.2f}% clean  defense={card['defense']}  encoder={card['encoder']}  T={card['T']}"

    for name in list_models():
        entry = get_model_entry(name)
        print(f"  {name:<10} defense={entry.defense:<7} {entry.description}")
        for ds in datasets:
            if name in zoo[ds]:
                print(f"  {'':<10} zoo {zoo_line(name, ds)}")
    variants = [(ds, n) for ds in datasets for n in zoo[ds] if n not in list_models()]
    if variants:
        print("zoo variants (trained with --name):")
        for ds, n in variants:
            print(f"  {n:<14} {zoo_line(n, ds)}  ({read_card(n, ds)['command']})")
    print("defenses:")
    for name, cls in DEFENSES.items():
        print(f"  {name:<10} {cls.paper or cls.__doc__}")
    print("attacks:")
    for name, (_, desc) in ATTACKS.items():
        print(f"  {name:<10} {desc}")
    print("datasets: " + ", ".join(DATASETS))
    return 0


def cmd_train(args) -> int:
    from .data import load_dataset
    from .registry import get_model_entry
    from .surrogate import Surrogate
    from .train import TrainConfig, default_epochs, train_model
    from .zoo import save_checkpoint

    from robustbench_snn.defenses import get_defense

    from .zoo import checkpoint_paths

    entry = get_model_entry(args.model)
    defense = args.defense or entry.defense
    defense_params = dict(args.defense_param)
    get_defense(defense, defense_params)  # unknown defense or parameter: fail before loading data
    name = args.name or (args.model if defense == entry.defense else f"{args.model}+{defense}")
    train = load_dataset(args.dataset, "train", args.data_dir).head(args.n_train)
    test = load_dataset(args.dataset, "test", args.data_dir)
    cfg = TrainConfig(
        epochs=args.epochs or default_epochs(args.dataset),
        lr=args.lr or entry.train_defaults.get("lr", TrainConfig.lr),
        batch_size=args.batch_size,
        seed=args.seed,
    )
    build = {k: _literal(v) for k, v in args.build}
    if args.T is not None:
        build["T"] = args.T
    if args.surrogate is not None:
        build["surrogate"] = str(Surrogate.parse(args.surrogate))
    device = _resolve_device(args.device)
    command = _command(
        "train", ("--model", args.model), ("--dataset", args.dataset), ("--epochs", cfg.epochs), ("--lr", f"{cfg.lr:g}"),
        ("--batch-size", cfg.batch_size), ("--seed", cfg.seed), ("--T", args.T), ("--surrogate", build.get("surrogate")),
        ("--n-train", args.n_train), ("--data-dir", args.data_dir), ("--defense", args.defense),
        *[("--defense-param", f"{k}={v}") for k, v in args.defense_param], *[("--build", f"{k}={v}") for k, v in args.build],
        ("--name", args.name), ("--init-from", args.init_from),
    )
    init_from = _init_weights(args, name) if args.init_from else None
    weights_path = checkpoint_paths(name, args.dataset, args.zoo_dir)[0]
    state_path = weights_path.with_name(f"{name}.train-state.pt")
    model, card = train_model(
        args.model, train, test, cfg, build, command=command, quiet=args.quiet, device=device, defense=defense,
        defense_params=defense_params, name=name, state_path=state_path, resume=args.resume, init_from=init_from,
    )
    weights, card_path = save_checkpoint(model, card, args.zoo_dir)
    state_path.unlink(missing_ok=True)  # the run finished; nothing left to resume
    print(f"{name} on {args.dataset}: clean accuracy {card['clean_acc']:.2f}% ({card['train_seconds']:.0f} s); wrote {weights} and {card_path.name}")
    return 0


def _init_weights(args, name: str) -> tuple[str, dict]:
    """``(label, state_dict)`` of zoo checkpoint ``--init-from``; label = name and weights hash."""
    import hashlib

    from .zoo import checkpoint_paths, load_checkpoint

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
    from .registry import list_models

    if model in available:
        return
    if model in list_models():
        raise UserInputError(
            f"no zoo checkpoint for model {model!r} on {dataset!r}; "
            f"train it with: rbsnn train --model {model} --dataset {dataset}"
        )
    raise UnknownNameError("model", model, (["all"] if allow_all else []) + sorted(set(available) | set(list_models())))


def cmd_eval(args) -> int:
    from robustbench_snn.attacks import ATTACKS, NORMS

    from .data import DATASETS, load_dataset
    from .provenance import git_commit
    from .surrogate import Surrogate
    from .zoo import zoo_models

    _check_name("dataset", args.dataset, DATASETS)
    available = zoo_models(args.dataset, args.zoo_dir)
    if args.model == "all":
        models = available
        if not models:
            raise UserInputError(f"no zoo checkpoints for {args.dataset!r}; train one with `rbsnn train --model M --dataset {args.dataset}`")
    else:
        _require_zoo_model(args.model, args.dataset, available, allow_all=True)
        models = [args.model]
    from .neurons import GRAD_MODES

    _check_name("attack", args.attack, [*ATTACKS, "standard"])
    _check_name("gradient mode", args.grad, GRAD_MODES)
    _check_name("norm", args.norm, NORMS)
    eps_text = args.eps or DEFAULT_EPS[args.norm]
    eps = parse_eps(eps_text)
    alpha = parse_eps(args.alpha) if args.alpha is not None else None
    surrogate = Surrogate.parse(args.surrogate) if args.surrogate and args.surrogate != "all" else None
    device = _resolve_device(args.device)
    commit = git_commit()  # taken before the (long) evaluation, like the code it describes
    data = load_dataset(args.dataset, "test", args.data_dir).head(args.n_examples)
    for name in models:
        _eval_one(args, name, data, eps_text, eps, alpha, surrogate, device, commit)
    return 0


def _eval_one(args, name, data, eps_text, eps, alpha, surrogate, device, commit) -> None:
    """Attack zoo model ``name`` and (unless --no-save) upsert its row."""
    from robustbench_snn.attacks import default_alpha

    from .harness import AttackConfig, evaluate, evaluate_worst_case, sweep_surrogates
    from .leaderboard import default_path, upsert
    from .provenance import today, version
    from .standard import APGD_STEPS, standard_evaluation, transfer_sources
    from .zoo import load_checkpoint, zoo_models

    overrides = {"T": args.T} if args.T is not None else {}
    model, card = load_checkpoint(name, args.dataset, args.zoo_dir, **overrides)
    model.to(device)
    config = model.config()
    eot = args.eot or (STOCHASTIC_EOT if model.stochastic else 1)
    draws = args.draws or (STOCHASTIC_DRAWS if model.stochastic else 1)
    cfg = AttackConfig(args.attack, args.norm, eps, args.steps, alpha, eot, grad=args.grad)
    surrogate_attack = str(surrogate) if surrogate else config["surrogate"]
    sweep = args.surrogate == "all"
    if sweep:
        surrogate_attack = f"all({len(sweep_surrogates())})"
    _say(args.quiet, f"{name} on {args.dataset} ({len(data)} examples, T={config['T']}): {args.attack} {args.norm} eps={eps_text} steps={args.steps} eot={eot} draws={draws} surrogate={surrogate_attack} grad={args.grad}")
    kw = {"draws": draws, "seed": args.seed, "quiet": args.quiet}
    extra: dict = {}
    if args.attack == "standard":
        def load_source(source: str):
            if source == name or source not in zoo_models(args.dataset, args.zoo_dir):
                return None
            return load_checkpoint(source, args.dataset, args.zoo_dir)[0].to(device)

        std = standard_evaluation(model, data, cfg, transfer_sources(name, load_source), **kw)
        res = std.result
        extra = {"attacks": ",".join(std.per_attack), "flags": ";".join(std.flags)}
        extra.update({f"acc_{k}": round(100 * v, 2) for k, v in std.per_attack.items()})
        surrogate_attack = "standard"
        for k, v in std.per_attack.items():
            print(f"  {k:<16} {100 * v:6.2f}%  ({std.seconds[k]:.0f} s)")
        print(f"  masking flags: {', '.join(std.flags) or 'none'}  ({std.seconds['masking-checks']:.0f} s)")
    elif sweep:
        res, each = evaluate_worst_case(model, data, cfg, sweep_surrogates(), batch_size=args.batch_size, **kw)
        extra = {"attacks": ",".join(each)}
    else:
        res = evaluate(model, data, cfg, surrogate=surrogate, batch_size=args.batch_size, **kw)
    print(f"{name} {args.dataset} {args.attack} {args.norm} eps={eps_text}: clean {100 * res.clean_acc:.2f}%  robust {100 * res.robust_acc:.2f}%  (n={len(data)}, {res.seconds:.1f} s)")

    if args.no_save:
        return
    command = _command(
        "eval", ("--model", name), ("--attack", args.attack), ("--dataset", args.dataset), ("--norm", args.norm),
        ("--eps", eps_text), ("--steps", args.steps), ("--eot", eot), ("--draws", draws), ("--seed", args.seed),
        ("--alpha", args.alpha), ("--surrogate", "all" if sweep else surrogate), ("--grad", None if args.grad == "bptt" else args.grad), ("--T", args.T), ("--n-examples", args.n_examples),
        ("--data-dir", args.data_dir or None),
    )
    row = {
        "model": name, "dataset": args.dataset, "defense": card["defense"], "encoder": config["encoder"],
        "T": config["T"], "neuron": config["neuron"], "surrogate_train": card["surrogate"],
        "surrogate_attack": surrogate_attack if config["T"] or args.attack == "standard" else "none", "grad": args.grad,
        "attack": args.attack, "norm": args.norm,
        "eps": eps, "steps": 1 if args.attack == "fgsm" else (APGD_STEPS if args.attack == "standard" else args.steps),
        "alpha": round(eps if args.attack == "fgsm" else (alpha if alpha is not None else default_alpha(eps, args.steps)), 6),
        "eot": eot, "draws": draws, "n_examples": len(data),
        "clean_acc": round(100 * res.clean_acc, 2), "robust_acc": round(100 * res.robust_acc, 2), **extra,
        "seed": args.seed, "date": today(), "version": version(), "commit": commit, "command": command,
    }
    out = Path(args.out) if args.out else default_path(args.dataset, args.norm)
    upsert(out, row)
    print(f"leaderboard row written to {out}")


def cmd_certify(args) -> int:
    import time

    from .plots import plot_certified  # first: a missing plotting stack fails before any work

    import pandas as pd

    from .atomic import atomic_write_bytes
    from .certify import MECHANISMS, CertifyConfig, certify_dataset, crosscheck, make_mechanism, summary
    from .data import DATASETS, load_dataset
    from .leaderboard import CERTIFIED, certified_path, upsert
    from .provenance import ROOT, git_commit, today, version
    from .zoo import load_checkpoint, zoo_models

    _check_name("dataset", args.dataset, DATASETS)
    _require_zoo_model(args.model, args.dataset, zoo_models(args.dataset, args.zoo_dir))
    mechanism_name = args.mechanism or "gaussian"
    _check_name("mechanism", mechanism_name, MECHANISMS)
    if not 0 < args.alpha < 0.5:
        raise UserInputError(f"bad --alpha {args.alpha}; it must be in (0, 0.5)")
    model, card = load_checkpoint(args.model, args.dataset, args.zoo_dir)
    sigma = args.sigma
    if sigma is None and mechanism_name == "gaussian" and card.get("defense") == "gaussian":
        sigma = card["defense_params"]["sigma"]
    mechanism = make_mechanism(mechanism_name, model, sigma)
    model.to(_resolve_device(args.device)).eval()
    cfg = CertifyConfig(args.n0, args.n, args.alpha, args.batch, args.seed)
    commit = git_commit()
    data = load_dataset(args.dataset, "test", args.data_dir).head(args.n_examples)
    sigma_text = f"{sigma:g}" if mechanism_name == "gaussian" else "none"
    _say(args.quiet, f"{args.model} on {args.dataset} ({len(data)} examples): {mechanism_name} smoothing sigma={sigma_text}, n0={cfg.n0} n={cfg.n} alpha={cfg.alpha:g}")
    start = time.perf_counter()
    rows = certify_dataset(model, mechanism, data, cfg, record_time=not args.no_time)
    attempts = violations = None
    if not args.no_crosscheck:
        attempts, violations = crosscheck(model, mechanism, data, rows, cfg)
    seconds = time.perf_counter() - start

    out_dir = Path(args.out) if args.out else ROOT / "leaderboards" / "certified"
    per_example = f"{args.dataset}_{args.model}_{mechanism_name}_s{sigma_text}_n{cfg.n}.csv"
    frame = pd.DataFrame(rows, columns=["idx", "label", "predict", "radius", "correct", "time"])
    atomic_write_bytes(out_dir / per_example, frame.to_csv(index=False, float_format="%.6g").encode())
    stats = summary(rows, mechanism.norm)
    for k, v in stats.items():
        print(f"  {k:<22} {v}")
    if attempts is not None:
        print(f"  crosscheck: {attempts} PGD attacks inside certified balls, {violations} flipped the smoothed prediction")
    command = _command(
        "certify", ("--model", args.model), ("--dataset", args.dataset), ("--mechanism", mechanism_name),
        ("--sigma", f"{sigma:g}" if mechanism_name == "gaussian" else None), ("--n0", cfg.n0), ("--n", cfg.n),
        ("--alpha", f"{cfg.alpha:g}"), ("--batch", cfg.batch), ("--n-examples", args.n_examples), ("--seed", cfg.seed),
        ("--data-dir", args.data_dir or None),
    ) + (" --no-crosscheck" if args.no_crosscheck else "")
    config = model.config()
    row = {
        "model": args.model, "dataset": args.dataset, "defense": card["defense"], "encoder": config["encoder"], "T": config["T"],
        "mechanism": mechanism_name, "norm": mechanism.norm, "sigma": sigma_text, "n0": cfg.n0, "n": cfg.n, "alpha": cfg.alpha,
        "n_examples": len(data), **stats, "crosscheck_attempts": attempts, "crosscheck_violations": violations,
        "per_example": per_example, "seconds": round(seconds, 1), "seed": cfg.seed, "date": today(), "version": version(),
        "commit": commit, "command": command,
    }
    board_path = Path(args.board) if args.board else certified_path(args.dataset)
    table = upsert(board_path, row, CERTIFIED)
    plot = plot_certified(table[table["dataset"] == args.dataset], out_dir, out_dir / f"{args.dataset}_certified.png")
    print(f"{args.model} {args.dataset} certified ({mechanism_name}, {mechanism.norm}): {len(data)} examples in {seconds:.1f} s")
    print(f"per-example file {out_dir / per_example}; plot {plot}; leaderboard row written to {board_path}")
    return 0


def cmd_leaderboard(args) -> int:
    from .leaderboard import default_path, format_table, read

    path = Path(args.file) if args.file else default_path(args.dataset, args.norm)
    if not path.is_file():
        raise UserInputError(f"no leaderboard at {path}; run `rbsnn eval` first or pass --file")
    print(f"{path}:")
    print(format_table(read(path)))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    keep_freed_memory()  # bit-identical; rsc-snn's MNIST APGD-CE 517 s -> 378 s (allocator.py)
    try:
        args = build_parser().parse_args(argv)
        if args.command == "list":
            return cmd_list(args)
        if args.command == "train":
            return cmd_train(args)
        if args.command == "eval":
            return cmd_eval(args)
        if args.command == "certify":
            return cmd_certify(args)
        return cmd_leaderboard(args)
    except UserInputError as e:
        print(f"rbsnn: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `rbsnn leaderboard | head`: the reader left; exit quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
