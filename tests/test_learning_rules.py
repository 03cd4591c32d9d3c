"""Each learning rule's update equals its definition."""

from __future__ import annotations

import pytest
import torch

from builders.layers import RuleConv2d, RuleLinear
from builders.rules import RULES, RuleTrainer, get_rule, primitive, regulariser


@pytest.fixture(autouse=True)
def _double_precision():
    """Finite differences need float64; restore the default afterwards."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def _linear_pair():
    torch.manual_seed(0)
    layer = RuleLinear(5, 4)
    x = torch.randn(7, 5, requires_grad=True)
    return layer, x


@pytest.mark.parametrize("make", [
    lambda: (RuleLinear(5, 4), torch.randn(7, 5)),
    lambda: (RuleConv2d(3, 4, 3, stride=2, padding=1), torch.randn(2, 3, 7, 7)),
])
def test_untied_layer_with_b_equal_w_matches_autograd(make):
    torch.manual_seed(0)
    layer, x = make()
    x.requires_grad_(True)
    grad_out = torch.randn_like(layer(x))
    layer.untied = False
    (layer(x) * grad_out).sum().backward()
    reference = (x.grad.clone(), layer.weight.grad.clone(), layer.bias.grad.clone())
    x.grad = layer.weight.grad = layer.bias.grad = None
    layer.untied = True
    with torch.no_grad():
        layer.backward_weight.copy_(layer.weight)
    (layer(x) * grad_out).sum().backward()
    for got, want in zip((x.grad, layer.weight.grad, layer.bias.grad), reference, strict=True):
        torch.testing.assert_close(got, want)
    assert layer.backward_weight.grad is None


def test_untied_layer_routes_input_gradient_through_b():
    layer, x = _linear_pair()
    layer.untied = True
    grad_out = torch.randn(7, 4)
    (layer(x) * grad_out).sum().backward()
    torch.testing.assert_close(x.grad, grad_out @ layer.backward_weight.detach())
    torch.testing.assert_close(layer.weight.grad, grad_out.t() @ x.detach())


def _net():
    torch.manual_seed(1)
    return torch.nn.Sequential(RuleLinear(6, 5), torch.nn.ReLU(), RuleLinear(5, 3))


def test_fa_leaves_b_unchanged_and_backprop_rules_tie_b():
    net = _net()
    before = [m.backward_weight.detach().clone() for m in net if isinstance(m, RuleLinear)]
    trainer = RuleTrainer(net, get_rule("fa"), lr=0.01)
    for _ in range(3):
        trainer.step(((net(torch.randn(8, 6)) - 1) ** 2).mean())
    after = [m.backward_weight.detach() for m in net if isinstance(m, RuleLinear)]
    for b0, b1 in zip(before, after, strict=True):
        torch.testing.assert_close(b0, b1, rtol=0, atol=0)
    assert all(m.untied for m in net if isinstance(m, RuleLinear))
    backprop = RuleTrainer(_net(), get_rule("sgdm"), lr=0.01)
    assert not any(layer.untied for layer in backprop.layers)


def _finite_difference(f, b: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    grad = torch.zeros_like(b)
    flat = b.detach().clone().reshape(-1)
    for i in range(flat.numel()):
        plus, minus = flat.clone(), flat.clone()
        plus[i] += eps
        minus[i] -= eps
        grad.view(-1)[i] = (f(plus.view_as(b)) - f(minus.view_as(b))) / (2 * eps)
    return grad


@pytest.mark.parametrize("rule", ["ia", "sa", "aa", "wm"])
@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_regulariser_gradients_match_finite_differences(rule, kind):
    torch.manual_seed(2)
    if kind == "linear":
        layer, x = RuleLinear(4, 3), torch.randn(5, 4)
    else:
        layer, x = RuleConv2d(2, 3, 3, padding=1), torch.randn(2, 2, 4, 4)
    layer.keep_io = True
    layer(x)
    spec = get_rule(rule)
    b = layer.backward_weight.detach().clone().requires_grad_(True)
    (analytic,) = torch.autograd.grad(regulariser(spec, layer, b), b)
    numeric = _finite_difference(lambda value: float(regulariser(spec, layer, value)), b)
    torch.testing.assert_close(analytic, numeric, rtol=1e-5, atol=1e-6)


def test_primitives_match_their_formulas_on_a_linear_layer():
    torch.manual_seed(3)
    layer, x = RuleLinear(4, 3, bias=False), torch.randn(6, 4)
    r = layer(x).detach()
    b = torch.randn(3, 4)  # stored like W: math B = b.T
    math_b = b.t()
    n = x.shape[0]
    expect = {
        "decay": 0.5 * (b**2).sum(),
        "amp": -sum(x[i] @ math_b @ r[i] for i in range(n)) / n,
        "null": 0.5 * sum((math_b @ r[i]).pow(2).sum() for i in range(n)) / n,
        "sparse": 0.5 * sum((math_b.t() @ x[i]).pow(2).sum() for i in range(n)) / n,
        "self": -torch.trace(math_b @ layer.weight.detach()),
    }
    for name, value in expect.items():
        torch.testing.assert_close(primitive(name, layer, b, x, r), value)


def test_symmetric_alignment_drives_b_towards_w():
    torch.manual_seed(4)
    net = _net()
    trainer = RuleTrainer(net, get_rule("sa"), lr=0.05, alignment_lr=0.01)  # B by Adam
    layers = [m for m in net if isinstance(m, RuleLinear)]
    def gap() -> float:
        return sum(float((m.backward_weight - m.weight).detach().norm()) for m in layers)

    start = gap()
    for _ in range(300):
        trainer.step(((net(torch.randn(16, 6)) - 0.5) ** 2).mean())
    assert gap() < 0.05 * start


def test_kolen_pollack_mirrors_the_forward_update():
    torch.manual_seed(5)
    net = _net()
    trainer = RuleTrainer(net, get_rule("kp").with_metaparameters(decay=0.0), lr=0.01)
    layers = [m for m in net if isinstance(m, RuleLinear)]
    w0 = [m.weight.detach().clone() for m in layers]
    b0 = [m.backward_weight.detach().clone() for m in layers]
    trainer.step(((net(torch.randn(8, 6)) - 1) ** 2).mean())
    for m, w, b in zip(layers, w0, b0, strict=True):
        torch.testing.assert_close(m.backward_weight.detach() - b, m.weight.detach() - w)


def test_every_rule_trains_a_step_and_unknown_rule_lists_names():
    for name in RULES:
        net = _net()
        RuleTrainer(net, get_rule(name), lr=0.01).step(net(torch.randn(4, 6)).pow(2).mean())
    with pytest.raises(ValueError, match="expected one of sgdm, adam, fa"):
        get_rule("hebbian")


def test_optimiser_pairs_follow_the_thesis():
    """IA: W by SGD + Nesterov momentum 0.9, B by Adam; FA: W by Adam, B fixed (thesis §6.3.8)."""
    assert get_rule("sgdm").optimizers == ("sgdm", None)
    assert get_rule("adam").optimizers == ("adam", None)
    assert get_rule("fa").optimizers == ("adam", None)
    assert get_rule("ia").optimizers == ("sgdm", "adam")
    assert all(len(rule.optimizers) == 2 for rule in RULES.values())
    ia = RuleTrainer(_net(), get_rule("ia"), lr=0.1)
    forward = ia.forward_optimizer
    assert isinstance(forward, torch.optim.SGD)
    assert forward.defaults["nesterov"] and forward.defaults["momentum"] == 0.9
    assert isinstance(ia.alignment_optimizer, torch.optim.Adam)
    assert ia.alignment_optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 1e-3 / 0.1)
    ia.set_lr(0.05)  # the schedule scales both, keeping the ratio of their base rates
    assert ia.alignment_optimizer.param_groups[0]["lr"] == pytest.approx(0.05 * 1e-3 / 0.1)
    fa = RuleTrainer(_net(), get_rule("fa"), lr=1e-3)
    assert isinstance(fa.forward_optimizer, torch.optim.Adam) and fa.alignment_optimizer is None
    assert all(not layer.backward_weight.requires_grad for layer in fa.layers)


def test_inconsistent_rules_are_refused():
    from builders.rules import LearningRule

    with pytest.raises(ValueError, match="alignment optimiser"):
        LearningRule("bad", {"amp": 1.0}, alignment_optimizer=None)
    with pytest.raises(ValueError, match="must be None"):
        LearningRule("bad", alignment_optimizer="adam")
    with pytest.raises(ValueError, match="unknown forward optimiser"):
        LearningRule("bad", forward_optimizer="rmsprop")


def test_base_learning_rates_by_optimiser_and_architecture():
    from builders.training import RunConfig, learning_rate

    def lr(rule, arch, batch=256, optimizer=None):
        return learning_rate(RunConfig("t", arch, rule, batch, 0, 0), "constant", 0.0, optimizer)

    assert lr("sgdm", "resnet18") == pytest.approx(0.125) and lr("sgdm", "alexnet") == pytest.approx(0.0125)
    assert lr("ia", "resnet18", 512) == pytest.approx(0.25)  # IA's forward rate is SGDM's, × batch/256
    assert lr("ia", "alexnet", 128, "adam") == pytest.approx(5e-4)  # its alignment rate: Adam's
    assert lr("fa", "alexnet") == pytest.approx(1e-3) and lr("adam", "knet4") == pytest.approx(1e-3)


def test_a_changed_rule_definition_changes_the_run_id(monkeypatch):
    from dataclasses import replace

    from builders import rules
    from builders.training import RunConfig

    config = RunConfig("digits", "knet4", "ia", 128, 0, 0)
    before = config.run_id
    monkeypatch.setitem(rules.RULES, "ia", replace(rules.RULES["ia"], forward_optimizer="adam"))
    assert config.run_id != before  # a cached run of the old IA is never reused
