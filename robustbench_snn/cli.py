"""``rbsnn``: train, evaluate and list SNN models; show leaderboards.

Each command parses (:mod:`.cli_parser`), calls the library and prints. Bad input (unknown
names, missing data, bad values) prints one line ``rbsnn: error: ...`` to stderr and exits
with code 2.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from .cli_parser import build_parser, cli_reference
from .core.budget import eps_label
from .core.errors import UserInputError, abbreviate
from .core.home import site_dir
from .data.catalog import load_dataset
from .evaluation.allocator import keep_freed_memory
from .evaluation.certify import CertifyConfig
from .evaluation.memory import out_of_memory
from .evaluation.settings import check_budget, check_choice, check_resume_file, resolve_device
from .results.leaderboard import (
    check_board_name, check_folder_writable, check_writable, committed_path, default_path, format_table, read, read_boards,
)
from .results.listing import catalogue
from .results.provenance import git_commit
from .results.report import stale, write
from .results.site import write_site
from .results.sources import Sources
from .runners.certify_zoo import certify_zoo_model
from .runners.signals import (
    INTERRUPTED, TERMINATED, close_progress_bars, end_by_signal, stop_as_interrupt, stopped_message, stopped_status,
)
from .runners.sweep import BACKENDS, EvalSpec, sweep
from .runners.train_zoo import train_zoo_model
from .runners.zoo_eval import check_eval_options, evaluate_zoo_model, per_example_folder, resolve_zoo_dir, zoo_model_names
from .submission.submit import CLAIM_FLAG, CLAIM_MARGIN, run_submission


def _exclusive_publish(args, *flags: str) -> None:
    """``--publish`` names the repository's files; refuse it beside a flag naming another file."""
    given = [f for f in flags if getattr(args, f.lstrip("-").replace("-", "_")) is not None]
    if args.publish and given:
        raise UserInputError(f"--publish writes the repository's files; it cannot be combined with {', '.join(given)}")


def _say(quiet: bool, msg: str) -> None:
    if not quiet:
        print(msg, file=sys.stderr)


def _split(flag: str, text: str) -> list[str]:
    items = [t.strip() for t in text.split(",")]
    if not text.strip() or any(not t for t in items):
        raise UserInputError(f"bad {flag} {text!r}; give a comma-separated list without empty items")
    return items


def _spec(args, model: str, dataset: str, attack: str, eps: str | None) -> EvalSpec:
    """The :class:`~robustbench_snn.runners.sweep.EvalSpec` of one row from parsed options."""

    return EvalSpec(
        model=model, dataset=dataset, attack=attack, norm=args.norm, eps=eps, steps=args.steps, alpha=args.alpha,
        surrogate=args.surrogate, grad=args.grad, eot=args.eot, draws=args.draws, seed=args.seed, T=args.T,
        n_examples=args.n_examples, data_dir=args.data_dir, zoo_dir=args.zoo_dir, batch_size=args.batch_size, compile=args.compile,
    )


def cmd_list(args) -> int:
    """:func:`~robustbench_snn.results.listing.catalogue`."""
    print(catalogue(args.dataset))
    return 0


def cmd_train(args) -> int:
    """:func:`~robustbench_snn.runners.train_zoo.train_zoo_model`."""

    trained = train_zoo_model(
        args.model, dataset=args.dataset, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, T=args.T,
        surrogate=args.surrogate, n_train=args.n_train, defense=args.defense, defense_params=args.defense_param,
        build=args.build, name=args.name, resume=args.resume, init_from=args.init_from, augment=args.augment,
        compile=args.compile == "on", publish=args.publish, data_dir=args.data_dir, zoo_dir=args.zoo_dir, seed=args.seed,
        device=args.device, quiet=args.quiet,
    )
    print(f"{trained.name} on {args.dataset}: clean accuracy {trained.card['clean_acc']:.2f}% ({trained.card['train_seconds']:.0f} s); "
          f"wrote {trained.weights} and {trained.card_path.name}")
    return 0


def cmd_eval(args) -> int:
    """Each zoo checkpoint named (or ``all``) through :func:`~robustbench_snn.runners.zoo_eval.evaluate_zoo_model`."""

    args.zoo_dir = resolve_zoo_dir(args.zoo_dir, args.publish)
    models = zoo_model_names(args.model, args.dataset, args.zoo_dir)
    specs = [_spec(args, name, args.dataset, args.attack, args.eps) for name in models]
    eps = check_eval_options(specs[0])
    device = resolve_device(args.device)
    _exclusive_publish(args, "--out")
    out = Path(args.out) if args.out else default_path(args.dataset, args.norm, publish=args.publish)
    if not args.no_save:
        check_writable(out, "--out")
    per_example_dir = per_example_folder(args.per_example)
    resume_file = check_resume_file(args.resume_file, "--resume-file")
    commit = git_commit()  # taken before the (long) evaluation, like the code it describes
    data = load_dataset(args.dataset, "test", args.data_dir).head(args.n_examples)
    check_budget(eps, data.x[0].numel())  # before anything is printed
    for spec in specs:
        done = evaluate_zoo_model(spec, data, out=None if args.no_save else out, commit=commit, device=device,
                                  progress=not args.quiet, force=args.force, announce=lambda msg: _say(args.quiet, msg),
                                  resume_file=resume_file)
        print(done.result.summary(spec.budget.label))
        per_example = done.save(None if args.no_save else out, args.force, per_example_dir)
        if not args.no_save:
            print(f"leaderboard row written to {out}")
        if per_example is not None:
            print(f"per-example scores written to {per_example}")
    return 0


