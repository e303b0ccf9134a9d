"""A submission's ``model.py`` runs in a child process, as a benchmark service runs untrusted code.

``rbsnn submit`` validates the folder's card and files in its own process, then starts
``python -m robustbench_snn.submission.worker REQUEST`` to import ``model.py``, build and load
the model and run the standard evaluation, and reads back what the evaluation measured. Why a
process: the submitter's code then cannot stall, exit, ``chdir`` or rewrite ``os.environ`` in
the process that writes the board and the archive.

* **Limits.** A wall-clock limit (:func:`default_time_limit`, scaled to the number of
  examples; ``--time-limit``), after which the child's whole process group is killed; an
  address-space limit (``RLIMIT_AS``, :func:`default_memory_limit`; ``--memory-limit``); a
  scratch working directory of its own, removed afterwards; its own copy of the environment.
* **One line.** Whatever the child does -- raises, exits with any code (``os._exit(0)``
  included), is killed, never answers -- the parent ends with one ``rbsnn: error:`` line and
  writes nothing: a result counts only if the child wrote it completely.
* **Nothing trusted.** The child's answer is read as hostile JSON
  (:func:`~.json_input.json_object`) and checked field by field (:func:`result_from_payload`)
  before a row is made of it; the row's numbers are range-checked again when it is written
  (:func:`~.leaderboard.upsert`). The child does not write the board or the archive.

What a process boundary does not give: code that runs as the user can still read what the
user can read, and an evaluation running the submitter's code can be lied to by that code. The
maintainer's review of ``model.py`` (docs/bring-your-own-snn.md) stays the first line.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..api import benchmark
from ..core.errors import UserInputError
from ..core.json_input import json_object
from ..core.limits import is_number
from ..data.catalog import load_dataset
from ..evaluation.model_checks import check_model
from ..interop.foreign_neurons import find_neurons
from ..results.benchmark_result import BenchmarkResult
from .card import check_card_against_model, load_submission

#: Seconds of wall clock a submission gets: a base for loading and compiling plus a generous
#: allowance per example (the standard evaluation of a small CNN takes 0.3-3 s per example on
#: 2 CPU cores, docs/speed.md; a submission may be ten times slower and still finish).
BASE_SECONDS, SECONDS_PER_EXAMPLE = 600.0, 30.0
#: The longest limit accepted: a week.
MAX_TIME_LIMIT = 7 * 24 * 3600.0
#: Examples assumed when the run uses the whole test split (its size is not known before loading).
FULL_SPLIT = 10_000


def default_time_limit(n_examples: int | None) -> float:
    """:data:`BASE_SECONDS` + :data:`SECONDS_PER_EXAMPLE` per example, at most :data:`MAX_TIME_LIMIT`."""
    return min(MAX_TIME_LIMIT, BASE_SECONDS + SECONDS_PER_EXAMPLE * (n_examples or FULL_SPLIT))


def physical_memory() -> int:
    """Bytes of physical memory (``os.sysconf``), or 16 GiB where it cannot be read."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 16 << 30


def default_memory_limit() -> int:
    """Three quarters of physical memory, in bytes: a submission that allocates without bound
    fails on its own allocation instead of pushing the machine into swap or the OOM killer."""
    return physical_memory() * 3 // 4


def check_limits(time_limit: float | None, memory_limit_mb: int | None) -> None:
    """Refuse, in one line, limits outside what this machine can honour."""
    if time_limit is not None and not (1 <= time_limit <= MAX_TIME_LIMIT):
        raise UserInputError(f"bad --time-limit {time_limit:g}; valid: 1-{MAX_TIME_LIMIT:g} seconds (a week)")
    most = physical_memory() >> 20
    if memory_limit_mb is not None and not (256 <= memory_limit_mb <= most):
        raise UserInputError(f"bad --memory-limit {memory_limit_mb}; valid: 256-{most} MB (this machine's memory)")


def run_in_worker(folder: Path, options: dict[str, Any], *, time_limit: float, memory_limit: int) -> dict[str, Any]:
    """Evaluate the submission in ``folder`` (absolute) in a child process with ``options``
    (:func:`evaluate`'s keyword arguments); the child's payload, read as untrusted JSON, or
    :class:`UserInputError` naming what went wrong (raised, exited, killed, too slow)."""
    scratch = Path(tempfile.mkdtemp(prefix="rbsnn-submission-"))
    try:
        request, result = scratch / "request.json", scratch / "result.json"
        request.write_text(json.dumps({"folder": str(folder), "options": options, "result": str(result), "memory_limit": memory_limit}))
        work = scratch / "work"
        work.mkdir()
        # the child sets its own memory limit before it imports anything of the submission's
        # (a preexec_fn would do it earlier, but is unsafe in a parent with threads)
        proc = subprocess.Popen([sys.executable, "-m", "robustbench_snn.submission.worker", str(request)], cwd=work,
                                env=dict(os.environ), start_new_session=True)
        try:
            code = proc.wait(timeout=time_limit)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise UserInputError(f"the submission's evaluation ran past its time limit of {time_limit:g} s and was stopped "
                                 "(rbsnn submit --time-limit SECONDS to allow more)") from None
        except BaseException:  # Ctrl-C or another stop of the parent: the child goes with it
            _kill_group(proc)
            raise
        _kill_group(proc)  # whatever the model left running in the child's session
        if not result.is_file():
            raise UserInputError(f"the submission's evaluation ended ({_ending(code, memory_limit)}) without a result; "
                                 f"its {folder / 'model.py'} may exit the process or run out of memory")
        payload = json_object(result.read_bytes(), "the submission process's result")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if "error" in payload:
        message = str(payload["error"]).replace("\r", " ").splitlines()[0] if str(payload["error"]).strip() else "unknown error"
        raise UserInputError(message[:2000])
    return payload


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _ending(code: int, memory_limit: int) -> str:
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals.__members__.values() else str(-code)
        hint = f"; the memory limit is {memory_limit >> 20} MB" if -code in (signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT) else ""
        return f"killed by {name}{hint}"
    return f"exit status {code}"


