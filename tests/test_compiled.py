"""The compiled attack path (robustbench_snn.evaluation.compiled): same numbers as eager, one graph
for every batch size and surrogate, eager fallback with one warning line."""

from __future__ import annotations

import logging

import pytest
import torch

from robustbench_snn.core import streams
from robustbench_snn.evaluation.compiled import CompileStats, compiled_path, pad_batch
from robustbench_snn.data.catalog import load_dataset
from robustbench_snn.evaluation.harness import AttackConfig, evaluate
from robustbench_snn.models.snn import build_snn, spiking_mlp_body
from robustbench_snn.core.neurons import set_surrogate
from robustbench_snn.models.zoo import load_checkpoint


def poisson_mlp(seed: int = 0):
    torch.manual_seed(seed)
    return build_snn(spiking_mlp_body, (1, 8, 8), 10, encoder="poisson", T=4, hidden=32).eval()


def logits_and_gradient(model, x, seed=0):
    """Logits and input gradient of one pass, the encoder's draws from per-example streams."""
    x = x.clone().requires_grad_(True)
    with streams.per_example(seed, torch.arange(len(x)), "test"):
        out = model(x)
    (grad,) = torch.autograd.grad(out.logsumexp(1).sum(), x)
    return out.detach(), grad


def assert_close(eager, compiled):
    (o1, g1), (o2, g2) = eager, compiled
    assert (o1 - o2).abs().max() <= 1e-4
    assert (g1 - g2).norm() <= 1e-2 * g1.norm() and g1.norm() > 0


def test_compiled_gradients_match_eager_for_every_surrogate_with_one_graph_per_family():
    model = poisson_mlp()
    x = torch.rand(24, 1, 8, 8)
    eager = {}
    for sg in ("atan:1", "atan:0.25", "triangle:0.5", "triangle:2"):
        set_surrogate(model, sg)
        eager[sg] = logits_and_gradient(model, x)
    with compiled_path(model, "on") as stats:
        for sg in eager:
            set_surrogate(model, sg)
            assert_close(eager[sg], logits_and_gradient(model, x))
    # the surrogates really differ, and each family's widths were served by one graph
    assert not torch.allclose(eager["atan:1"][1], eager["atan:0.25"][1])
    assert stats.compiles == 2 and stats.compiled_parts == ["SpikingClassifier.body (first layer once)"]


def test_one_inference_graph_serves_every_surrogate_family():
    """A pass without gradients never uses the surrogate, so changing the family between
    scoring passes (the worst-surrogate sweep scores under each) compiles no new graph;
    the gradient passes still get one graph per family."""
    model = poisson_mlp(7)
    x = torch.rand(20, 1, 8, 8)
    with compiled_path(model, "on", inference=True) as stats:
        for sg in ("atan:1", "triangle:0.5", "sigmoid:2"):
            set_surrogate(model, sg)
            with torch.no_grad(), streams.per_example(0, torch.arange(len(x)), "test"):
                model(x)
        assert stats.compiles == 1
        for sg in ("atan:1", "triangle:0.5"):
            set_surrogate(model, sg)
            logits_and_gradient(model, x)
    assert stats.compiles == 3


def test_no_recompile_when_the_batch_shrinks():
    model = poisson_mlp(1)
    x = torch.rand(70, 1, 8, 8)
    with compiled_path(model, "on") as stats:
        for size in (70, 33, 16, 5, 1):
            out, grad = logits_and_gradient(model, x[:size])
            assert out.shape == (size, 10) and grad.shape == (size, 1, 8, 8)
    assert stats.compiles == 1


def test_padding_rows_do_not_change_the_real_rows():
    x = torch.rand(3, 5, 2)
    padded = pad_batch(x, 1)
    assert padded.shape == (3, 16, 2) and torch.equal(padded[:, :5], x) and padded[:, 5:].abs().sum() == 0


def test_the_model_is_restored_after_the_block():
    model = poisson_mlp(2)
    flags = [p.requires_grad for p in model.parameters()]
    with compiled_path(model, "on"):
        assert "forward" in model.__dict__  # it calls the compiled body (its first layer once)
        assert not any(p.requires_grad for p in model.parameters())  # input gradients only
    assert "forward" not in model.__dict__ and "forward" not in model.body.__dict__
    assert [p.requires_grad for p in model.parameters()] == flags and all(flags)


