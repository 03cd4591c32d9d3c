"""Stimulus sets: the embedded procedural object set (determinism, coordinates that describe the pixels,
learnable categories), the folder / brainio / NumPy sources with their refusals, round trips through the
store, and the two-file remote entry of the HvM public images."""

from __future__ import annotations

import hashlib
import json
import time
import zipfile

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from PIL import Image

import goalstore
from goalstore.errors import ChecksumError, SchemaError
from goalstore.schema import validate
from goalstore.sources import objects
from goalstore.sources.objects import object_images
from goalstore.sources.stimulus_sets import from_arrays, from_brainio, from_folder, from_npy
from goalstore.store import StoreRoot


@pytest.fixture(scope="module")
def default_set() -> xr.Dataset:
    return object_images()


def _digest(ds: xr.Dataset) -> str:
    return hashlib.sha256(np.ascontiguousarray(ds["image"].values).tobytes()).hexdigest()


# ------------------------------------------------------------ embedded objects
def test_default_set_is_canonical_with_every_variation_as_a_coordinate(default_set):
    ds = default_set
    validate(ds, "stimuli")
    assert ds["image"].shape == (384, 3, 64, 64) and ds["image"].dtype == np.uint8
    assert list(ds["channel_name"].values) == ["R", "G", "B"]
    for coord in ("category", "object_name", "object_index", "variation", "rotation", "position_x",
                  "position_y", "size", "background"):
        assert ds[coord].dims == ("stimulus",), coord
    assert ds["rotation"].attrs["units"] == "deg"
    categories, counts = np.unique(ds["category"].values, return_counts=True)
    assert len(categories) == 8 and set(counts) == {48}
    assert len(np.unique(ds["object_name"].values)) == 32 and ds["object_index"].values.max() == 31
    assert set(np.unique(ds["variation"].values)) == {0, 3, 6}
    assert str(ds["stimulus_id"].values[0]) == "obj-star-00-000"
    assert len(np.unique(ds["background"].values)) > 8
    config = json.loads(ds.attrs["generator"])
    assert config["seed"] == 0 and config["size"] == 64
    assert config["generator_version"] == objects.GENERATOR_VERSION
    assert ds.attrs["license"] == "CC0-1.0" and ds.attrs["kind"] == "stimuli"
    # variation grows with the level: level 0 is centred, level 6 spreads rotation and position widely
    level0, level6 = ds.where(ds["variation"] == 0, drop=True), ds.where(ds["variation"] == 6, drop=True)
    assert np.abs(level0["position_x"]).max() == 0 and np.abs(level0["rotation"]).max() <= 20
    assert np.abs(level6["rotation"]).max() > 90 and np.abs(level6["position_x"]).max() > 0.1


def test_same_seed_same_bytes_other_seed_other_images_and_objects_do_not_depend_on_the_set_size():
    small = dict(n_categories=3, objects_per_category=2, views_per_object=3, size=32)
    a, b = object_images(**small, seed=0), object_images(**small, seed=0)
    assert _digest(a) == _digest(b)
    xr.testing.assert_identical(a, b)
    other = object_images(**small, seed=1)
    assert _digest(other) != _digest(a)
    assert not np.allclose(other["rotation"].values, a["rotation"].values)
    # an object's shape, colours and views come from its own seeded generator: more views extend the set
    more = object_images(**{**small, "views_per_object": 6}, seed=0)
    first = more.where(more["view"] < 3, drop=True)
    np.testing.assert_array_equal(first["image"].values, a["image"].values)
    np.testing.assert_array_equal(first["stimulus_id"].values, a["stimulus_id"].values)


def test_default_set_is_fast(default_set):
    start = time.perf_counter()
    object_images()
    assert time.perf_counter() - start < 10  # about 1 s on one core; generous on a shared machine


def _object_mask(ds: xr.Dataset, i: int) -> np.ndarray:
    """Pixels that differ from the image's background texture (the ground truth the generator drew on)."""
    config = json.loads(ds.attrs["generator"])
    background = objects._background(config["seed"], int(ds["background"].values[i]), config["size"])
    image = ds["image"].values[i].transpose(1, 2, 0).astype(float)
    return np.abs(image - np.clip(np.rint(background), 0, 255)).max(axis=-1) > 12


