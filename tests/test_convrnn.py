"""ConvRNNs (builders.convrnn, builders.rnn_cells): shapes per cell, unrolling timing (layer k silent
before step k − 1), feedback arriving only when it can, decoders, determinism, training (directly and
through the ``model`` recipe) and extraction with a ``time_bin`` dim through ``goalstore extract``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from builders.convrnn import BASENETS, ConvRNN, decode
from builders.networks import accepts_time_steps, build_network, observed_layers
from builders.rnn_cells import CELLS, build_cell

TINY = {"in_channels": 3, "input_size": 32, "out_features": 4, "width": 0.0625}


def _net(architecture: str = "convrnn6", seed: int = 0, **kw) -> ConvRNN:
    torch.manual_seed(seed)
    return build_network(architecture, **{**TINY, **kw}).eval()


def _steps(net: ConvRNN, x: torch.Tensor, time_steps: int) -> dict[str, torch.Tensor]:
    """Each observed layer's output at every step (layer → T × N × …), through forward hooks."""
    seen: dict[str, list[torch.Tensor]] = {name: [] for name in observed_layers(net)}
    hooks = [m.register_forward_hook(lambda _m, _a, out, name=name: seen[name].append(
        (out[0] if isinstance(out, tuple) else out).detach().clone()))
        for name, m in observed_layers(net).items()]
    try:
        with torch.no_grad():
            net(x, time_steps=time_steps)
    finally:
        for h in hooks:
            h.remove()
    return {name: torch.stack(v) for name, v in seen.items()}


# ------------------------------------------------------------------- cells
@pytest.mark.parametrize("name", sorted(CELLS))
def test_each_cell_keeps_the_shape_and_carries_state(name):
    torch.manual_seed(0)
    cell = build_cell(name, 5)
    x = torch.randn(2, 5, 6, 7)
    y, state = cell(x)
    assert y.shape == x.shape
    y2, _ = cell(x, state)
    assert y2.shape == x.shape and torch.isfinite(y2).all()
    if name != "none":  # the state matters: a second step with the same drive differs from the first
        assert not torch.allclose(y, y2)


def test_cell_equations_on_known_values():
    x = torch.full((1, 2, 3, 3), 2.0)
    td = build_cell("timedecay", 2)  # decay σ(0) = ½: c = x, then ½·x + x
    y1, s = td(x)
    y2, _ = td(x, s)
    assert torch.allclose(y1, x) and torch.allclose(y2, 1.5 * x)
    rgc = build_cell("rgc", 2)  # zero state: every gate ½ of a zero conv input … h = x/2 + 0, c = x/2
    for conv in (rgc.c_to_h, rgc.h_to_h, rgc.h_to_c, rgc.c_to_c):
        torch.nn.init.zeros_(conv.weight)
        torch.nn.init.zeros_(conv.bias)
    y, (h, c) = rgc(x)
    assert torch.allclose(h, x / 2) and torch.allclose(c, x / 2) and torch.allclose(y, F.elu(x / 2))
    y, (h, c) = rgc(x, (h, c))  # gates stay ½: h = x/2 + h/2
    assert torch.allclose(h, 1.5 * x / 2)
    torch.nn.init.constant_(rgc.c_to_h.bias, 1.0)  # zero state, biased gates: h = (1 − σ(b_ch)) x …
    torch.nn.init.constant_(rgc.h_to_c.bias, -1.0)  # … and c = (1 − σ(b_hc)) x
    y, (h, c) = rgc(x)
    assert torch.allclose(h, (1 - torch.sigmoid(torch.tensor(1.0))) * x)
    assert torch.allclose(c, (1 - torch.sigmoid(torch.tensor(-1.0))) * x)
    with pytest.raises(ValueError, match="cell 'cnn'"):
        build_cell("cnn", 2)


# ---------------------------------------------------------------- networks
@pytest.mark.parametrize("architecture", sorted(BASENETS))
def test_shapes_layers_and_time_steps(architecture):
    net = _net(architecture, cell="gru")
    n = len(BASENETS[architecture])
    assert list(observed_layers(net)) == [f"conv{k + 1}" for k in range(n)] + ["readout"]
    assert accepts_time_steps(net) and net.depth == n + 1 and net.time_steps == n + 5
    x = torch.randn(3, 3, 32, 32)
    assert net(x).shape == (3, 4)
    assert net.forward_steps(x, 13).shape == (13, 3, 4)
    assert torch.count_nonzero(net(x, time_steps=n)) == 0  # the readout (layer n + 1) has not responded
    steps = _steps(net, x, 13)
    assert all(v.shape[0] == 13 for v in steps.values())  # every observed layer fires once per step
    assert steps["conv1"].shape[1:] == (3, *net.blocks[0].out_shape)


