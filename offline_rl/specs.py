"""Specs: one description of an environment's interface.

Shared by the recorder (written into every dataset), the loader (checked against the
environment), the networks (built from it) and the evaluator. Specs are plain frozen
dataclasses that round-trip through JSON, so a dataset carries the spec it was recorded
with.

Conventions:
  * Observations and actions are nested dicts of `ArraySpec` (leaves), per seat: no
    player axis. A single-array action is the dict `{'action': ArraySpec}`.
  * Discrete leaves have `num_values` set: values lie in `[0, num_values)`.
  * `legal_action_mask` has one bool leaf per discrete action head, True = legal.
    A head's mask is `[num_values]`, or `[n_first, num_values]` when it is conditioned
    on the value of the first head (e.g. which units may carry out each function).
  * Action heads are listed in autoregressive order (dict insertion order).
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Mapping

import numpy as np

Nested = Any  # dict[str, Nested] | ArraySpec


@dataclasses.dataclass(frozen=True)
class ArraySpec:
  """Shape and dtype of one array; bounds and `num_values` for discrete values."""
  shape: tuple[int, ...]
  dtype: str
  num_values: int | None = None
  minimum: float | None = None
  maximum: float | None = None

  def __post_init__(self):
    object.__setattr__(self, 'shape', tuple(int(d) for d in self.shape))
    object.__setattr__(self, 'dtype', np.dtype(self.dtype).name)

  def zeros(self, batch_shape: tuple[int, ...] = ()) -> np.ndarray:
    return np.zeros(tuple(batch_shape) + self.shape, self.dtype)

  def describe(self) -> str:
    text = f'{self.dtype}{list(self.shape)}'
    if self.num_values is not None:
      text += f' in [0, {self.num_values})'
    return text


@dataclasses.dataclass(frozen=True)
class EnvSpec:
  """Everything a dataset, a network or an evaluator needs to know of an environment.

  Attributes:
    env_id: registry id, e.g. 'skirmish/16x16'.
    version: environment version; datasets record it.
    num_players: 1 for single-agent environments, 2 for two-player games.
    observation: nested dict of ArraySpec, one seat's observation.
    action: dict of ArraySpec, one seat's action, heads in autoregressive order.
    legal_action_mask: dict of bool ArraySpec keyed like `action`, or None.
    max_episode_steps: agent steps after which an episode is truncated.
    params: JSON-serialisable environment parameters (map size, tick limit, ...).
  """
  env_id: str
  version: str
  num_players: int
  observation: Mapping[str, Nested]
  action: Mapping[str, ArraySpec]
  legal_action_mask: Mapping[str, ArraySpec] | None
  max_episode_steps: int
  params: Mapping[str, Any] = dataclasses.field(default_factory=dict)

  def to_json(self) -> str:
    # Key order is meaningful: action heads are listed in autoregressive order.
    return json.dumps(_to_plain(dataclasses.asdict(self)))

  @classmethod
  def from_json(cls, text: str) -> EnvSpec:
    plain = json.loads(text)
    for key in ('observation', 'action', 'legal_action_mask'):
      if plain[key] is not None:
        plain[key] = _from_plain(plain[key])
    return cls(**plain)


def _to_plain(tree):
  if isinstance(tree, dict):
    return {k: _to_plain(v) for k, v in tree.items()}
  if isinstance(tree, (tuple, list)):
    return [_to_plain(v) for v in tree]
  return tree


def _from_plain(tree):
  if isinstance(tree, dict) and 'shape' in tree and 'dtype' in tree:
    return ArraySpec(**tree)
  return {k: _from_plain(v) for k, v in tree.items()}


def flatten(tree: Nested, prefix: str = '') -> dict[str, ArraySpec]:
  """Flattens a nested spec dict to {'a/b': ArraySpec}."""
  if isinstance(tree, ArraySpec):
    return {prefix: tree}
  out = {}
  for key, value in tree.items():
    out.update(flatten(value, f'{prefix}/{key}' if prefix else key))
  return out


def mismatches(expected: Nested, actual: Nested, path: str = '') -> list[str]:
  """Lists every field where `actual` differs from `expected`, by its path.

  Returns:
    Human-readable lines such as "observation/units: expected float32[24, 8], got
    float32[16, 8]"; empty when the specs agree on shapes, dtypes (integers of any
    width agree) and num_values.
  """
  if expected is None or actual is None:
    if expected is None and actual is None:
      return []
    return [f'{path}: expected {"nothing" if expected is None else "a field"}, '
            f'got {"nothing" if actual is None else "a field"}']
  flat_e, flat_a = flatten(expected, path), flatten(actual, path)
  lines = []
  for name in sorted(set(flat_e) | set(flat_a)):
    e, a = flat_e.get(name), flat_a.get(name)
    if e is None:
      lines.append(f'{name}: unexpected field {a.describe()}')
    elif a is None:
      lines.append(f'{name}: missing field, expected {e.describe()}')
    elif (e.shape, _dtype_class(e.dtype), e.num_values) != (
        a.shape, _dtype_class(a.dtype), a.num_values):
      lines.append(f'{name}: expected {e.describe()}, got {a.describe()}')
  return lines


def _dtype_class(dtype: str) -> str:
  """Integer widths are one class (int32 actions from an env, int64 in a dataset)."""
  return 'integer' if np.dtype(dtype).kind in 'iu' else np.dtype(dtype).name


def spec_mismatches(expected: EnvSpec, actual: EnvSpec) -> list[str]:
  """Every observation, action and mask field where two environment specs differ.

  Compatible, so not listed: integer leaves of different widths, and a legal-action
  mask on one side only (absent means every action is legal).
  """
  lines = []
  for field in ('observation', 'action'):
    lines += mismatches(getattr(expected, field), getattr(actual, field), field)
  if expected.legal_action_mask is not None and actual.legal_action_mask is not None:
    lines += mismatches(expected.legal_action_mask, actual.legal_action_mask,
                        'legal_action_mask')
  if expected.num_players != actual.num_players:
    lines.append(f'num_players: expected {expected.num_players}, '
                 f'got {actual.num_players}')
  return lines