def test_coordinates_describe_the_pixels(default_set):
    """Position: the centroid of the drawn ring (a symmetric shape) sits at the declared offset;
    size: the drawn area grows with the square of the declared diameter."""
    ds = default_set
    rings = np.flatnonzero(ds["category"].values == "ring")
    areas, diameters = [], []
    for i in rings:
        mask = _object_mask(ds, i)
        rows, cols = np.nonzero(mask)
        size = ds.sizes["width"]
        assert abs(cols.mean() + 0.5 - size * (0.5 + ds["position_x"].values[i])) < 3.5, i
        assert abs(rows.mean() + 0.5 - size * (0.5 + ds["position_y"].values[i])) < 3.5, i
        areas.append(mask.sum())
        diameters.append(ds["size"].values[i])
    same_object = ds["object_name"].values[rings] == ds["object_name"].values[rings][0]
    ratio = np.array(areas)[same_object] / np.array(diameters)[same_object] ** 2
    assert ratio.std() / ratio.mean() < 0.15  # area ∝ diameter² for one object


def test_rotation_turns_the_shape():
    """A cross (symmetric under a half turn) rotated by 180° covers the same pixels; by 45° it does not."""
    shape = objects.FAMILIES["cross"](np.random.default_rng(0))()
    masks = {r: objects._mask(shape, r, 32, 32, 24, 64) for r in (0.0, 45.0, 180.0)}
    assert np.abs(masks[0.0] - masks[180.0]).mean() < 0.01
    assert np.abs(masks[0.0] - masks[45.0]).mean() > 0.1


def test_categories_are_learnable_from_held_out_views_but_not_trivially(default_set):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    ds = default_set
    x = ds["image"].values.astype(float).reshape(len(ds["stimulus"]), 3, 8, 8, 8, 8).mean(axis=(3, 5))
    x = x.reshape(len(x), -1)
    y = ds["category"].values
    test = ds["view"].values % 4 == 3  # every object's views 3, 7, 11 held out
    scaler = StandardScaler().fit(x[~test])

    def score(labels: np.ndarray) -> float:
        model = LogisticRegression(max_iter=2000, C=0.1).fit(scaler.transform(x[~test]), labels[~test])
        return model.score(scaler.transform(x[test]), labels[test])

    accuracy = score(y)  # 8 x 8 RGB thumbnails: 0.34 (33 of 96)
    assert 0.27 < accuracy < 0.95, accuracy  # chance is 1/8 (P(≥ 26 of 96) < 1e-4); pixels do not solve it
    shuffled = np.random.default_rng(0).permutation(y)
    assert score(shuffled) < 0.25  # the control: labels unrelated to the images stay near chance


@pytest.mark.parametrize("kwargs, match", [
    ({"n_categories": 11}, "at most 10"),
    ({"size": 8}, "size is 8"),
    ({"views_per_object": 0}, "views_per_object is 0"),
])
def test_object_images_refuses_bad_arguments(kwargs, match):
    with pytest.raises(SchemaError, match=match):
        object_images(**kwargs)


# ------------------------------------------------------------------ arrays
def test_arrays_in_every_layout_give_the_same_store():
    rng = np.random.default_rng(0)
    nhwc = rng.integers(0, 256, (5, 6, 7, 3), dtype=np.uint8)
    a, b = from_arrays(nhwc), from_arrays(nhwc.transpose(0, 3, 1, 2))
    validate(a, "stimuli")
    np.testing.assert_array_equal(a["image"].values, b["image"].values)
    assert a["image"].shape == (5, 3, 6, 7) and list(a["channel_name"].values) == ["R", "G", "B"]
    grey = from_arrays(nhwc[..., 0])
    assert list(grey["channel_name"].values) == ["L"] and grey["image"].shape == (5, 1, 6, 7)
    np.testing.assert_array_equal(grey["image"].values[:, 0], nhwc[..., 0])
    meta = pd.DataFrame({"stimulus_id": list("abcde"), "category_name": ["x", "y"] * 2 + ["x"], "rxy": 10.0})
    c = from_arrays(nhwc, metadata=meta)
    assert list(c["stimulus_id"].values) == list("abcde") and c["category"].values[1] == "y"
    assert c["rotation"].attrs["units"] == "deg"