def test_tiny_convrnn6_at_64_pixels():
    net = _net(input_size=64)
    assert [b.out_shape[1] for b in net.blocks] == [16, 8, 4, 2, 1]
    assert net(torch.randn(2, 3, 64, 64)).shape == (2, 4)


@pytest.mark.parametrize("cell", ["rgc", "lstm", "none"])
def test_layer_k_is_silent_before_step_k_minus_1(cell):
    net = _net(cell=cell)
    steps = _steps(net, torch.randn(2, 3, 32, 32), 9)
    for k, name in enumerate(steps, start=1):  # conv1 … conv5, readout = layer 6
        out = steps[name]
        assert torch.count_nonzero(out[: k - 1]) == 0, f"{name} responds before step {k - 1}"
        assert all(torch.count_nonzero(out[t]) > 0 for t in range(k - 1, 9)), f"{name} silent from {k - 1}"


def test_minimal_unrolling_is_the_feedforward_pass():
    net = _net(cell="rgc", unroll="minimal")
    assert net.time_steps == net.depth
    x = torch.randn(2, 3, 32, 32)
    steps = _steps(net, x, net.depth)
    for k, name in enumerate(steps, start=1):  # each layer computes once, at step k − 1
        active = [t for t in range(net.depth) if torch.count_nonzero(steps[name][t])]
        assert active == [k - 1], name
    with torch.no_grad():  # by hand: every layer from the zero state, once
        u = x
        for block in net.blocks:
            u, _ = block(u, [None] * len(block.feedback_channels), None, 2)
        expected = net.readout(u, 2)
    assert torch.allclose(net(x), expected, atol=1e-6)
    extended = _net(cell="rgc")
    ext_steps = _steps(extended, x, net.depth)  # extended unrolling's first response is the same pass
    for k, name in enumerate(steps, start=1):
        assert torch.allclose(ext_steps[name][k - 1], steps[name][k - 1], atol=1e-6)


def test_feedback_changes_outputs_only_from_the_step_it_can_arrive():
    x = torch.randn(2, 3, 32, 32)
    net = _net(cell="rgc", feedback="5>2")
    assert net.blocks[1].conv.in_channels == net.blocks[0].out_shape[0] + net.blocks[4].out_shape[0]
    cut = _net(cell="rgc", feedback="5>2")
    with torch.no_grad():  # the same network with the feedback weights zeroed
        cut.blocks[1].conv.weight[:, net.blocks[0].out_shape[0]:] = 0
    a, b = _steps(net, x, 10), _steps(cut, x, 10)
    # conv5 first responds at t = 4, so its feedback reaches conv2 at t = 5, conv3 at 6 …
    for k, name in enumerate(a, start=1):
        arrives = 5 + max(k - 2, 0) if k >= 2 else None
        if arrives is None:
            assert torch.equal(a[name], b[name])
            continue
        assert torch.equal(a[name][:arrives], b[name][:arrives]), f"{name} changed before step {arrives}"
        assert not torch.allclose(a[name][arrives], b[name][arrives]), f"{name} unchanged at {arrives}"
    with pytest.raises(ValueError, match="feedback"):
        _net(feedback="2>5")


def test_decoders_pick_the_documented_step():
    logits = torch.tensor([[[0.0, 0.0]], [[3.0, 0.0]], [[1.0, 0.0]], [[0.5, 0.0]]])  # T × N × classes
    assert torch.equal(decode(logits, "last"), logits[3])
    assert torch.equal(decode(logits, "max_conf"), logits[1])
    assert torch.equal(decode(logits, "threshold", threshold=0.7), logits[1])  # p(1.0) = 0.73 at t=2 too
    assert torch.equal(decode(logits, "threshold", first=2, threshold=0.7), logits[2])
    assert torch.equal(decode(logits, "threshold", first=2, threshold=0.99), logits[2])  # none: max conf
    with pytest.raises(ValueError, match="unroll at least"):
        decode(logits, "last", first=4)


def test_deterministic_given_a_seed():
    x = torch.randn(2, 3, 32, 32)
    a, b, c = _net(seed=3, cell="ugrnn"), _net(seed=3, cell="ugrnn"), _net(seed=4, cell="ugrnn")
    assert torch.equal(a(x), b(x)) and not torch.equal(a(x), c(x))


