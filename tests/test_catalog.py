"""Shipped Intake 2 catalogs, the store root's catalog, merged search."""

from __future__ import annotations

import intake
import pytest
import yaml

import goalstore
from goalstore.catalog import FAMILIES, SEARCH_FIELDS, shipped_catalog
from goalstore.errors import EntryNotFoundError, SchemaError
from goalstore.resources import catalogs_dir


def test_shipped_catalogs_are_intake_v2_one_per_family():
    index = yaml.safe_load((catalogs_dir() / "index.yaml").read_text())
    assert index["version"] == 2
    assert set(index["metadata"]["families"]) == set(FAMILIES)
    for family, filename in index["metadata"]["families"].items():
        raw = yaml.safe_load((catalogs_dir() / filename).read_text())
        assert raw["version"] == 2
        cat = intake.from_yaml_file(str(catalogs_dir() / filename))
        for name, entry in cat.entries.items():
            assert entry.metadata["family"] == family, name
            missing = [f for f in SEARCH_FIELDS if f not in ("name", "description") and
                       f not in entry.metadata]
            assert not missing, (name, missing)
    nested = intake.from_yaml_file(str(catalogs_dir() / "index.yaml"))["recordings"].read()
    assert "MajajHong2015" in nested.entries


def test_remote_entries_carry_url_and_checksum():
    cat = shipped_catalog()
    majaj = cat.entries["MajajHong2015"].metadata
    assert majaj["remote"]["url"].startswith("https://")
    assert majaj["remote"]["checksum"] == "sha1:13d28ca0ce88ee550b54db3004374ae19096e9b9"


def test_merged_catalog_search(home, recording):
    goalstore.write("rec", recording)
    names = set(goalstore.search()["name"])
    assert {"rec", "MajajHong2015"} <= names
    assert list(goalstore.search(species="virtual", kind="recording")["name"]) == ["rec"]
    assert set(goalstore.search(areas="IT")["name"]) == {"rec", "MajajHong2015"}
    assert set(goalstore.search(species="MACAQUE")["name"]) == {"MajajHong2015"}
    assert goalstore.search(species="zebrafish").empty
    assert list(goalstore.search(dims="trial")["name"]) == ["MajajHong2015", "rec"]  # opens canonical
    with pytest.raises(SchemaError, match="search field 'colour'"):
        goalstore.search(colour="red")


def test_store_catalog_is_readable_by_intake_itself(home, recording):
    goalstore.write("rec", recording)
    cat = intake.from_yaml_file(str(home / "catalog.yaml"))
    ds = cat["rec"].read()
    assert ds["response"].chunks is not None
    assert cat.entries["rec"].metadata["sizes"]["unit"] == recording.sizes["unit"]
    merged = goalstore.catalog()
    assert "rec" in merged.entries and "MajajHong2015" in merged.entries


def test_describe_and_unknown(home, recording):
    goalstore.write("rec", recording)
    meta = goalstore.describe("rec")
    assert meta["kind"] == "recording" and meta["version"] == 1 and meta["areas"] == ["IT", "V4"]
    with pytest.raises(EntryNotFoundError, match="Did you mean: MajajHong2015"):
        goalstore.describe("MajajHong2016")


def test_search_family_is_a_catalog_family_or_a_present_model_family():
    """``family=`` takes a catalog family or a model family present in the catalog; a typo is refused in one
    line that lists both, rather than matching nothing."""
    from types import SimpleNamespace

    from goalstore.catalog import search

    def entry(**metadata):
        return SimpleNamespace(metadata=metadata)

    cat = SimpleNamespace(entries={
        "rec": entry(family="recordings", kind="recording"),
        "net": entry(family="models", kind="model", training={"family": "ConvRNN", "objective": "simclr"})})
    assert list(search(cat, family="recordings")["name"]) == ["rec"]
    assert list(search(cat, family="convrnn")["name"]) == ["net"]  # the model family, case-insensitive
    assert list(search(cat, family="models", objective="simclr")["name"]) == ["net"]
    with pytest.raises(SchemaError, match=r"family='recording'.*recordings, stimuli.*\(ConvRNN\)") as info:
        search(cat, family="recording")
    assert "\n" not in str(info.value)
    with pytest.raises(SchemaError, match=r"model family of the catalog's models \(none\)"):
        search(SimpleNamespace(entries={"rec": cat.entries["rec"]}), family="convrnn")