@pytest.mark.parametrize("array, match", [
    (np.zeros((2, 4, 4, 3), np.float32), "dtype float32"),
    (np.zeros((2, 4, 4), np.int64), "dtype int64"),
    (np.zeros((2, 4, 4, 2), np.uint8), "2 channels"),
    (np.zeros((2, 5, 4, 4), np.uint8), r"shape \(2, 5, 4, 4\) has 4 channels"),
    (np.zeros((2, 4, 4, 4), np.uint8), "4 channels"),
    (np.zeros((2, 1, 4, 4, 3), np.uint8), "shape"),
])
def test_arrays_refuse_what_is_not_an_image_stack(array, match):
    with pytest.raises(SchemaError, match=match):
        from_arrays(array)


def test_arrays_refuse_duplicate_ids():
    with pytest.raises(SchemaError, match="'a' occurs twice"):
        from_arrays(np.zeros((2, 4, 4), np.uint8), stimulus_ids=["a", "a"])


def test_npy_file_with_metadata_and_resize(tmp_path):
    rng = np.random.default_rng(1)
    np.save(tmp_path / "x.npy", rng.integers(0, 256, (3, 8, 8), dtype=np.uint8))
    pd.DataFrame({"image_id": ["p", "q", "r"], "object_name": ["o1", "o2", "o3"]}).to_csv(tmp_path / "x.csv",
                                                                                          index=False)
    ds = from_npy(tmp_path / "x.npy", csv=tmp_path / "x.csv", size=4)
    validate(ds, "stimuli")
    assert ds["image"].shape == (3, 1, 4, 4) and list(ds["stimulus_id"].values) == ["p", "q", "r"]
    np.save(tmp_path / "f.npy", np.zeros((2, 4, 4), np.float64))
    with pytest.raises(SchemaError, match=r"f\.npy: dtype float64"):
        from_npy(tmp_path / "f.npy")