def cmd_sweep(args) -> int:
    """Every (dataset, model, attack, eps) as one row, sharded over workers (:func:`~robustbench_snn.runners.sweep.sweep`)."""

    args.zoo_dir = resolve_zoo_dir(args.zoo_dir, args.publish)
    check_choice("backend", args.backend, BACKENDS)
    datasets, attacks = _split("--datasets", args.datasets), _split("--attacks", args.attacks)
    eps_list = _split("--eps", args.eps) if args.eps is not None else [None]
    specs = [_spec(args, model, dataset, attack, eps) for dataset in datasets
             for model in [m for name in _split("--models", args.models) for m in zoo_model_names(name, dataset, args.zoo_dir)]
             for attack in attacks for eps in eps_list]
    for spec in specs:
        check_eval_options(spec)
    _exclusive_publish(args, "--out")
    outs = {spec.dataset: Path(args.out) if args.out else default_path(spec.dataset, args.norm, publish=args.publish) for spec in specs}
    for out in set(outs.values()):
        check_writable(out, "--out")
    report = sweep(specs, shards=args.shards, backend=args.backend, workers=args.workers, address=args.address,
                   device=resolve_device(args.device), store=args.store, out=lambda spec: outs[spec.dataset], force=args.force,
                   progress=not args.quiet, per_example=per_example_folder(args.per_example))
    for row in report.rows:
        print(f"{row['model']} {row['dataset']} {row['attack']} {row['norm']} eps={eps_label(row['eps'])}: clean {row['clean_acc']:.2f}%  "
              f"robust {row['robust_acc']:.2f}%" + (f"  flags: {row['flags']}" if row["flags"] else ""))
    for path in report.per_example:
        print(f"per-example scores written to {path}")
    print(f"{len(report.rows)} row(s) written to {', '.join(sorted({str(p) for p in report.outputs}))}; "
          f"{report.computed} shard(s) computed, {report.reused} reused from {args.store}")
    return 0


def cmd_submit(args) -> int:
    """:func:`~robustbench_snn.submission.submit.run_submission`, then print what it measured."""

    _exclusive_publish(args, "--out", "--archive")
    run = run_submission(
        args.folder, out=args.out, archive_root=args.archive, publish=args.publish, n_examples=args.n_examples, seed=args.seed,
        device=resolve_device(args.device), batch_size=args.batch_size, data_dir=args.data_dir, progress=not args.quiet,
        force=args.force, compile=args.compile, time_limit=args.time_limit, memory_limit_mb=args.memory_limit,
    )
    print(run.result.summary(str(run.card["eps"])))
    print(f"submission kept in {run.target}; leaderboard row written to {run.out}")
    if CLAIM_FLAG in run.result.flags:
        print(f"  the claimed robust accuracy {run.card['claimed_robust']:.2f}% is more than {CLAIM_MARGIN:g} points above the measured {run.result.robust_acc:.2f}%")
    return 0


def cmd_certify(args) -> int:
    """:func:`~robustbench_snn.runners.certify_zoo.certify_zoo_model`, then print its summary."""

    _exclusive_publish(args, "--out", "--board")
    done = certify_zoo_model(
        args.model, dataset=args.dataset, mechanism=args.mechanism, sigma=args.sigma,
        cfg=CertifyConfig(args.n0, args.n, args.alpha, args.batch, args.seed), n_examples=args.n_examples, out=args.out,
        board=args.board, publish=args.publish, crosscheck=not args.no_crosscheck, record_time=not args.no_time,
        compile=args.compile, data_dir=args.data_dir, zoo_dir=args.zoo_dir, device=args.device, progress=not args.quiet,
        announce=lambda msg: _say(args.quiet, msg),
    )
    for k, v in done.stats.items():
        print(f"  {k:<22} {v}")
    if done.run.attempts is not None:
        print(f"  crosscheck: {done.run.attempts} PGD attacks inside certified balls, {done.run.violations} flipped the smoothed prediction")
    if done.run.compile.compiles:
        print(f"  compiled: {done.run.compile.compiles} graphs in {done.run.compile.seconds:.0f} s (counted in the time)")
    if done.run.compile.fallback:
        print(f"  compiled path failed, ran eagerly: {done.run.compile.fallback}")
    row = done.row
    print(f"{row['model']} {row['dataset']} certified ({row['mechanism']}, {row['norm']}): {row['n_examples']} examples in {row['seconds']:.1f} s")
    print(f"per-example file {done.per_example}; plot {done.plot}; leaderboard row written to {done.board}")
    return 0


def _sources(root: str | None):
    if root is None:
        return Sources()
    if not (Path(root) / "leaderboards").is_dir():
        raise UserInputError(f"--root {root!r} has no leaderboards/ folder; give a robustbench-snn checkout")
    return Sources(Path(root).resolve())


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
    check_board_name(args.dataset, args.norm)
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
    except OSError as e:  # a file system refusal no check foresaw (a path's option types and checks catch the known ones)
        where = f" ({e.filename!r})" if getattr(e, "filename", None) else ""
        print(abbreviate(f"rbsnn: error: {e.strerror or e}{where}"), file=sys.stderr)
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