def test_a_frozen_inference_graph_sees_weights_changed_between_blocks():
    """Inference passes are compiled with the weights as constants (inductor's freezing):
    the same logits as eager, and a later block, after the weights changed (training
    between two evaluations), compiles again instead of reusing the old constants."""
    model = poisson_mlp(6)
    x = torch.rand(20, 1, 8, 8)

    def logits():
        with torch.no_grad(), streams.per_example(0, torch.arange(len(x)), "test"):
            return model(x)

    for _ in range(2):
        eager = logits()
        with compiled_path(model, "on", inference=True) as stats:
            compiled = logits()
        assert stats.compiles == 1 and (compiled - eager).abs().max() <= 1e-4
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(-1.5)
    assert (eager - logits()).abs().max() > 1e-2  # the change mattered: the comparison is not vacuous


def test_off_compiles_nothing():
    model = poisson_mlp(3)
    with compiled_path(model, "off") as stats:
        logits_and_gradient(model, torch.rand(4, 1, 8, 8))
    assert stats.compiles == 0 and stats.compiled_parts == [] and "forward" not in model.__dict__


def test_a_compile_failure_falls_back_to_eager_with_one_warning(monkeypatch, caplog):
    import torch._inductor.compile_fx as compile_fx

    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("no C++ compiler (simulated)")

    monkeypatch.setattr(compile_fx, "compile_fx", broken)
    monkeypatch.setattr("robustbench_snn.evaluation.compiled.RETRY_SECONDS", 0.0)
    model = poisson_mlp(4)  # a model never compiled in this process: no cached graph to reuse
    x = torch.rand(9, 1, 8, 8)
    eager = logits_and_gradient(model, x)
    with caplog.at_level(logging.WARNING, logger="robustbench_snn.evaluation.compiled"):
        with compiled_path(model, "on") as stats:
            first = logits_and_gradient(model, x)
            second = logits_and_gradient(model, x)
    ours = [r for r in caplog.records if r.name == "robustbench_snn.evaluation.compiled"]
    assert len(ours) == 1 and "running it eagerly" in ours[0].getMessage() and "\n" not in ours[0].getMessage()
    assert "no C++ compiler" in stats.fallback
    assert len(calls) == 2  # tried once more, then never again
    for got in (first, second):
        assert torch.equal(got[0], eager[0]) and torch.equal(got[1], eager[1])


@pytest.mark.parametrize("stop", ["wrapped", "text"])
def test_a_ctrl_c_while_a_graph_compiles_stops_the_run_instead_of_running_eagerly(monkeypatch, stop):
    """torch wraps what a compiler raises in an ordinary Exception; a Ctrl-C (SIGTERM) landing
    mid-compile must still stop the evaluation, not read as a compile failure and fall back."""
    import torch._inductor.compile_fx as compile_fx

    def interrupted(*args, **kwargs):
        if stop == "wrapped":
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt as inner:
                raise RuntimeError("backend compiler failed") from inner
        raise RuntimeError("compile worker: KeyboardInterrupt")

    monkeypatch.setattr(compile_fx, "compile_fx", interrupted)
    monkeypatch.setattr("robustbench_snn.evaluation.compiled.RETRY_SECONDS", 0.0)
    model = poisson_mlp(11)  # a model no other test compiles
    with pytest.raises(KeyboardInterrupt):
        with compiled_path(model, "on") as stats:
            logits_and_gradient(model, torch.rand(9, 1, 8, 8))
    assert stats.fallback is None


def test_a_compile_that_fails_once_is_retried(monkeypatch):
    """Another process writing the same cached kernel makes one load fail
    (``ImportError: ... file too short``): the retry compiles, no fallback."""
    import torch._inductor.compile_fx as compile_fx

    real, calls = compile_fx.compile_fx, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise ImportError("kernel.so: file too short (simulated)")
        return real(*args, **kwargs)

    monkeypatch.setattr(compile_fx, "compile_fx", flaky)
    monkeypatch.setattr("robustbench_snn.evaluation.compiled.RETRY_SECONDS", 0.0)
    model = poisson_mlp(7)
    x = torch.rand(9, 1, 8, 8)
    eager = logits_and_gradient(model, x)
    with compiled_path(model, "on") as stats:
        assert_close(eager, logits_and_gradient(model, x))
    assert stats.fallback is None and stats.compiles == 1 and len(calls) > 1  # (compile_fx re-enters itself)