def test_loss_decreases_on_a_few_batches():
    from builders.stimulus_training import ClassifierConfig, train_classifier

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(32, 3, 32, 32, generator=gen)
    y = torch.arange(32) % 4
    x[:, 0] += y.view(-1, 1, 1).float()  # the class sets the mean of channel 0
    config = ClassifierConfig("convrnn6", 3, 32, 4, 0.0625, epochs=0, batch_size=16, optimiser="adam", lr=0.01,
                              options={"cell": "rgc", "time_steps": 7})
    _, before = train_classifier(config, x, y, progress=False)
    trained, after = train_classifier(ClassifierConfig(**{**config.as_dict(), "epochs": 8}), x, y,
                                      progress=False)
    assert after["train_loss"] < 0.8 * before["train_loss"]
    assert isinstance(trained, ConvRNN) and trained.time_steps == 7


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="missing argument"):
        build_network("convrnn6", in_channels=3)
    with pytest.raises(ValueError, match="unexpected argument"):
        build_network("convrnn6", **TINY, contrastive=False)
    with pytest.raises(ValueError, match="cell"):
        _net(cell="rgc,gru")
    with pytest.raises(ValueError, match="decoder"):
        _net(decoder="vote")


# ------------------------------------------------------- store and extract
@pytest.mark.slow  # two datalad runs (build model, extract): about 25-35 s on 2 shared cores
def test_model_recipe_trains_and_extract_gives_time_bins(home, capsys):
    """``goalstore build model`` trains a tiny convrnn6; ``goalstore extract`` gives T time bins whose
    values are the network's per-step layer outputs."""
    import goalstore
    from goalstore import cli
    from goalstore.activations.networks import network_from_weights
    from goalstore.activations.preprocess import normalisation, preprocess
    from tests.test_model_stores import grating_stimuli

    goalstore.write("gratings", grating_stimuli(n_categories=2, per_category=8, size=16), kind="stimuli")
    args = json.dumps({"cell": "none,none,rgc,rgc,rgc", "feedback": "5>3", "time_steps": 7})
    assert cli.main(["build", "model", "--json", "--param", "name=crnn", "--param", "architecture=convrnn6",
                     "--param", "stimuli=gratings", "--param", "input_size=16", "--param", "width=0.0625",
                     "--param", "epochs=1", "--param", "batch_size=8", "--param", f"args={args}"]) == 0
    meta = json.loads(capsys.readouterr().out)["crnn"]
    assert meta["architecture"] == "convrnn6"
    assert meta["architecture_args"]["feedback"] == "5>3" and meta["architecture_args"]["time_steps"] == 7
    assert cli.main(["extract", "crnn", "gratings", "--layers", "conv2,readout", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    ds = goalstore.open(result["store"])
    assert ds["activation"].dims == ("stimulus", "unit", "time_bin") and ds.sizes["time_bin"] == 7
    np.testing.assert_array_equal(ds["time_bin_start"].values, np.arange(7) * 10.0)
    weights = goalstore.open("crnn")
    net = network_from_weights(weights)
    x = preprocess(goalstore.open("gratings")["image"].values, weights.attrs["input_shape"],
                   *normalisation(weights.attrs["training"], 3))
    steps = _steps(net, x, 7)
    readout = ds["activation"].sel(unit=(ds["layer"] == "readout").values).values  # stimulus × unit × time
    np.testing.assert_allclose(readout, steps["readout"].permute(1, 2, 0).numpy(), rtol=1e-4, atol=1e-5)
    assert np.all(readout[..., :5] == 0) and np.any(readout[..., 5] != 0)  # the readout is layer 6


@pytest.mark.parametrize(("args", "message"), [
    ('{"cell": "cnn"}', "cell 'cnn'"), ('{"feedback": "1>3"}', "feedback"), ("[1, 2]", "JSON object"),
    ("{oops", "not a JSON object"), ('{"width": 2}', "width cannot be set here"),
    ('{"decoder": "vote"}', "decoder 'vote'")])
def test_model_recipe_refuses_bad_architecture_args_before_anything_runs(args, message):
    from goalstore.errors import AnalysisInputError
    from goalstore.recipes import get_recipe
    from goalstore.recipes.models import check_model

    params = get_recipe("model").resolve({"architecture": "convrnn6", "args": args})
    with pytest.raises(AnalysisInputError, match=message):
        check_model(params, None)  # refused before the stimuli are looked at


def test_model_store_counts_each_recurrent_layer_once():
    from goalstore.activations.networks import count_units

    net = _net(cell="gru")
    expected = sum(int(np.prod(b.out_shape)) for b in net.blocks) + TINY["out_features"]
    assert count_units(net, [3, 32, 32]) == expected
