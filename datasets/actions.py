"""What a foreign spec leaves out of its actions, read from the data.

Foreign RLDS specs commonly give a discrete action as a bare scalar `int32`/`int64`,
without the number of values the networks need. `infer_num_values` reads every
episode's integer action heads that lack `num_values` and, where the values are
non-negative, sets `num_values = max + 1`; `override_num_values` applies a number the
user gives (a config field), refusing one the data exceeds.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from offline_rl import specs

_READ_BATCH = 256


@dataclasses.dataclass(frozen=True)
class ValueRange:
  """The smallest and largest value an integer action head takes in the data."""
  low: int
  high: int

  def __str__(self):
    return f'{self.low}..{self.high}'


def unsized_heads(spec: specs.EnvSpec) -> list[str]:
  """Paths of scalar integer action heads without `num_values`, e.g. ['action']."""
  return [name for name, leaf in specs.flatten(spec.action).items()
          if leaf.num_values is None and leaf.shape == ()
          and np.dtype(leaf.dtype).kind in 'iu']


def read_ranges(dataset, heads: list[str]) -> dict[str, ValueRange]:
  """The value range of each head over every step of `dataset` (one pass)."""
  keys = {head: _column_key(dataset, head) for head in heads}
  wanted = set(keys.values()) | {dataset.layout.length_column.key}  # Sizes the columns.
  low = {head: np.inf for head in heads}
  high = {head: -np.inf for head in heads}
  for begin in range(0, dataset.num_episodes, _READ_BATCH):
    indices = range(begin, min(begin + _READ_BATCH, dataset.num_episodes))
    for index, raw in zip(indices, dataset.read_raw(list(indices))):
      flat = dataset.episode_flat(index, raw, keys=wanted)
      for head, key in keys.items():
        values = np.asarray(flat[key])
        if values.size:
          low[head] = min(low[head], int(values.min()))
          high[head] = max(high[head], int(values.max()))
  return {head: ValueRange(int(low[head]), int(high[head])) for head in heads
          if np.isfinite(low[head])}


def _column_key(dataset, head: str) -> str:
  """The flat column of an action head: 'steps/action' for a single-array action."""
  single = 'steps/action'
  return single if single in dataset.layout.by_key else f'{single}/{head}'


def with_num_values(spec: specs.EnvSpec, num_values: dict[str, int]) -> specs.EnvSpec:
  """`spec` with the given action heads' `num_values` set (other fields unchanged)."""
  def replace(tree, prefix=''):
    out = {}
    for key, value in tree.items():
      path = f'{prefix}/{key}' if prefix else key
      if isinstance(value, specs.ArraySpec):
        out[key] = (dataclasses.replace(value, num_values=int(num_values[path]))
                    if path in num_values else value)
      else:
        out[key] = replace(value, path)
    return out
  return dataclasses.replace(spec, action=replace(spec.action))


def infer_num_values(dataset) -> tuple[specs.EnvSpec, dict[str, ValueRange]]:
  """(the spec with num_values = max + 1 where it was missing, the ranges read).

  Heads whose data holds negative values keep num_values None (they are not indices).
  """
  heads = unsized_heads(dataset.spec)
  if not heads:
    return dataset.spec, {}
  ranges = read_ranges(dataset, heads)
  sizes = {head: r.high + 1 for head, r in ranges.items() if r.low >= 0}
  return with_num_values(dataset.spec, sizes), ranges


def override_num_values(spec: specs.EnvSpec, num_values: int,
                        ranges: dict[str, ValueRange]) -> specs.EnvSpec:
  """`spec` with its one discrete action head set to `num_values` values.

  Raises:
    ValueError: the action has several heads, or the data holds values outside
      [0, num_values).
  """
  heads = list(specs.flatten(spec.action))
  if len(heads) != 1:
    raise ValueError(f'the action has {len(heads)} heads ({", ".join(heads)}); a single '
                     'number of actions cannot size them. Write the spec into the '
                     "dataset's metadata.json instead (docs/data.md).")
  head = heads[0]
  seen = ranges.get(head)
  if seen is not None and (seen.low < 0 or seen.high >= num_values):
    raise ValueError(f'num_actions={num_values}, but the data holds action values '
                     f'{seen}: set num_actions to at least {seen.high + 1}.')
  return with_num_values(spec, {head: num_values})
