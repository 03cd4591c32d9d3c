"""Mouse visual models (thesis §3.4, §3.6.4–3.6.5): StreamNets, the self-supervised objectives, the depth
renderer of the embedded objects, and the model recipe's ``objective``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from builders.augment import CORPUS_VIEWS, flip_shift, random_views
from builders.networks import build_network, count_parameters, observed_layers
from builders.objectives import OBJECTIVES, Batch, InstanceRecognition, MoCoV2, RotNet, build_objective, nt_xent
from builders.stimulus_training import ClassifierConfig, train_model, training_config
from goalstore.errors import AnalysisInputError, SchemaError
from goalstore.sources.objects import DEPTH_BULGE, DEPTH_NEAR, depth_maps, object_images


def _conv(cin: int, cout: int, k: int) -> int:
    return cin * cout * k * k + cout + 2 * cout  # weights, bias, BatchNorm's scale and shift


@pytest.mark.parametrize(("name", "streams", "outputs", "millions"),
                         [("streamnet1", 1, 1, 2.0), ("streamnet2", 2, 2, 5.8), ("streamnet6", 6, 2, 16.8)])
def test_streamnet_parameter_counts_match_the_thesis(name, streams, outputs, millions):
    net = build_network(name, in_channels=3, input_size=64, out_features=1000)
    visp, stream = _conv(3, 64, 11), _conv(64, 192, 5) + _conv(192, 384, 3)
    area = _conv(64, 256, 3) + streams * _conv(384, 256, 3)
    backbone = visp + streams * stream + outputs * area
    assert count_parameters(net) == backbone + outputs * 256 * 1000 + 1000
    assert round(backbone / 1e6, 1) == millions  # the thesis' counts are of the network before the readout
    names = list(observed_layers(net))
    assert names[0] == "visp" and names[-1] == "fc" and len(names) == 1 + streams + outputs + 1
    with torch.no_grad():
        assert tuple(net.eval()(torch.zeros(2, 3, 64, 64)).shape) == (2, 1000)


@pytest.mark.parametrize("size", [8, 16, 32, 64])
def test_streamnet_takes_small_inputs_and_width_scales_channels(size):
    net = build_network("streamnet2", in_channels=1, input_size=size, out_features=5, width=0.125).eval()
    with torch.no_grad():
        assert tuple(net(torch.zeros(3, 1, size, size)).shape) == (3, 5)
    assert net.visp[0].out_channels == 8 and net.fc.in_features == 2 * 32
    with pytest.raises(ValueError, match="unexpected argument"):
        build_network("streamnet2", in_channels=1, input_size=size, out_features=5, streams=3)


@pytest.mark.parametrize("architecture", ["alexnet", "resnet18"])
def test_alexnet_and_resnet18_take_64_pixel_inputs(architecture):
    net = build_network(architecture, in_channels=3, input_size=64, out_features=7, width=0.125,
                        contrastive=False).eval()
    with torch.no_grad():
        assert tuple(net(torch.zeros(2, 3, 64, 64)).shape) == (2, 7)


@pytest.mark.parametrize("architecture", ["streamnet2", "resnet18"])
def test_batchnorm_networks_round_trip_through_a_model_store(tmp_path, architecture):
    """BatchNorm's 0-d ``num_batches_tracked`` keeps its shape in the store (it came back 1-d before)."""
    from goalstore.activations.networks import network_from_weights, weights_from_network
    from goalstore.store import StoreRoot

    args = {"in_channels": 3, "input_size": 16, "out_features": 4, "width": 0.125}
    args.update({"contrastive": False} if architecture == "resnet18" else {})
    net = build_network(architecture, **args)
    net.train()(torch.randn(4, 3, 16, 16))  # running statistics and counters move off their initial values
    root = StoreRoot(tmp_path / "store")
    root.write("net", weights_from_network(net.eval(), architecture, args, [3, 16, 16], source="test",
                                           license="CC0-1.0", citation="test"))
    back = network_from_weights(root.open("net"))
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(back(x), net(x))


# ----------------------------------------------------------------- objectives
def test_nt_xent_known_answer():
    """Views identical, instances orthogonal: each row has one positive at cosine 1, 2B − 2 negatives at 0."""
    z = torch.eye(4)
    tau = 0.5
    expected = -math.log(math.exp(1 / tau) / (math.exp(1 / tau) + 6))
    assert float(nt_xent(z, z.clone(), tau)) == pytest.approx(expected, rel=1e-6)


