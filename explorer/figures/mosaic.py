"""Tile the channels of a (C, H, W) tensor into one 2-D array, one heatmap for all channels."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

GAP = 1  # pixels of NaN between tiles


@dataclass(frozen=True)
class Mosaic:
    """Channels laid out row by row in a grid of tiles, NaN between tiles and in unused tiles."""

    z: np.ndarray  # (rows * (tile_h + GAP) - GAP, cols * (tile_w + GAP) - GAP), float32
    channels: int  # tiles in use
    rows: int  # tile rows
    cols: int  # tile columns
    tile_h: int
    tile_w: int
    first: int = 0  # channel number of the first tile, when the tiles are a window of channels

    def unit_at(self, row: int, col: int) -> tuple[int, int, int] | None:
        """The (channel, r, c) shown at mosaic cell (row, col); None on a gap or an unused tile."""
        if not (0 <= row < self.z.shape[0] and 0 <= col < self.z.shape[1]):
            return None
        tr, r = divmod(int(row), self.tile_h + GAP)
        tc, c = divmod(int(col), self.tile_w + GAP)
        if r >= self.tile_h or c >= self.tile_w:
            return None
        tile = tr * self.cols + tc
        if tile >= self.channels:
            return None
        return self.first + tile, r, c

    def position(self, channel: int, r: int, c: int) -> tuple[int, int]:
        """The mosaic (row, col) of unit (channel, r, c); the inverse of ``unit_at``."""
        tile = channel - self.first
        if not (0 <= tile < self.channels and 0 <= r < self.tile_h and 0 <= c < self.tile_w):
            raise IndexError(f"unit ({channel}, {r}, {c}) is not in this mosaic")
        tr, tc = divmod(tile, self.cols)
        return tr * (self.tile_h + GAP) + r, tc * (self.tile_w + GAP) + c

    def positions(
        self, channels: np.ndarray, rs: np.ndarray, cs: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``position`` for arrays of units at once (no range checks)."""
        tr, tc = np.divmod(np.asarray(channels) - self.first, self.cols)
        return tr * (self.tile_h + GAP) + rs, tc * (self.tile_w + GAP) + cs

    @cached_property
    def channel_map(self) -> np.ndarray:
        """The channel number of every cell (gaps get a neighbour's), small ints for hover data."""
        tr = np.minimum(np.arange(self.z.shape[0]) // (self.tile_h + GAP), self.rows - 1)
        tc = np.minimum(np.arange(self.z.shape[1]) // (self.tile_w + GAP), self.cols - 1)
        ch = self.first + tr[:, None] * self.cols + tc[None, :]
        return ch.astype(np.uint8 if ch.max(initial=0) < 256 else np.uint16)


def mosaic(t: torch.Tensor, cols: int | None = None, *, first: int = 0) -> Mosaic:
    """Lay out a (C, H, W) or (H, W) tensor as one 2-D float32 array of tiles.

    Args:
        t: the maps of one example; a (H, W) map is a single tile.
        cols: tiles per row; by default the near-square grid that leaves fewest tiles unused.
        first: the channel number of ``t[0]``, when ``t`` is a slice of a bigger tensor.

    Returns:
        A ``Mosaic`` whose ``unit_at``/``position`` map between mosaic cells and units.
    """
    if t.dim() == 2:
        t = t.unsqueeze(0)
    if t.dim() != 3:
        raise ValueError(f"mosaic takes (C, H, W) or (H, W), not {tuple(t.shape)}")
    c, h, w = t.shape
    if c == 0 or h == 0 or w == 0:
        raise ValueError(f"nothing to tile in a tensor of shape {tuple(t.shape)}")
    cols = min(cols, c) if cols else _grid_cols(c)
    rows = math.ceil(c / cols)
    z = np.full((rows * (h + GAP) - GAP, cols * (w + GAP) - GAP), np.nan, dtype=np.float32)
    # One strided assignment instead of a loop over channels: view z's tiles as a 4-D block.
    padded = np.full((rows * cols, h + GAP, w + GAP), np.nan, dtype=np.float32)
    padded[:c, :h, :w] = t.detach().to(torch.float32).numpy()
    block = padded.reshape(rows, cols, h + GAP, w + GAP).transpose(0, 2, 1, 3)
    z[:] = block.reshape(rows * (h + GAP), cols * (w + GAP))[: z.shape[0], : z.shape[1]]
    return Mosaic(z, c, rows, cols, h, w, first)


def _grid_cols(c: int) -> int:
    """Near-square, few empty tiles: 32 -> 8x4 rather than 6x6, 26 -> 7x4 rather than 13x2.

    Wide grids make small tiles when two or three maps stand side by side.
    """
    low = math.ceil(math.sqrt(c))
    return min(range(low, low + 3), key=lambda k: (math.ceil(c / k) * k - c, k))