def test_a_truncated_cached_kernel_is_deleted_before_the_retry(tmp_path, monkeypatch):
    """A compile killed while writing leaves a 0-byte kernel in inductor's cache that every
    later load fails on; the file the error names is deleted (only inside the cache)."""
    from robustbench_snn.evaluation.compiled import remove_broken_kernel

    cache, outside = tmp_path / "cache", tmp_path / "elsewhere.so"
    (cache / "o7").mkdir(parents=True)
    kernel = cache / "o7" / "co7atl.main.so"
    kernel.write_bytes(b"")
    outside.write_bytes(b"")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(cache))
    assert remove_broken_kernel(ImportError(f"{outside}: file too short")) is None and outside.exists()
    wrapped = RuntimeError("backend failed")
    wrapped.__cause__ = ImportError(f"{kernel}: file too short")
    assert remove_broken_kernel(wrapped) == kernel.resolve() and not kernel.exists()


def test_assg_passes_run_compiled_with_eager_numbers_and_two_graphs():
    """ASSG (robustbench_snn.attacks.assg): the run's first pass (which allocates the moments) runs
    eagerly; every later pass is compiled, through one graph for the passes that update the
    moments and one for those that only read them, for every batch size; the gradients are
    eager's, the moments identical."""
    from robustbench_snn.attacks.assg import adaptive_sharpness
    from robustbench_snn.attacks.gradient import eot_loss_and_gradient
    from robustbench_snn.attacks.losses import cross_entropy
    from robustbench_snn.core.neurons import spiking_neurons

    model = poisson_mlp(3)
    data = load_dataset("digits", "test").head(40)

    def run(n):
        x, y = data.x[:n], data.y[:n]
        grads, moments = [], []
        with adaptive_sharpness(model, n) as state:
            for i in range(3):  # attack iterations at three points; one EOT copy per pass: 1 updating + 2 reading passes
                # (the first run's first pass allocates, eagerly; its other updating passes are compiled)
                state.next_iteration()
                with streams.per_example(0, torch.arange(n), "test"):
                    grads.append(eot_loss_and_gradient(model, x + 0.02 * i, y, cross_entropy, eot=3, max_elements=n * 64)[1])
                moments.append(torch.stack([torch.stack(p) for neuron in spiking_neurons(model) for p in neuron.assg_moments]))
        return grads, moments

    eager = [run(40), run(23)]
    stats = CompileStats("on")
    with compiled_path(model, "on", stats):
        compiled = [run(40), run(23)]
    assert stats.compiles == 2
    for (eager_grads, eager_moments), (grads, moments) in zip(eager, compiled):
        for a, b in zip(eager_grads, grads):
            assert (a - b).norm() <= 1e-4 * a.norm() and a.norm() > 0
        assert all(torch.equal(a, b) for a, b in zip(eager_moments, moments))
        assert not torch.equal(moments[0], moments[-1])  # the moments moved: the comparison is not vacuous
    assert all(n.assg_moments is None and n.sharpness is None for n in spiking_neurons(model))  # cleared after the attack


@pytest.mark.parametrize("learnable_tau", [False, True])
def test_rate_gradient_modes_run_compiled_with_eager_numbers_and_one_graph_each(learnable_tau):
    """``bptr`` and ``rga`` (one backward factor per element) run compiled: eager's gradients,
    one graph per mode for every batch size -- also for a learnable decay (PLIF), whose ``λ``
    the graph reads as data (a ``float()`` of it would break the graph, measured: 12 graphs)."""
    from robustbench_snn.core.neurons import own_gradient_mode as gradient_mode, spiking_neurons

    torch.manual_seed(4)
    model = build_snn(spiking_mlp_body, (1, 8, 8), 10, encoder="poisson", T=4, hidden=32,
                      neuron_kwargs={"learnable_tau": learnable_tau}).eval()
    assert all(isinstance(n.w, torch.nn.Parameter) == learnable_tau for n in spiking_neurons(model))
    x = torch.rand(30, 1, 8, 8)
    eager = {}
    for mode in ("bptr", "rga"):
        with gradient_mode(model, mode):
            eager[mode] = [logits_and_gradient(model, x[:n]) for n in (30, 17)]
    stats = CompileStats("on")
    with compiled_path(model, "on", stats):
        for mode in eager:
            with gradient_mode(model, mode):
                for reference, n in zip(eager[mode], (30, 17)):
                    assert_close(reference, logits_and_gradient(model, x[:n]))
    assert stats.compiles == 2
    assert not torch.allclose(eager["bptr"][0][1], eager["rga"][0][1])  # two different estimators