def test_views_known_answers():
    """Corpus views with full-size crops, no jitter and no noise are the image or its mirror; simclr views
    without jitter interpolate the image (values inside its range), and grey 1 makes the channels equal."""
    x = torch.randn(16, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    views = random_views(x, torch.Generator().manual_seed(1), crop_scale=1.0, jitter=0.0, grey=0.0,
                         scheme="corpus")
    same = (views - x).abs().flatten(1).amax(1) < 1e-5
    mirrored = (views - x.flip(-1)).abs().flatten(1).amax(1) < 1e-5
    assert bool((same | mirrored).all()) and 0 < int(same.sum()) < len(x)  # both happen (p = ½ each)
    views = random_views(x, torch.Generator().manual_seed(1), jitter=0.0, grey=0.0)
    low, high = x.flatten(1).amin(1), x.flatten(1).amax(1)
    assert bool((views.flatten(1).amin(1) >= low - 1e-5).all())
    assert bool((views.flatten(1).amax(1) <= high + 1e-5).all())
    grey = random_views(x, torch.Generator().manual_seed(1), grey=1.0)
    assert torch.allclose(grey, grey[:, :1].expand_as(grey))
    g = torch.Generator().manual_seed(1)
    assert torch.equal(random_views(x, g, **CORPUS_VIEWS),
                       random_views(x, torch.Generator().manual_seed(1), **CORPUS_VIEWS))
    assert not torch.equal(random_views(x, g, **CORPUS_VIEWS), random_views(x, g, **CORPUS_VIEWS))
    with pytest.raises(ValueError, match="scheme"):
        random_views(x, g, scheme="byol")
    with pytest.raises(ValueError, match="grey"):
        random_views(x, g, scheme="corpus", grey=0.5)
    shifted = flip_shift(x, 0, torch.Generator().manual_seed(1))  # shift 0: flips only
    flipped = (shifted != x).flatten(1).any(1)
    assert torch.equal(shifted[flipped], x[flipped].flip(-1)) and 0 < int(flipped.sum()) < len(x)


def test_rotnet_labels_and_instance_bank_update():
    x = torch.arange(8.0).view(2, 1, 2, 2)
    rotated, k = RotNet.rotations(x)
    assert k.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert torch.equal(rotated[2], torch.rot90(x[0], 1, (1, 2)))
    torch.manual_seed(0)
    objective = InstanceRecognition(2, n_samples=3, temperature=0.1, bank_momentum=0.5, crop_scale=1.0)
    objective.bank.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]))

    class Fixed(torch.nn.Module):  # embeds every image as (0, 1)
        def forward(self, x):
            return torch.tensor([[0.0, 1.0]]).expand(len(x), 2) * (1 + 0 * x.sum())

    objective.loss(Fixed(), Batch(torch.zeros(1, 1, 4, 4), torch.tensor([0])), torch.Generator())
    # V_0 ← n(½ (1, 0) + ½ (0, 1)); the others untouched
    np.testing.assert_allclose(objective.bank.numpy(), [[2 ** -0.5, 2 ** -0.5], [0, 1], [1, 0]], atol=1e-6)