# ------------------------------------------------------------------ folder
def _images(folder, n=4, shape=(12, 10), mode="RGB", seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = {}
    for i in range(n):
        data = rng.integers(0, 256, (*shape, 3) if mode == "RGB" else shape, dtype=np.uint8)
        Image.fromarray(data, mode).save(folder / f"img{i:02d}.png")
        arrays[f"img{i:02d}"] = data
    return arrays


def test_folder_sorted_stems_exact_pixels_and_metadata(tmp_path):
    arrays = _images(tmp_path / "set")
    pd.DataFrame({"stimulus_id": ["img03", "img00", "img01", "img02"], "category": list("abab"),
                  "size": [1.0, 2.0, 3.0, 4.0]}).to_csv(tmp_path / "set" / "metadata.csv", index=False)
    ds = from_folder(tmp_path / "set")
    validate(ds, "stimuli")
    assert list(ds["stimulus_id"].values) == ["img00", "img01", "img02", "img03"]
    assert list(ds["category"].values) == ["b", "a", "b", "a"]  # rows matched by id, not by order
    assert list(ds["size"].values) == [2.0, 3.0, 4.0, 1.0]
    assert hasattr(ds["image"].data, "dask")  # decoded lazily
    for i, key in enumerate(ds["stimulus_id"].values):
        np.testing.assert_array_equal(ds["image"].values[i].transpose(1, 2, 0), arrays[str(key)])


def test_folder_modes_greyscale_mixed_and_rgba(tmp_path):
    grey = _images(tmp_path / "grey", mode="L")
    ds = from_folder(tmp_path / "grey")
    assert list(ds["channel_name"].values) == ["L"]
    np.testing.assert_array_equal(ds["image"].values[0, 0], grey["img00"])
    Image.fromarray(np.zeros((12, 10, 4), np.uint8), "RGBA").save(tmp_path / "grey" / "img99.png")
    mixed = from_folder(tmp_path / "grey")
    assert list(mixed["channel_name"].values) == ["R", "G", "B"]  # any colour file: the set is RGB
    np.testing.assert_array_equal(mixed["image"].values[0, 1], grey["img00"])  # L copied into R, G, B
    assert mixed["image"].values[-1].max() == 0  # RGBA → RGB (alpha dropped)


def test_folder_resize_to_one_size(tmp_path):
    _images(tmp_path / "set", n=2, shape=(12, 10))
    _images(tmp_path / "other", n=1, shape=(20, 20), seed=3)
    (tmp_path / "other" / "img00.png").rename(tmp_path / "set" / "big.png")
    with pytest.raises(SchemaError, match=r"set: img00.png is 10x12 pixels but big.png is 20x20"):
        from_folder(tmp_path / "set")
    ds = from_folder(tmp_path / "set", size=8)
    assert ds["image"].shape == (3, 3, 8, 8)
    validate(ds, "stimuli")


def test_folder_refusals_name_the_file_or_stimulus(tmp_path):
    _images(tmp_path / "set", n=2)
    pd.DataFrame({"stimulus_id": ["img00", "img01", "ghost"]}).to_csv(tmp_path / "set.csv", index=False)
    with pytest.raises(SchemaError, match="stimulus 'ghost' has no image file"):
        from_folder(tmp_path / "set")  # <folder>.csv beside the folder is its metadata
    pd.DataFrame({"stimulus_id": ["img00"]}).to_csv(tmp_path / "set.csv", index=False)
    with pytest.raises(SchemaError, match=r"image 'img01' .* has no row"):
        from_folder(tmp_path / "set")
    pd.DataFrame({"name": ["img00", "img01"]}).to_csv(tmp_path / "set.csv", index=False)
    with pytest.raises(SchemaError, match="no column stimulus_id or image_id"):
        from_folder(tmp_path / "set")
    (tmp_path / "set.csv").unlink()
    (tmp_path / "set" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(SchemaError, match=r"broken\.png: not a readable image"):
        from_folder(tmp_path / "set")
    (tmp_path / "set" / "broken.png").unlink()
    Image.fromarray(np.full((12, 10), 300, np.uint16)).save(tmp_path / "set" / "deep.png")
    with pytest.raises(SchemaError, match=r"deep\.png: image mode 'I;16'"):
        from_folder(tmp_path / "set")
    (tmp_path / "set" / "deep.png").unlink()
    Image.fromarray(np.zeros((12, 10, 3), np.uint8)).save(tmp_path / "set" / "img00.jpg")
    with pytest.raises(SchemaError, match="'img00' occurs twice"):
        from_folder(tmp_path / "set")
    with pytest.raises(SchemaError, match="not a folder"):
        from_folder(tmp_path / "nowhere")


# ------------------------------------------------------------------ brainio
def brainio_set(folder, n=6, name="image_test_set", seed=0):
    """A brainio-style stimulus set: ``<name>.csv`` (legacy columns, HvM-like) and ``<name>.zip``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows, arrays = [], {}
    with zipfile.ZipFile(folder / f"{name}.zip", "w") as archive:
        for i in range(n):
            data = rng.integers(0, 256, (16, 16), dtype=np.uint8)
            buffer = __import__("io").BytesIO()
            Image.fromarray(data, "L").save(buffer, format="PNG")
            image_id = hashlib.sha1(data.tobytes()).hexdigest()
            archive.writestr(f"{image_id}.png", buffer.getvalue())
            arrays[image_id] = data
            rows.append({"image_id": image_id, "filename": f"{image_id}.png",
                         "image_file_name": f"obj{i}_{i}.png", "category_name": ["Animals", "Cars"][i % 2],
                         "object_name": f"obj{i % 3}", "variation": [0, 3, 6][i % 3], "rxy": 15.0 * i,
                         "ty": 0.1 * i, "tz": -0.1 * i, "s": 1.0 + 0.1 * i, "size": 256,
                         "background_id": f"bg{i}", "rxz": 2.0 * i, "ryz": float(i), "id": i,
                         "x": 1.0, "bad name": 1, "rxy_semantic": [np.nan, 1.0][i % 2]})
    pd.DataFrame(rows).to_csv(folder / f"{name}.csv", index=False)
    return folder / f"{name}.zip", folder / f"{name}.csv", arrays


def test_brainio_columns_map_to_the_canonical_coordinates(tmp_path):
    zip_path, _, arrays = brainio_set(tmp_path)
    ds = from_brainio(zip_path)
    validate(ds, "stimuli")
    assert hasattr(ds["image"].data, "dask")
    assert list(ds["channel_name"].values) == ["L"] and ds["image"].shape == (6, 1, 16, 16)
    for i, image_id in enumerate(ds["stimulus_id"].values):
        np.testing.assert_array_equal(ds["image"].values[i, 0], arrays[str(image_id)])
    assert list(ds["category"].values[:2]) == ["Animals", "Cars"]
    np.testing.assert_allclose(ds["rotation"].values, 15.0 * np.arange(6))
    assert ds["rotation"].attrs["units"] == "deg"
    np.testing.assert_allclose(ds["position_x"].values, 0.1 * np.arange(6))
    np.testing.assert_allclose(ds["position_y"].values, -0.1 * np.arange(6))
    np.testing.assert_allclose(ds["size"].values, 1.0 + 0.1 * np.arange(6))  # s → size
    assert list(ds["csv_size"].values) == [256] * 6  # HvM's own size column, kept aside
    assert ds["background"].values[0] == "bg0" and list(ds["variation"].values[:3]) == [0, 3, 6]
    assert ds["image_path"].values[0].endswith(".png")
    for extra in ("rxz", "ryz", "id", "image_file_name", "object_name"):
        assert extra in ds.coords, extra
    assert "x" not in ds.coords and "bad name" not in ds.coords and "rxy_semantic" not in ds.coords
    dropped = ds.attrs["dropped_columns"]
    assert "x (name)" in dropped and "bad name (name)" in dropped and "rxy_semantic (missing values)" in dropped


def test_brainio_refusals(tmp_path):
    zip_path, csv_path, _ = brainio_set(tmp_path)
    frame = pd.read_csv(csv_path)
    frame.loc[2, "filename"] = "missing.png"
    frame.to_csv(tmp_path / "bad.csv", index=False)
    stimulus = frame.loc[2, "image_id"]
    with pytest.raises(SchemaError, match=f"row of stimulus '{stimulus}' names filename 'missing.png'"):
        from_brainio(zip_path, csv=tmp_path / "bad.csv")
    frame = pd.read_csv(csv_path)
    frame.loc[1, "image_id"] = frame.loc[0, "image_id"]
    frame.to_csv(tmp_path / "dup.csv", index=False)
    with pytest.raises(SchemaError, match="occurs twice"):
        from_brainio(zip_path, csv=tmp_path / "dup.csv")
    pd.read_csv(csv_path).drop(columns=["filename", "image_file_name"]).to_csv(tmp_path / "nofile.csv",
                                                                              index=False)
    with pytest.raises(SchemaError, match="no column filename or image_file_name"):
        from_brainio(zip_path, csv=tmp_path / "nofile.csv")
    with pytest.raises(SchemaError, match="no such metadata CSV"):
        from_brainio(zip_path, csv=tmp_path / "absent.csv")
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    with pytest.raises(SchemaError, match=r"broken\.zip: not a zip file"):
        from_brainio(tmp_path / "broken.zip", csv=csv_path)


# ------------------------------------------------------------ through the store
def test_every_source_round_trips_through_the_store(home, tmp_path):
    zip_path, _, _ = brainio_set(tmp_path / "brainio")
    _images(tmp_path / "folder", n=3)
    np.save(tmp_path / "arr.npy", np.random.default_rng(2).integers(0, 256, (3, 5, 6, 3), dtype=np.uint8))
    sets = {"s-brainio": from_brainio(zip_path), "s-folder": from_folder(tmp_path / "folder"),
            "s-npy": from_npy(tmp_path / "arr.npy"), "s-objects": object_images(2, 2, 2, size=32)}
    root = StoreRoot(home)
    for name, ds in sets.items():
        meta = root.write(name, ds, kind="stimuli")
        assert meta["family"] == "stimuli" and meta["kind"] == "stimuli"
        back = goalstore.open(name)
        xr.testing.assert_equal(back.compute(), ds.compute())
        assert back["image"].dtype == np.uint8
    assert set(goalstore.search(family="stimuli")["name"]) >= set(sets)


# ---------------------------------------------------------------- remote entry
def test_hvm_public_entry_is_pinned_and_linked_from_the_recording():
    meta = goalstore.describe("hvm-public-stimuli")
    assert meta["kind"] == "stimuli" and meta["family"] == "stimuli" and meta["origin"] == "remote"
    remote = meta["remote"]
    assert remote["url"].startswith("https://brainio-brainscore.s3.amazonaws.com/image_dicarlo_hvm-public.zip")
    assert remote["checksum"] == "sha1:8aa44e038d7b551efa8077467622f9d48d72e473"  # brain-score's zip_sha1
    (csv,) = remote["companions"]
    assert csv["url"].startswith("https://brainio-brainscore.s3.amazonaws.com/image_dicarlo_hvm-public.csv")
    assert csv["checksum"] == "sha1:5ca7a3da00d8e9c694a9cd725df5ba0ad6d735af"  # brain-score's csv_sha1
    assert csv["filename"] == "image_dicarlo_hvm-public.csv" and "versionId=" in csv["url"]
    assert meta["loader"] == "goalstore.sources.stimulus_sets:from_brainio"
    assert goalstore.describe("MajajHong2015")["stimulus_set"] == "hvm-public-stimuli"


def _sha1(path) -> str:
    return "sha1:" + hashlib.sha1(path.read_bytes()).hexdigest()


def test_a_two_file_remote_entry_is_fetched_verified_and_opened_lazily(home, tmp_path):
    zip_path, csv_path, arrays = brainio_set(tmp_path / "server")
    loader = {"loader": "goalstore.sources.stimulus_sets:from_brainio",
              "loader_kwargs": {"license": "test", "citation": "test"}}
    goalstore.register_remote("tiny-brainio", zip_path.as_uri(), _sha1(zip_path), "zip", kind="stimuli",
                              companions=[(csv_path.as_uri(), _sha1(csv_path))], **loader)
    ds = goalstore.open("tiny-brainio")
    assert hasattr(ds["image"].data, "dask") and ds.attrs["license"] == "test"
    validate(ds, "stimuli")
    np.testing.assert_array_equal(ds["image"].values[0, 0], arrays[str(ds["stimulus_id"].values[0])])
    downloads = home / "downloads" / "tiny-brainio"
    assert sorted(p.name for p in downloads.iterdir()) == ["image_test_set.csv", "image_test_set.zip"]
    (report,) = goalstore.verify("tiny-brainio")
    assert report["ok"], report
    # a companion that does not match its checksum is refused, and nothing is kept
    goalstore.register_remote("bad-brainio", zip_path.as_uri(), _sha1(zip_path), "zip", kind="stimuli",
                              companions=[(csv_path.as_uri(), "sha1:" + "0" * 40)], **loader)
    with pytest.raises(ChecksumError, match=r"image_test_set\.csv"):
        goalstore.open("bad-brainio")
    assert not (home / "downloads" / "bad-brainio" / "image_test_set.csv").exists()
    # add-file picks the entry's file by name and verifies it
    with pytest.raises(ChecksumError, match=r"a file named image_test_set\.zip or image_test_set\.csv"):
        goalstore.add_file("bad-brainio", csv_path.rename(tmp_path / "other.csv"))