def test_spiking_graphs_are_compiled_without_channels_last_layout(monkeypatch):
    """Inductor's channels-last activations are off for a module with spiking neurons (its
    element-wise time loop would transpose them every step) and left on for an ANN."""
    import torch._inductor.graph as inductor_graph

    from robustbench_snn.evaluation.compiled import CompiledPart

    seen = []
    decide = inductor_graph.GraphLowering.decide_layout_opt

    def spy(gm, *, is_inference):
        from torch._inductor import config

        seen.append(config.layout_optimization)
        return decide(gm, is_inference=is_inference)

    monkeypatch.setattr(inductor_graph.GraphLowering, "decide_layout_opt", staticmethod(spy))
    snn, ann = load_checkpoint("snn-cnn", "digits")[0].eval(), load_checkpoint("ann-cnn", "digits")[0].eval()
    x = load_dataset("digits", "test").x[:8]
    for model, expected in ((snn, False), (ann, True)):
        seen.clear()
        # lower the graphs here, not from inductor's cache
        with torch.compiler.config.patch(force_disable_caches=True), compiled_path(model, "on"):
            patched = [m.__dict__["forward"] for m in model.modules() if "forward" in m.__dict__]
            part = next(p for f in patched for p in (f, getattr(f, "body", None)) if isinstance(p, CompiledPart))
            assert part.channels_last is expected
            logits_and_gradient(model, x)
        assert seen and set(seen) == {expected}  # forward and backward graphs


def test_auto_stays_eager_for_a_small_evaluation():
    from robustbench_snn import benchmark

    res = benchmark(poisson_mlp(5), n_examples=8, attack="pgd", steps=2, eot=2, draws=2, progress=False)
    assert res.params["compile"]["graphs"] == 0 and "eager is faster" in res.params["compile"]["skipped"]
    assert res.settings["compile"] == "auto"


def test_auto_prices_every_graph_an_attack_compiles():
    """``auto`` weighs the work against the graphs to compile: the standard evaluation compiles
    one per surrogate family (measured: 8 graphs took 291 of 445 s on digits qcfs-snn), so a
    deterministic digits model stays eager under it while a single PGD of the same work would
    compile; EOT 10 (digits rsc-snn) and MNIST compile."""
    from robustbench_snn.evaluation.composite import expected_graphs, gradient_steps
    from robustbench_snn.evaluation.compiled import worth_compiling
    from robustbench_snn.evaluation.harness import AttackConfig
    from robustbench_snn.evaluation.standard import APGD_SURROGATES, STANDARD_SURROGATES
    from robustbench_snn.core.surrogate import Surrogate

    families = {Surrogate.parse(s).name for s in STANDARD_SURROGATES + APGD_SURROGATES}
    cfg = AttackConfig()
    assert expected_graphs("standard", cfg) == len(families) + 5 > expected_graphs("assg", cfg) == 3 > expected_graphs("pgd", cfg) == 2  # + own, rga, ASSG (2), inference

    def decision(n, eot, numel):
        work = n * eot * gradient_steps("standard", AttackConfig(eot=eot)) * numel
        return worth_compiling("auto", work, expected_graphs("standard", cfg)), worth_compiling("auto", work)

    assert decision(500, 1, 64) == ("off", "auto")  # digits, deterministic
    assert decision(500, 10, 64)[0] == decision(1000, 1, 784)[0] == "auto"  # digits rsc-snn, MNIST


def test_a_trained_deterministic_model_keeps_every_robust_flag():
    """PGD on snn-cnn (direct coding): the per-example outcome under the compiled path is
    the eager one on every example of a fixed subset."""
    model = load_checkpoint("snn-cnn", "digits")[0].eval()
    data = load_dataset("digits", "test").head(64)
    cfg = AttackConfig("pgd", eps=8 / 255, steps=5)
    eager = evaluate(model, data, cfg, quiet=True)
    stats = CompileStats("on")
    with compiled_path(model, "on", stats):
        compiled = evaluate(model, data, cfg, quiet=True)
    assert stats.compiles == 1
    assert torch.equal(eager.clean_per_example, compiled.clean_per_example)
    assert torch.equal(eager.robust_per_example, compiled.robust_per_example)
    assert 0 < eager.robust_acc < eager.clean_acc  # the attack did something: the comparison is not vacuous