def _data(n: int = 48, size: int = 16):
    """Images whose class (4) sets the mean of channel 0 and whose orientation is visible (a bright row)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, size, size, generator=gen) * 0.5
    y = torch.arange(n) % 4
    x[:, 0] += y.view(-1, 1, 1).float()
    x[:, :, 1] += 2.0  # an upright marker: rotations are learnable
    depth = torch.rand(n, 1, size, size, generator=gen) * 0.1 + y.view(-1, 1, 1, 1) / 4
    return x, y, depth


def _config(objective: str, **kw) -> ClassifierConfig:
    return ClassifierConfig(**{"architecture": "streamnet1", "input_size": 16, "width": 0.125,
                               "out_features": 4 if objective == "supervised" else 16, "epochs": 6,
                               "batch_size": 12, "optimiser": "adam", "lr": 3e-3, "objective": objective,
                               "queue_size": 12, **kw})


@pytest.mark.parametrize("objective", [o for o in OBJECTIVES if o != "mocov2"])
def test_each_objective_loss_decreases_on_a_fixed_batch(objective):
    """20 Adam steps on one batch of 24 images (fresh views each step, fixed seed): the mean loss of the last
    three steps is clearly below that of the first three."""
    torch.set_num_threads(1)
    x, y, depth = _data(24)
    config = _config(objective)
    torch.manual_seed(0)
    net = build_network(config.architecture, **config.architecture_args)
    objective_ = build_objective(objective, net, embedding_dim=config.out_features, in_channels=3, n_samples=24,
                                 **config.objective_params)
    optimiser = torch.optim.Adam([p for p in (*net.parameters(), *objective_.parameters()) if p.requires_grad],
                                 lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(20):
        loss = objective_.loss(net, Batch(x, torch.arange(24), y, depth), generator)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    first, last = np.mean(losses[:3]), np.mean(losses[-3:])
    assert first - last > 0.1 * abs(first), losses


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_train_model_records_the_curve_and_the_task_metric(objective):
    """``train_model`` returns the backbone only (no heads), the per-epoch curve and the objective's task
    metric; MoCo's loss falls once its queue holds real keys (its first epoch is scored against random ones)."""
    torch.set_num_threads(1)
    x, y, depth = _data()
    epochs = 6 if objective == "mocov2" else 2
    module, metrics, curve = train_model(_config(objective, epochs=epochs), x[:36], y[:36], x[36:], y[36:],
                                         depth[:36], depth[36:], progress=False)
    assert len(curve) == epochs and all(math.isfinite(v) for v in curve)
    if objective == "mocov2":
        assert curve[-1] < curve[1]
    expected = {"supervised": "val_accuracy", "autoencoder": "val_loss", "depth": "val_loss",
                "rotnet": "val_rotation_accuracy"}.get(objective, "val_instance_top1")
    assert expected in metrics and metrics["epochs"] == epochs
    if objective != "supervised":
        assert 0 <= metrics["val_knn_accuracy"] <= 1 and metrics["chance"] == 0.25
    assert not any(n.startswith(("projection", "decoder", "head", "key_")) for n in module.state_dict())
    assert module.fc.out_features == (4 if objective == "supervised" else 16)


@pytest.mark.parametrize("objective", ["simclr", "mocov2"])
def test_training_is_deterministic_given_the_seed(objective):
    torch.set_num_threads(1)
    x, y, _ = _data(24)
    config = _config(objective, epochs=2)
    first, _, curve1 = train_model(config, x, y, progress=False)
    second, _, curve2 = train_model(config, x, y, progress=False)
    other, _, _ = train_model(_config(objective, epochs=2, seed=1), x, y, progress=False)
    assert curve1 == curve2
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values(),
                                                 strict=True))
    assert not torch.equal(first.fc.weight, other.fc.weight)


def test_moco_key_encoder_follows_by_momentum():
    torch.manual_seed(0)
    backbone = build_network("streamnet1", in_channels=3, input_size=16, out_features=8, width=0.125)
    moco = MoCoV2(backbone, 8, 4, temperature=0.2, queue_size=5, key_momentum=0.9, crop_scale=0.5)
    with torch.no_grad():
        backbone.fc.weight.add_(1.0)
    before = moco.key_backbone.fc.weight.clone()
    x = torch.randn(3, 3, 16, 16)
    moco.loss(backbone, Batch(x, torch.arange(3)), torch.Generator().manual_seed(0))
    torch.testing.assert_close(moco.key_backbone.fc.weight, 0.9 * before + 0.1 * backbone.fc.weight)
    assert int(moco.pointer) == 3 and not any(p.requires_grad for p in moco.key_backbone.parameters())


def test_config_refuses_bad_objectives():
    with pytest.raises(ValueError, match="objective 'jigsaw'"):
        ClassifierConfig(objective="jigsaw")
    with pytest.raises(ValueError, match="temperature > 0"):
        ClassifierConfig(objective="simclr", temperature=0)
    with pytest.raises(ValueError, match="augment"):
        ClassifierConfig(objective="depth", augment=True)
    with pytest.raises(ValueError, match="options set contrastive, width"):  # RESERVED_ARGS: the config's own
        ClassifierConfig(options={"width": 2, "contrastive": True, "time_steps": 3})
    with pytest.raises(TypeError, match="objective parameters tau: unknown"):
        training_config(architecture="knet4", channels=3, input_size=16, width=0.25, epochs=1, batch_size=4,
                        optimiser="adam", lr=0.1, augment=False, seed=0, objective="simclr", embedding_dim=8,
                        n_categories=3, objective_args={"tau": 1})
    x, y, _ = _data(8)
    with pytest.raises(ValueError, match="depth map"):
        train_model(_config("depth"), x, y, progress=False)


