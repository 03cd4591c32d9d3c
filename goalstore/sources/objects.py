"""The embedded object set: a deterministic, procedurally generated stimulus set (no network needed).

Each **category** is a family of shapes (star, polygon, blob, cross, ring, crescent, arrow, grid,
tee, bowtie); each **object** is one member of its family with its own seeded shape parameters
(number of points, arm widths, radial harmonics …), colour and surface texture (stripes of an
object-specific frequency and orientation, or spots); each **view** renders the object under a
seeded in-plane rotation, position, size and textured background, in the spirit of the HvM set
(Majaj et al. 2015): views come in three variation levels 0, 3 and 6 (every third view each), whose
ranges of rotation, position and size grow with the level.

Rendering: the shape is drawn as a binary mask with Pillow at ``SUPERSAMPLE`` × the output size
and box-filtered down (anti-aliased edges, coverage ``a`` in [0, 1]); the pixel is
``a · object + (1 − a) · background``, with the object's texture evaluated in the object's own
rotated frame (the texture turns with the object).  Every random choice draws from a generator
seeded by ``(seed, what, indices…)``, so an object's shape and colours do not depend on how many
objects or views are generated, and the same arguments always give the same bytes.

Coordinates of the ``stimulus`` dim: ``category``, ``object_name``, ``object_index`` (the object's
index in the whole set, category-major), ``view`` (its index among the object's views),
``variation`` (0, 3 or 6), ``rotation`` (deg, counter-clockwise), ``position_x`` and ``position_y``
(offset of the object's centre from the image centre, in fractions of the image side; ``y`` grows
downwards like the pixel rows), ``size`` (the object's outer diameter as a fraction of the image
side) and ``background`` (the id of its background texture).

:func:`depth_maps` renders the depth map of every image of such a store (the target of the ``depth``
objective of the model recipe) from its coordinates and ``generator`` attr.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import xarray as xr
from PIL import Image, ImageDraw

from goalstore.errors import SchemaError
from goalstore.schema import store_attrs

#: Version of the generator: part of the store's ``generator`` attr; bump it when the pixels change.
GENERATOR_VERSION = 1

#: Anti-aliasing factor: masks are drawn at this many times the output size and box-filtered down.
SUPERSAMPLE = 4

#: Number of distinct background textures (ids 0 … N-1).
N_BACKGROUNDS = 16

#: Per variation level: (max |rotation| deg, max |position offset| in image fractions, size range).
VARIATION_LEVELS: dict[int, tuple[float, float, tuple[float, float]]] = {
    0: (20.0, 0.0, (0.55, 0.60)),
    3: (90.0, 0.10, (0.45, 0.70)),
    6: (180.0, 0.18, (0.38, 0.75)),
}

Polygon = list[tuple[float, float]]  # vertices in the object's unit frame (outer radius about 1)


def _circle(cx: float, cy: float, r: float, n: int = 48) -> Polygon:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return list(zip((cx + r * np.cos(t)).tolist(), (cy + r * np.sin(t)).tolist(), strict=True))


def _star(rng: np.random.Generator) -> Callable[[], tuple[list[Polygon], list[Polygon]]]:
    points, inner, twist = int(rng.integers(5, 9)), rng.uniform(0.35, 0.55), rng.uniform(-0.15, 0.15)
    t = np.arange(2 * points) * np.pi / points
    r = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    t = t + np.where(np.arange(2 * points) % 2 == 0, 0.0, twist)
    return lambda: ([list(zip((r * np.cos(t)).tolist(), (r * np.sin(t)).tolist(), strict=True))], [])


def _polygon(rng: np.random.Generator) -> Callable[[], tuple[list[Polygon], list[Polygon]]]:
    sides = int(rng.integers(3, 7))
    t = np.arange(sides) * 2 * np.pi / sides + rng.uniform(-0.12, 0.12, sides)
    r = rng.uniform(0.85, 1.0, sides)
    return lambda: ([list(zip((r * np.cos(t)).tolist(), (r * np.sin(t)).tolist(), strict=True))], [])


def _blob(rng: np.random.Generator) -> Callable[[], tuple[list[Polygon], list[Polygon]]]:
    """A smooth closed curve r(θ) = 1 + Σ_k a_k cos(kθ + φ_k), k = 2…4, squashed by an aspect ratio."""
    amps, phases, aspect = rng.uniform(0.04, 0.16, 3), rng.uniform(0, 2 * np.pi, 3), rng.uniform(0.55, 0.8)
    t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    r = 1 + sum(a * np.cos(k * t + p) for k, a, p in zip((2, 3, 4), amps, phases, strict=True))
    r = r / r.max()
    return lambda: ([list(zip((r * np.cos(t)).tolist(), (aspect * r * np.sin(t)).tolist(), strict=True))], [])


def _cross(rng: np.random.Generator) -> Callable[[], tuple[list[Polygon], list[Polygon]]]:
    w, h = rng.uniform(0.18, 0.32), rng.uniform(0.75, 1.0)  # half arm width, half length of the short arm
    arm = [(-1.0, -w), (1.0, -w), (1.0, w), (-1.0, w)]
    return lambda: ([arm, [(-w, -h), (w, -h), (w, h), (-w, h)]], [])


def _ring(rng: np.random.Generator) -> Callable[[], tuple[list[Polygon], list[Polygon]]]:
    inner, shift = rng.uniform(0.45, 0.65), rng.uniform(0.0, 0.15)
    return lambda: ([_circle(0, 0, 1.0)], [_circle(shift, 0, inner)])


def _crescent(rng: np.random.Generator) -> Callable[[], tuple[list[Polygon], list[Polygon]]]:
    shift, r = rng.uniform(0.35, 0.6), rng.uniform(0.8, 1.0)
    return lambda: ([_circle(0, 0, 1.0)], [_circle(shift, -0.1, r)])


def _arrow(rng: np.random.Generator) -> Callable[[], tuple[list[Polygon], list[Polygon]]]:
    shaft, head, neck = rng.uniform(0.12, 0.25), rng.uniform(0.45, 0.7), rng.uniform(0.0, 0.35)
    poly = [(-1.0, -shaft), (neck, -shaft), (neck, -head), (1.0, 0.0), (neck, head), (neck, shaft),
            (-1.0, shaft)]
    return lambda: ([poly], [])


def _grid(rng: np.random.Generator) -> Callable[[], tuple[list[Polygon], list[Polygon]]]:
    n = int(rng.integers(2, 4))  # n × n squares
    fill = rng.uniform(0.45, 0.7)
    step = 2.0 / n * 0.7
    half = step * fill / 2
    centres = (np.arange(n) - (n - 1) / 2) * step
    squares = [[(x - half, y - half), (x + half, y - half), (x + half, y + half), (x - half, y + half)]
               for x in centres for y in centres]
    return lambda: (squares, [])


def _tee(rng: np.random.Generator) -> Callable[[], tuple[list[Polygon], list[Polygon]]]:
    w, bar = rng.uniform(0.15, 0.28), rng.uniform(0.7, 1.0)
    return lambda: ([[(-bar, -1.0), (bar, -1.0), (bar, -1.0 + 2 * w), (-bar, -1.0 + 2 * w)],
                     [(-w, -1.0), (w, -1.0), (w, 1.0), (-w, 1.0)]], [])


def _bowtie(rng: np.random.Generator) -> Callable[[], tuple[list[Polygon], list[Polygon]]]:
    h, waist = rng.uniform(0.55, 0.9), rng.uniform(0.05, 0.2)
    return lambda: ([[(-1.0, -h), (0.0, -waist), (1.0, -h), (1.0, h), (0.0, waist), (-1.0, h)]], [])


#: The shape families, one per category, in order (``n_categories`` takes the first N).
FAMILIES: dict[str, Callable[[np.random.Generator], Callable[[], tuple[list[Polygon], list[Polygon]]]]] = {
    "star": _star, "polygon": _polygon, "blob": _blob, "cross": _cross, "ring": _ring,
    "crescent": _crescent, "arrow": _arrow, "grid": _grid, "tee": _tee, "bowtie": _bowtie,
}


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    i, f = int(h * 6) % 6, h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]) * 255.0


class _Object:
    """One object: its shape (filled and cut-out polygons) and surface (two colours, a texture)."""

    def __init__(self, family: str, seed: int, category_index: int, index: int):
        rng = np.random.default_rng([seed, 1, category_index, index])
        self.shape = FAMILIES[family](rng)
        hue = rng.uniform()
        self.colour = _hsv_to_rgb(hue, rng.uniform(0.45, 0.9), rng.uniform(0.65, 1.0))
        self.second = _hsv_to_rgb((hue + rng.uniform(0.3, 0.7)) % 1, rng.uniform(0.3, 0.9),
                                  rng.uniform(0.15, 0.5))
        self.texture = "stripes" if rng.uniform() < 0.6 else "spots"
        self.frequency = rng.uniform(1.5, 4.0)  # cycles per object radius
        self.angle = rng.uniform(0, np.pi)
        self.depth = rng.uniform(0.3, 0.7)

    def pattern(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """The texture (0 … 1, weight of the second colour) at object-frame coordinates ``(u, v)``."""
        if self.texture == "stripes":
            along = u * np.cos(self.angle) + v * np.sin(self.angle)
            return self.depth * (0.5 + 0.5 * np.sin(2 * np.pi * self.frequency * along))
        spots = np.sin(2 * np.pi * self.frequency * u) * np.sin(2 * np.pi * self.frequency * v)
        return self.depth * (spots > 0.35)


def _background(seed: int, background: int, size: int) -> np.ndarray:
    """Background texture ``background`` (height × width × 3, float 0–255): smooth colour noise on a
    linear gradient, with fine grain."""
    rng = np.random.default_rng([seed, 2, background])
    base = rng.uniform(70, 185, 3)
    coarse = rng.normal(0, rng.uniform(8, 22), (int(rng.integers(3, 8)),) * 2 + (3,))
    low = np.asarray(Image.fromarray(np.clip(128 + coarse, 0, 255).astype(np.uint8), "RGB")
                     .resize((size, size), Image.BICUBIC), dtype=float) - 128
    angle, slope = rng.uniform(0, 2 * np.pi), rng.uniform(0, 30)
    ramp = np.linspace(-0.5, 0.5, size)
    gradient = slope * (np.cos(angle) * ramp[None, :] + np.sin(angle) * ramp[:, None])
    grain = rng.normal(0, rng.uniform(2, 6), (size, size, 3))
    return base + low + gradient[..., None] + grain


def _mask(polygons: tuple[list[Polygon], list[Polygon]], rotation: float, cx: float, cy: float,
          radius: float, size: int) -> np.ndarray:
    """Anti-aliased coverage (height × width, 0 … 1) of the shape rotated by ``rotation`` degrees
    (counter-clockwise on screen), scaled to ``radius`` pixels and centred at pixel ``(cx, cy)``."""
    s = SUPERSAMPLE
    canvas = Image.new("L", (size * s, size * s), 0)
    draw = ImageDraw.Draw(canvas)
    c, si = np.cos(np.radians(rotation)), np.sin(np.radians(rotation))
    filled, holes = polygons

    def place(poly: Polygon) -> list[tuple[float, float]]:
        # screen y points down: a counter-clockwise turn on screen is (x, y) → (x c + y s, −x s + y c)
        return [((cx + radius * (x * c + y * si)) * s, (cy + radius * (-x * si + y * c)) * s) for x, y in poly]

    for poly in filled:
        draw.polygon(place(poly), fill=255)
    for poly in holes:
        draw.polygon(place(poly), fill=0)
    return np.asarray(canvas.reduce(s), dtype=float) / 255.0


def object_images(n_categories: int = 8, objects_per_category: int = 4, views_per_object: int = 12,
                  size: int = 64, seed: int = 0) -> xr.Dataset:
    """The embedded object set as a canonical ``stimuli`` dataset (stimulus × channel × height × width,
    RGB uint8): ``n_categories × objects_per_category × views_per_object`` images of ``size × size``
    pixels (384 images of 64 × 64 by default), with every variation parameter as a coordinate
    (see the module docstring).  Deterministic given the arguments.

    Stimulus ids are ``obj-<category>-<object>-<view>`` (e.g. ``obj-star-02-007``).
    """
    for name, value, low in (("n_categories", n_categories, 1),
                             ("objects_per_category", objects_per_category, 1),
                             ("views_per_object", views_per_object, 1), ("size", size, 16)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise SchemaError(f"object_images: {name} is {value!r}; expected an integer >= {low}")
    if n_categories > len(FAMILIES):
        raise SchemaError(f"object_images: n_categories is {n_categories}; expected at most {len(FAMILIES)} "
                          f"(the shape families {', '.join(FAMILIES)})")
    families = list(FAMILIES)[:n_categories]
    backgrounds: dict[int, np.ndarray] = {}
    levels = list(VARIATION_LEVELS)
    n = n_categories * objects_per_category * views_per_object
    images = np.empty((n, 3, size, size), dtype=np.uint8)
    records: dict[str, list] = {k: [] for k in (
        "stimulus_id", "category", "object_name", "object_index", "view", "variation", "rotation", "position_x",
        "position_y", "size", "background")}
    grid = (np.arange(size) + 0.5)
    i = 0
    for c, family in enumerate(families):
        for k in range(objects_per_category):
            obj = _Object(family, seed, c, k)
            polygons = obj.shape()
            for view in range(views_per_object):
                rng = np.random.default_rng([seed, 3, c, k, view])
                level = levels[view % len(levels)]
                max_rot, max_shift, (small, large) = VARIATION_LEVELS[level]
                rotation = float(rng.uniform(-max_rot, max_rot))
                px, py = (float(v) for v in rng.uniform(-max_shift, max_shift, 2))
                diameter = float(rng.uniform(small, large))
                background = int(rng.integers(N_BACKGROUNDS))
                if background not in backgrounds:
                    backgrounds[background] = _background(seed, background, size)
                cx, cy, radius = size * (0.5 + px), size * (0.5 + py), size * diameter / 2
                alpha = _mask(polygons, rotation, cx, cy, radius, size)[..., None]
                # the texture in the object's frame: undo the placement of each pixel centre
                dx, dy = (grid[None, :] - cx) / radius, (grid[:, None] - cy) / radius
                cr, sr = np.cos(np.radians(rotation)), np.sin(np.radians(rotation))
                u, v = dx * cr - dy * sr, dx * sr + dy * cr
                w = obj.pattern(u, v)[..., None]
                surface = (1 - w) * obj.colour + w * obj.second
                pixels = alpha * surface + (1 - alpha) * backgrounds[background]
                images[i] = np.clip(np.rint(pixels), 0, 255).astype(np.uint8).transpose(2, 0, 1)
                for key, value in (("stimulus_id", f"obj-{family}-{k:02d}-{view:03d}"), ("category", family),
                                   ("object_name", f"{family}{k:02d}"),
                                   ("object_index", c * objects_per_category + k), ("view", view),
                                   ("variation", level), ("rotation", rotation), ("position_x", px),
                                   ("position_y", py), ("size", diameter), ("background", background)):
                    records[key].append(value)
                i += 1
    config = {"function": "goalstore.sources.objects.object_images", "generator_version": GENERATOR_VERSION,
              "n_categories": n_categories, "objects_per_category": objects_per_category,
              "views_per_object": views_per_object, "size": size, "seed": seed}
    units = {"rotation": "deg", "position_x": "image fraction", "position_y": "image fraction",
             "size": "image fraction"}
    coords = {key: ("stimulus", np.asarray(values), {"units": units[key]} if key in units else {})
              for key, values in records.items()}
    coords["channel_name"] = ("channel", np.array(["R", "G", "B"]))
    return xr.Dataset(
        {"image": (("stimulus", "channel", "height", "width"), images,
                   {"units": "intensity (0-255)", "description": "RGB image, rows top to bottom"})},
        coords=coords,
        attrs=store_attrs("stimuli", species="none", modality="images (procedural objects)",
                          source="goalstore.sources.objects.object_images (synthetic)", license="CC0-1.0",
                          citation="goalstore procedural objects (synthetic)",
                          description=f"{n} procedurally generated objects: {n_categories} shape categories "
                                      f"({', '.join(families)}) x {objects_per_category} objects x "
                                      f"{views_per_object} views (rotation, position, size, background; "
                                      f"variation levels 0/3/6), {size}x{size} RGB",
                          generator=json.dumps(config, sort_keys=True)),
    )


#: Depth of an object of diameter 1 (image fractions): distance ∝ 1 / apparent size (:func:`depth_maps`).
DEPTH_NEAR = 0.25
#: How far an object's centre bulges towards the viewer, in depth units (:func:`depth_maps`).
DEPTH_BULGE = 0.1


def depth_config(attrs: dict) -> dict:
    """The generator config of a stimuli store made by :func:`object_images` (its ``generator`` attr);
    :class:`SchemaError` (one line) for any other store, which has no depth renderer."""
    try:
        config = json.loads(attrs.get("generator", ""))
    except (TypeError, ValueError):
        config = None
    if not isinstance(config, dict) or config.get("function") != "goalstore.sources.objects.object_images":
        raise SchemaError("has no depth renderer; expected a stimuli store made by "
                          "goalstore.sources.objects.object_images (e.g. embedded-objects)")
    if config.get("generator_version") != GENERATOR_VERSION:
        raise SchemaError(f"generator_version {config.get('generator_version')!r}; expected "
                          f"{GENERATOR_VERSION} (rebuild the store)")
    return config


def depth_maps(ds: xr.Dataset) -> np.ndarray:
    """Depth map of every stimulus of a store made by :func:`object_images` (stimulus × height × width,
    float32, 0 near … 1 the far plane), rendered from its coordinates and ``generator`` attr (so a subset of
    the stimuli works too).  The background lies on the far plane (1); an object of diameter ``s`` (image
    fractions) lies at ``z₀ = DEPTH_NEAR / s`` (distance inversely proportional to apparent size: sizes
    0.38 … 0.75 lie at 0.66 … 0.33) and bulges towards the viewer like a dome over its disc,
    ``z = z₀ − DEPTH_BULGE · (1 − ρ²)`` with ``ρ`` the distance from its centre in units of its radius;
    anti-aliased edges mix by coverage ``a``: ``D = a z + (1 − a)``.  Deterministic."""
    config = depth_config(ds.attrs)
    size, seed, per_category = int(config["size"]), int(config["seed"]), int(config["objects_per_category"])
    families = list(FAMILIES)
    grid = np.arange(size) + 0.5
    out = np.empty((ds.sizes["stimulus"], size, size), dtype=np.float32)
    shapes: dict[tuple[int, int], tuple[list[Polygon], list[Polygon]]] = {}
    for i in range(ds.sizes["stimulus"]):
        c = families.index(str(ds["category"].values[i]))
        k = int(ds["object_index"].values[i]) - c * per_category
        if (c, k) not in shapes:
            shapes[(c, k)] = _Object(families[c], seed, c, k).shape()
        diameter = float(ds["size"].values[i])
        cx = size * (0.5 + float(ds["position_x"].values[i]))
        cy = size * (0.5 + float(ds["position_y"].values[i]))
        radius = size * diameter / 2
        alpha = _mask(shapes[(c, k)], float(ds["rotation"].values[i]), cx, cy, radius, size)
        rho2 = ((grid[None, :] - cx) ** 2 + (grid[:, None] - cy) ** 2) / radius ** 2
        z = DEPTH_NEAR / diameter - DEPTH_BULGE * np.clip(1 - rho2, 0, 1)
        out[i] = alpha * z + (1 - alpha)
    return out
