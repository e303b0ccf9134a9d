"""The ``rbsnn`` argument parser: every subcommand, its options and their types. Parsing
checks what a type can (a count in range, a finite number, a non-empty path); the library
checks the rest, so the same value is refused with the same message from Python.
"""

from __future__ import annotations

import argparse
import functools

from .core.errors import UserInputError
from .core.limits import BATCH_SIZE, FAILURE_PROBABILITY, MAX_DRAWS_CERTIFY, MAX_SAMPLES, MAX_STEPS, MAX_T, SEED, positive_int
from .results.provenance import git_commit, version


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line (no usage dump) and exit 2."""

    def error(self, message: str):  # type: ignore[override]
        raise UserInputError(f"{message} (see `{self.prog} --help`)")


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


#: The longest file name (one path component) and path, in bytes, the file systems rbsnn runs
#: on accept (Linux's NAME_MAX and PATH_MAX); a longer one fails in the first call that touches it.
NAME_MAX, PATH_MAX = 255, 4096


def _path(name: str):
    """argparse type: a file or folder path, not empty (an empty one would silently mean
    the current folder, or the default, and not what the user typed), with no NUL byte and no
    name longer than the file system takes."""

    def parse(text: str) -> str:
        if not text.strip() or "\0" in text:
            raise argparse.ArgumentTypeError(f"{name} must be a file or folder path, got {text!r}")
        longest = max(len(part.encode()) for part in text.split("/"))
        if longest > NAME_MAX or len(text.encode()) > PATH_MAX:
            raise argparse.ArgumentTypeError(f"{name} {text!r} is too long for a path (each name at most {NAME_MAX} bytes, "
                                             f"the whole at most {PATH_MAX})")
        return text

    return parse


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


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
    t.add_argument("--resume", action="store_true", help="continue an interrupted run from its training state (written every epoch and every 10 minutes)")
    t.add_argument("--init-from", default=None, metavar="ZOO_MODEL", help="start from this zoo checkpoint's weights (any architecture whose weights fit the network tensor for tensor), e.g. to adversarially fine-tune it")
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
    e.add_argument("--surrogate", default=None, help="attack surrogate name[:width], or 'all' for the worst case over every registered surrogate (default: the model's training surrogate)")
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
    e.add_argument("--resume-file", type=_path("--resume-file"), default=None, metavar="FILE",
                   help="standard / ensemble19 write their state to FILE after every member; the same command run again "
                        "after an interruption resumes after the last member finished (same numbers); removed when done")
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
    sm.add_argument("folder", type=_path("folder"), help="the submission folder; model.py is code and runs as you: review it first")
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