def evaluate(folder: str, *, n_examples: int | None, data_dir: str | None, seed: int, device: str, batch_size: int,
             progress: bool, compile: str) -> dict[str, Any]:
    """In the child: load the submission (its code runs here), run the standard evaluation and
    return what :func:`result_from_payload` reads back."""

    sub = load_submission(Path(folder))
    card = sub.card
    probe = load_dataset(card["dataset"], "test", data_dir).head(8)
    check_model(sub.model, probe.x, probe.num_classes)  # finite logits of the right shape, before the card is held against them
    check_card_against_model(card, sub.model, probe.x)
    result = benchmark(
        sub.model, dataset=card["dataset"], threat_model=card["threat_model"], eps=sub.eps, attack="standard",
        n_examples=n_examples, data_dir=data_dir, seed=seed, device=device, batch_size=batch_size, progress=progress,
        name=card["name"], compile=compile,
        info={"defense": card.get("defense", "submitted"), "source": "submitted", "T": card["T"], "encoder": card["encoder"],
              **({} if find_neurons(sub.model) else {"neuron": f"{card['neuron_library']} (not recognised)"})},
    )
    return {k: getattr(result, k) for k in RESULT_FIELDS}


#: The fields of :class:`~robustbench_snn.results.benchmark_result.BenchmarkResult` the child sends back (no per-example tensors).
RESULT_FIELDS = ("clean_acc", "robust_acc", "flags", "per_attack", "params", "seconds", "model_info", "settings",
                 "member_seconds", "passes")


def result_from_payload(payload: dict[str, Any], card: dict[str, Any], eps: float, n_examples: int | None):
    """The child's payload as a :class:`~robustbench_snn.results.benchmark_result.BenchmarkResult`, checked field by field against
    the card and the options it ran with; :class:`UserInputError` on anything else."""

    def refuse(why: str) -> UserInputError:
        return UserInputError(f"the submission process returned an unusable result ({why}); nothing was written")

    missing = [k for k in RESULT_FIELDS if k not in payload]
    if missing:
        raise refuse(f"missing {', '.join(missing)}")

    def number(v: Any, low: float = 0.0, high: float = 100.0) -> bool:
        return is_number(v, low, high)

    p = payload
    if not (number(p["clean_acc"]) and number(p["robust_acc"]) and number(p["seconds"], 0, MAX_TIME_LIMIT)):
        raise refuse("accuracies must be numbers in [0, 100] and seconds a finite number")
    dicts = ("per_attack", "params", "model_info", "settings", "member_seconds", "passes")
    if not isinstance(p["flags"], list) or not all(isinstance(f, str) for f in p["flags"]) or not all(isinstance(p[k], dict) for k in dicts):
        raise refuse("flags must be a list of strings and the rest objects")
    if not all(isinstance(k, str) and number(v) for k, v in p["per_attack"].items()):
        raise refuse("per-attack accuracies must be numbers in [0, 100]")
    if not all(number(v, 0, 1e12) for d in ("member_seconds", "passes") for v in p[d].values()):
        raise refuse("times and pass counts must be finite numbers >= 0")
    s, info = p["settings"], p["model_info"]
    expected = {"dataset": card["dataset"], "threat_model": card["threat_model"], "attack": "standard"}
    wrong = [k for k, v in expected.items() if s.get(k) != v]
    if wrong or info.get("name") != card["name"] or not number(s.get("eps"), 0, 1e9) or abs(s["eps"] - eps) > 1e-9 * max(1.0, eps):
        raise refuse(f"it is not the card's evaluation: {', '.join(wrong) or 'name or eps'} differ")
    if not (isinstance(s.get("n_examples"), int) and s["n_examples"] >= 1 and (n_examples is None or s["n_examples"] == n_examples)):
        raise refuse("n_examples differs from the run's")
    return BenchmarkResult(**{k: p[k] for k in RESULT_FIELDS})


def main(argv: list[str]) -> int:
    """The child's entry: read the request, evaluate, write the result JSON (or ``{"error"}``)."""

    request = json.loads(Path(argv[0]).read_text())
    resource.setrlimit(resource.RLIMIT_AS, (request["memory_limit"], request["memory_limit"]))
    out = Path(request["result"])
    try:
        payload: dict[str, Any] = evaluate(request["folder"], **request["options"])
        code = 0
    except UserInputError as e:
        payload, code = {"error": str(e)}, 2
    except SystemExit as e:
        payload, code = {"error": f"the submission's model.py ended the evaluation (SystemExit {e.code!r})"}, 2
    except MemoryError:
        payload, code = {"error": "the submission's evaluation ran out of memory (rbsnn submit --memory-limit MB to allow more)"}, 2
    except Exception as e:  # noqa: BLE001 - the submitter's code may fail in any way, at any point of the evaluation
        first = str(e).splitlines()[0] if str(e) else ""
        payload, code = {"error": f"the submission's model failed during the evaluation: {type(e).__name__}: {first}"}, 2
    try:
        text = json.dumps(payload, default=str, allow_nan=False)
    except ValueError:  # NaN or inf in what the evaluation measured
        payload, code = {"error": "the submission's evaluation gave numbers that are not finite (NaN or inf)"}, 2
        text = json.dumps(payload)
    partial = out.with_suffix(".partial")
    partial.write_text(text)
    partial.replace(out)  # complete or absent: the parent never reads half a result
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
