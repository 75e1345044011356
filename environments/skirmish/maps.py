"""Procedural, point-symmetric Skirmish maps and their static tables (NumPy, host side).

A map is a square grid of `size` x `size` cells; a cell's index is `y * size + x`.
Every map is symmetric under the 180-degree rotation (x, y) -> (size-1-x, size-1-y),
which swaps the two players' starting bases, so neither seat is favoured.

Maps are generated once per environment from `map_seed` (a pool of `num_maps` maps);
`reset(key)` picks one of them. Static tables computed here (passability, resources,
start cells, 8-neighbours and all-pairs path distances) become constants of the jitted
game, so `reset` is cheap enough to run inside every autoreset scan step.

Letters: M maps, C = size * size cells.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from scipy.sparse import csgraph
from scipy.sparse import csr_matrix

UNREACHABLE = 255  # Path distance meaning "no path"; distances are stored as uint8.


@dataclasses.dataclass(frozen=True)
class MapConfig:
  """Static description of a map size."""
  size: int
  num_units: int  # unit slots per side
  max_ticks: int  # episode tick limit (truncation)
  base_offset: int  # the base of seat 0 stands at (offset, offset)
  patch_amount: int  # resources per resource cell
  obstacle_density: float


MAP_CONFIGS = {
    8: MapConfig(size=8, num_units=16, max_ticks=300, base_offset=1, patch_amount=40,
                 obstacle_density=0.06),
    16: MapConfig(size=16, num_units=16, max_ticks=600, base_offset=2, patch_amount=50,
                  obstacle_density=0.10),
    32: MapConfig(size=32, num_units=32, max_ticks=1200, base_offset=3, patch_amount=60,
                  obstacle_density=0.12),
}


@dataclasses.dataclass(frozen=True)
class MapTables:
  """Static arrays for a pool of maps.

  Attributes:
    passable: bool [M, C], walkable cells (resource cells and rocks are not).
    resources: int32 [M, C], initial resource amount per cell.
    start: int32 [M, 2], each seat's base cell.
    neighbours: int32 [C, 9], the cell itself then its 8 neighbours (itself where the
      neighbour would be off the map).
    distance: uint8 [M, C, C], distance[m, a, b] = moves from a to reach b, walking only
      through passable cells (b itself may be impassable: a resource or rock is
      "reached" by standing next to it). UNREACHABLE where there is no path or a is
      impassable (except a == b, which is 0).
  """
  passable: np.ndarray
  resources: np.ndarray
  start: np.ndarray
  neighbours: np.ndarray
  distance: np.ndarray


def neighbour_table(size: int) -> np.ndarray:
  """int32 [C, 9]: each cell, then its 8 neighbours (itself off the map)."""
  ys, xs = np.divmod(np.arange(size * size), size)
  out = [np.arange(size * size)]
  for dy in (-1, 0, 1):
    for dx in (-1, 0, 1):
      if dx == 0 and dy == 0:
        continue
      nx, ny = xs + dx, ys + dy
      inside = (nx >= 0) & (nx < size) & (ny >= 0) & (ny < size)
      out.append(np.where(inside, ny * size + nx, np.arange(size * size)))
  return np.stack(out, axis=1).astype(np.int32)


def path_distances(passable: np.ndarray, size: int) -> np.ndarray:
  """uint8 [C, C] all-pairs move counts (see `MapTables.distance`)."""
  nbr = neighbour_table(size)
  cells = size * size
  rows, cols = [], []
  for k in range(1, 9):
    src = np.arange(cells)
    ok = passable[src] & (nbr[:, k] != src)
    rows.append(src[ok])
    cols.append(nbr[ok, k])
  graph = csr_matrix((np.ones(sum(len(r) for r in rows)),
                      (np.concatenate(rows), np.concatenate(cols))), shape=(cells, cells))
  dist = csgraph.shortest_path(graph, method='D', unweighted=True, directed=True)
  dist = np.where(np.isfinite(dist), dist, UNREACHABLE)
  return np.minimum(dist, UNREACHABLE).astype(np.uint8)


def _mirror(size: int, cell):
  y, x = np.divmod(cell, size)
  return (size - 1 - y) * size + (size - 1 - x)


def generate(size: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
  """One symmetric map: (passable bool [C], resources int32 [C], start int32 [2], distance).

  Rocks are scattered at `obstacle_density`, a resource field of 4 cells sits beside
  each base, and `size // 8` extra fields lie further out; everything is mirrored.
  Maps whose bases are not connected, or whose fields cannot be reached, are redrawn.
  """
  config = MAP_CONFIGS[size]
  rng = np.random.default_rng(seed)
  cells = size * size
  ys, xs = np.divmod(np.arange(cells), size)
  o = config.base_offset
  base = o * size + o
  for _ in range(1000):
    rock = np.zeros(cells, bool)
    resource = np.zeros(cells, np.int32)
    half = ys * size + xs < cells // 2  # draw in one half, mirror into the other
    rock[half & (rng.random(cells) < config.obstacle_density)] = True
    # Keep the area around each base clear.
    near_base = np.maximum(np.abs(xs - o), np.abs(ys - o)) <= 2
    rock[near_base] = False
    # A home field of 4 cells, diagonal from the base toward the map edge/side.
    home = [(o + 3, o), (o + 3, o + 1), (o, o + 3), (o + 1, o + 3)] if size > 8 else [
        (o + 2, o - 1 if o > 0 else o), (o - 1 if o > 0 else o, o + 2)]
    for x, y in home:
      if 0 <= x < size and 0 <= y < size:
        resource[y * size + x] = config.patch_amount
        rock[y * size + x] = False
    # Extra fields further out (an expansion per side).
    for _ in range(size // 8):
      while True:
        x, y = rng.integers(0, size), rng.integers(0, size)
        d_own = max(abs(x - o), abs(y - o))
        d_other = max(abs(x - (size - 1 - o)), abs(y - (size - 1 - o)))
        if size // 3 <= d_own < d_other and not near_base[y * size + x]:
          break
      for dx, dy in ((0, 0), (1, 0), (0, 1)):
        cx, cy = min(x + dx, size - 1), min(y + dy, size - 1)
        resource[cy * size + cx] = config.patch_amount
        rock[cy * size + cx] = False
    # Mirror.
    mirror = _mirror(size, np.arange(cells))
    rock = rock | rock[mirror]
    resource = np.maximum(resource, resource[mirror])
    rock &= resource == 0
    passable = ~rock & (resource == 0)
    start = np.array([base, _mirror(size, base)], np.int32)
    dist = path_distances(passable, size)
    reach = dist[start[0]]
    if reach[start[1]] >= UNREACHABLE:
      continue
    if np.any(reach[resource > 0] >= UNREACHABLE):
      continue
    return passable, resource.astype(np.int32), start, dist
  raise RuntimeError(f'Could not draw a connected {size}x{size} map from seed {seed}.')


def build_tables(size: int, map_seed: int, num_maps: int) -> MapTables:
  """The pool of `num_maps` maps drawn from `map_seed`."""
  if size not in MAP_CONFIGS:
    raise ValueError(f'Unknown Skirmish map size {size}; known sizes: '
                     f'{sorted(MAP_CONFIGS)}.')
  if num_maps < 1:
    raise ValueError(f'num_maps must be >= 1, got {num_maps}.')
  drawn = [generate(size, map_seed * 100_003 + i) for i in range(num_maps)]
  passable, resources, start, dist = (np.stack(x) for x in zip(*drawn))
  return MapTables(passable=passable, resources=resources, start=start,
                   neighbours=neighbour_table(size), distance=dist)