# ---------------------------------------------------------------- depth maps
def test_depth_maps_known_values():
    ds = object_images(n_categories=2, objects_per_category=1, views_per_object=3, size=32)
    depth = depth_maps(ds)
    assert depth.shape == (6, 32, 32) and depth.dtype == np.float32
    assert np.all(depth <= 1) and np.all(depth > 0)
    assert np.all(depth[:, 0, 0] == 1.0)  # a corner is background: the far plane
    # view 0 is at variation 0 (no offset): the star covers the image centre, pixel (15, 15) at ρ² = ½ / r²
    assert ds["category"].values[0] == "star" and ds["position_x"].values[0] == 0
    s = float(ds["size"].values[0])
    radius = 32 * s / 2
    expected = DEPTH_NEAR / s - DEPTH_BULGE * (1 - 0.5 / radius ** 2)
    assert depth[0, 15, 15] == pytest.approx(expected, abs=1e-6)
    np.testing.assert_array_equal(depth_maps(ds.isel(stimulus=[4, 1])), depth[[4, 1]])  # subsets work
    with pytest.raises(SchemaError, match="no depth renderer"):
        depth_maps(ds.assign_attrs(generator="{}"))


# -------------------------------------------------------------------- recipe
def _objects(home):
    from goalstore import write

    write("tiny-objects", object_images(n_categories=2, objects_per_category=2, views_per_object=6, size=32),
          kind="stimuli")


def test_model_recipe_refuses_bad_objectives(home):
    from goalstore.recipes import get_recipe
    from goalstore.recipes.models import check_model
    from goalstore.store import StoreRoot
    from tests.test_model_stores import grating_stimuli

    _objects(home)
    root = StoreRoot(home)
    root.write("gratings", grating_stimuli(n_categories=2, per_category=4, size=16), kind="stimuli")

    def check(**params):
        return check_model(get_recipe("model").resolve({"stimuli": "tiny-objects", "input_size": 32, **params}),
                           root)

    with pytest.raises(AnalysisInputError, match="objective 'jigsaw'"):
        check(objective="jigsaw")
    with pytest.raises(AnalysisInputError, match="unknown tau"):
        check(objective="simclr", objective_args='{"tau": 1}')
    with pytest.raises(AnalysisInputError, match="temperature"):
        check(objective="simclr", objective_args='{"temperature": -1}')
    with pytest.raises(AnalysisInputError, match="stimuli 'gratings': objective depth: has no depth renderer"):
        check(objective="depth", stimuli="gratings", input_size=16)
    with pytest.raises(AnalysisInputError, match="queue_size"):
        check(objective="mocov2", batch_size=8)  # 18 training images, queue 256
    assert check(objective="depth").objective == "depth"
    assert check(objective="mocov2", batch_size=4, objective_args='{"queue_size": 8}').objective == "mocov2"


@pytest.mark.slow  # two datalad runs (build model, extract): about 20-30 s on 2 shared cores
def test_model_recipe_trains_simclr_and_extract_works(home, capsys, monkeypatch):
    import goalstore
    from goalstore import cli

    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the recipe runs in a subprocess; threads only contend here
    _objects(home)
    params = ["name=sn2-simclr", "architecture=streamnet2", "objective=simclr", "stimuli=tiny-objects",
              "input_size=32", "width=0.0625", "epochs=2", "batch_size=8", "embedding_dim=16", "optimiser=adam",
              "lr=0.001"]
    assert cli.main(["build", "model", "--json", *(a for p in params for a in ("--param", p))]) == 0
    meta = json.loads(capsys.readouterr().out)["sn2-simclr"]
    assert meta["architecture"] == "streamnet2" and meta["architecture_args"]["out_features"] == 16
    training = meta["training"]
    assert training["objective"] == "simclr" and len(training["loss_curve"]) == 2
    assert training["objective_params"]["temperature"] == 0.1 and "val_instance_top1" in meta["metrics"]
    assert cli.main(["extract", "sn2-simclr", "tiny-objects", "--layers", "visp,dorsal,fc", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    ds = goalstore.open(result["store"])
    assert ds.sizes["stimulus"] == 24 and set(np.unique(ds["layer"].values)) == {"visp", "dorsal", "fc"}
    assert np.isfinite(ds["activation"].values).all()
