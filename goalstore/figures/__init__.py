"""Figures of analysis results (matplotlib, non-interactive Agg backend).

Each module takes result stores (``xarray.Dataset``) and writes PNG files; the
analyses themselves never draw or write.
"""

from pathlib import Path


def save_figure(fig, path: Path) -> Path:
    """Lay out, write as PNG and close a matplotlib figure; return its path."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