@pytest.mark.parametrize("mode", ["nope", "ON", ""])
def test_bad_compile_mode_is_refused(mode):
    from robustbench_snn import benchmark
    from robustbench_snn.core.errors import UserInputError

    with pytest.raises(UserInputError, match="compile mode"):
        benchmark(poisson_mlp(6), n_examples=4, compile=mode)


@pytest.mark.parametrize("name", ["atan", "sigmoid", "triangle", "rectangle", "exp", "exp-d", "ste"])
@pytest.mark.parametrize("width", [0.25, 1.0, 3.0])
def test_the_width_as_data_gives_the_surrogate(name, width):
    """What compiled graphs backpropagate (spike_with_width) is each surrogate's own derivative."""
    from robustbench_snn.core.surrogate import NO_WIDTH, Surrogate, spike_with_width

    width = 1.0 if name in NO_WIDTH else width
    sg = Surrogate(name, width)
    x = torch.linspace(-3, 3, 601, requires_grad=True)
    (grad,) = torch.autograd.grad(spike_with_width(x, name, torch.tensor(width)).sum(), x)
    assert torch.allclose(grad, sg.grad(x.detach()), rtol=1e-6, atol=1e-7)


def test_certification_through_the_compiled_path_gives_the_same_certificates(tmp_path, capsys):
    from robustbench_snn.cli import main

    outputs = {}
    for mode in ("off", "on"):
        argv = ["certify", "--model", "smooth-snn-s0.25", "--n-examples", "4", "--n0", "20", "--n", "300", "--no-crosscheck",
                "--no-time", "--quiet", "--compile", mode, "--out", str(tmp_path / mode), "--board", str(tmp_path / f"{mode}.csv")]
        assert main(argv) == 0
        outputs[mode] = next((tmp_path / mode).glob("*.csv")).read_text()
        printed = capsys.readouterr().out
        assert ("compiled: 1 graphs" in printed) == (mode == "on")
    assert outputs["on"] == outputs["off"]
    command = (tmp_path / "off.csv").read_text()
    assert "--compile off" in command


def _calibrated(name: str, shape=(3, 32, 32)):
    """A registered SpikingJelly architecture, random weights, batch norm set to one batch's statistics (so it fires)."""
    from robustbench_snn.interop.foreign_neurons import with_reset
    from robustbench_snn.models.registry import create_model

    torch.manual_seed(0)
    model = create_model(name, shape, 10)
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)):
        bn.momentum = None
    with torch.no_grad():
        model.train()(torch.rand(32, *shape, generator=torch.Generator().manual_seed(1)))
    return with_reset(model.eval())


@pytest.mark.slow
@pytest.mark.parametrize("name", ["spikformer", "sdt", "qkformer", "ms-resnet", "sew-resnet", "spiking-vgg", "psn-cnn"])
def test_spikingjelly_architectures_run_compiled_with_the_eager_gradient(name):
    """The compiled path covers the SpikingJelly zoo architectures: the network after our encoder,
    one graph, input gradients within 1e-4 relative of eager (3x32x32)."""
    pytest.importorskip("spikingjelly")
    model = _calibrated(name)
    x = torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    eager = logits_and_gradient(model, x)
    with compiled_path(model, "auto") as stats:
        compiled = logits_and_gradient(model, x)
    (o1, g1), (o2, g2) = eager, compiled
    assert stats.compiles == 1 and stats.fallback is None and stats.compiled_parts[0].startswith("ResetEachPass.model.net (first layers once: ")
    assert (o1 - o2).abs().max() <= 1e-4 and g1.norm() > 0
    assert (g1 - g2).norm() <= 1e-4 * g1.norm()


def test_auto_leaves_networks_with_inexact_compiled_neurons_eager():
    """I-LIF and PLIF networks: their compiled gradients were measured 1e-2 to 1e-1 off the eager ones."""
    pytest.importorskip("spikingjelly")
    from robustbench_snn.evaluation.compiled import compilable_parts
    from robustbench_snn.models.registry import create_model

    assert compilable_parts(create_model("ilif-cnn", (1, 8, 8), 10), "auto") == []
    assert compilable_parts(create_model("plif-net", (1, 28, 28), 10), "auto") == []
    assert [p[0] for p in compilable_parts(create_model("ilif-cnn", (1, 8, 8), 10), "on")] == ["net"]
    assert [p[0] for p in compilable_parts(create_model("spikformer", (1, 8, 8), 10), "auto")] == ["net"]
