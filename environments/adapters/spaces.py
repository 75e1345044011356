"""gymnasium spaces <-> specs: translation, conversion of values, and space checks.

Shared by the gymnasium and PettingZoo adapters. Supported spaces:

  * observations: Box, Discrete, MultiDiscrete, MultiBinary, and Dict / Tuple of these
    (nested). A non-dict observation becomes the dict `{'observation': spec}`; a Tuple
    becomes a dict keyed '0', '1', ...
  * actions: Discrete (one head 'action'), MultiDiscrete (one head per component,
    'action_0', 'action_1', ...), Box (one continuous head 'action'), and a Dict of
    those (one head per key, in the Dict's order).

Dtypes are made JAX-friendly: float64 -> float32, int64 -> int32, uint64 -> uint32.
Discrete values are shifted by the space's `start` so they lie in [0, n).
Box bounds: `ArraySpec.minimum/maximum` hold one number; a Box whose bounds differ per
element stores the envelope (smallest low, largest high) and infinite bounds as None;
the adapters' debug mode checks the exact per-element bounds against the space.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from offline_rl import specs
from offline_rl.environments.adapters import _deps

SUPPORTED_OBSERVATION = 'Box, Discrete, MultiDiscrete, MultiBinary, Dict, Tuple'
SUPPORTED_ACTION = ('Discrete, MultiDiscrete (1-D), Box, and a Dict of those '
                    '(not nested)')
_CANONICAL = {'float64': 'float32', 'int64': 'int32', 'uint64': 'uint32',
              'float16': 'float32'}


class UnsupportedSpaceError(TypeError):
  """A gymnasium space the adapters cannot translate into a spec."""


def _gym_spaces():
  return _deps.require('gymnasium', 'The gymnasium/PettingZoo adapters').spaces


def canonical_dtype(dtype) -> str:
  name = np.dtype(dtype).name
  return _CANONICAL.get(name, name)


def _bound(values, reduce) -> float | None:
  values = np.asarray(values, np.float64)
  if values.size == 0:
    return None
  value = float(reduce(values))
  return value if np.isfinite(value) else None


def observation_spec(space, path: str = 'observation') -> specs.Nested:
  """Translates an observation space into a nested spec (see the module docstring).

  Raises:
    UnsupportedSpaceError: naming the space, its path and what is supported.
  """
  gs = _gym_spaces()
  if isinstance(space, gs.Dict):
    return {key: observation_spec(sub, f'{path}/{key}') for key, sub in space.spaces.items()}
  if isinstance(space, gs.Tuple):
    return {str(i): observation_spec(sub, f'{path}/{i}') for i, sub in enumerate(space.spaces)}
  if isinstance(space, gs.Box):
    dtype = canonical_dtype(space.dtype)
    if dtype == 'bool':
      return specs.ArraySpec(space.shape, 'bool')
    return specs.ArraySpec(space.shape, dtype, minimum=_bound(space.low, np.min),
                           maximum=_bound(space.high, np.max))
  if isinstance(space, gs.Discrete):
    return specs.ArraySpec((), 'int32', num_values=int(space.n))
  if isinstance(space, gs.MultiDiscrete):
    return specs.ArraySpec(space.nvec.shape, 'int32', num_values=int(np.max(space.nvec)))
  if isinstance(space, gs.MultiBinary):
    return specs.ArraySpec(space.shape, 'int8', num_values=2)
  raise UnsupportedSpaceError(
      f'Cannot translate the observation space at {path!r}: {space!r} '
      f'({type(space).__name__}). Supported observation spaces: '
      f'{SUPPORTED_OBSERVATION}. Wrap the environment with a gymnasium '
      'ObservationWrapper that maps it to one of these.')


def observation_converter(space):
  """`convert_observation` for one space, with the dispatch done once (a hot path)."""
  gs = _gym_spaces()
  if isinstance(space, gs.Dict):
    parts = {key: observation_converter(sub) for key, sub in space.spaces.items()}
    return lambda value: {key: f(value[key]) for key, f in parts.items()}
  if isinstance(space, gs.Tuple):
    parts = [observation_converter(sub) for sub in space.spaces]
    return lambda value: {str(i): f(value[i]) for i, f in enumerate(parts)}
  if isinstance(space, (gs.Discrete, gs.MultiDiscrete)):
    start = np.asarray(space.start)
    return lambda value: (np.asarray(value) - start).astype(np.int32)
  dtype = np.dtype('int8' if isinstance(space, gs.MultiBinary) else canonical_dtype(space.dtype))
  return lambda value: np.asarray(value, dtype)


def convert_observation(space, value) -> Any:
  """A raw (batched or single) observation -> nested NumPy arrays keyed like the spec."""
  gs = _gym_spaces()
  if isinstance(space, gs.Dict):
    return {key: convert_observation(sub, value[key]) for key, sub in space.spaces.items()}
  if isinstance(space, gs.Tuple):
    return {str(i): convert_observation(sub, value[i]) for i, sub in enumerate(space.spaces)}
  if isinstance(space, gs.Discrete):
    return (np.asarray(value) - int(space.start)).astype(np.int32)
  if isinstance(space, gs.MultiDiscrete):
    return (np.asarray(value) - np.asarray(space.start)).astype(np.int32)
  if isinstance(space, gs.MultiBinary):
    return np.asarray(value).astype(np.int8)
  return np.asarray(value).astype(canonical_dtype(space.dtype))


def _action_heads(space, name: str, path: str) -> dict[str, tuple[specs.ArraySpec, Any]]:
  gs = _gym_spaces()
  if isinstance(space, gs.Discrete):
    return {name: (specs.ArraySpec((), 'int32', num_values=int(space.n)), space)}
  if isinstance(space, gs.MultiDiscrete) and space.nvec.ndim == 1:
    return {f'{name}_{i}': (specs.ArraySpec((), 'int32', num_values=int(n)), space)
            for i, n in enumerate(space.nvec)}
  if isinstance(space, gs.Box):
    return {name: (specs.ArraySpec(space.shape, canonical_dtype(space.dtype),
                                   minimum=_bound(space.low, np.min),
                                   maximum=_bound(space.high, np.max)), space)}
  raise UnsupportedSpaceError(
      f'Cannot translate the action space at {path!r}: {space!r} '
      f'({type(space).__name__}). Supported action spaces: {SUPPORTED_ACTION}. '
      'Wrap the environment with a gymnasium ActionWrapper that maps one of these '
      'onto it.')


class ActionCodec:
  """Translates an action space into heads and protocol actions back into it.

  Attributes:
    spec: dict of head name -> ArraySpec, in the space's order.
    mask_spec: dict of bool ArraySpec [num_values] for each discrete head (or None
      when there is no discrete head).
  """

  def __init__(self, space):
    gs = _gym_spaces()
    self.space = space
    if isinstance(space, gs.Dict):
      self._heads = {}
      for key, sub in space.spaces.items():
        if isinstance(sub, (gs.Dict, gs.Tuple)):
          _action_heads(sub, key, f'action/{key}')  # Raises with the path named.
        self._heads.update(_action_heads(sub, key, f'action/{key}'))
    else:
      self._heads = _action_heads(space, 'action', 'action')
    self.spec = {name: head for name, (head, _) in self._heads.items()}
    masks = {name: specs.ArraySpec((head.num_values,), 'bool')
             for name, head in self.spec.items() if head.num_values is not None}
    self.mask_spec = masks or None
    self._gs = gs
    self._discrete_start = int(space.start) if isinstance(space, gs.Discrete) else None
    self._all_legal = {}

  def to_env(self, action: dict) -> Any:
    """Protocol heads (NumPy, any leading batch shape) -> the space's action(s)."""
    gs = self._gs
    if self._discrete_start is not None:  # The common case: one Discrete head.
      return np.asarray(action['action']).astype(np.int64) + self._discrete_start

    def one(space, name):
      if isinstance(space, gs.Discrete):
        return np.asarray(action[name]).astype(np.int64) + int(space.start)
      if isinstance(space, gs.MultiDiscrete):
        parts = [np.asarray(action[f'{name}_{i}']) for i in range(len(space.nvec))]
        return np.stack(parts, -1).astype(space.dtype) + np.asarray(space.start)
      return np.asarray(action[name]).astype(space.dtype)

    if isinstance(self.space, gs.Dict):
      return {key: one(sub, key) for key, sub in self.space.spaces.items()}
    return one(self.space, 'action')

  def all_legal(self, batch_shape: tuple[int, ...]) -> dict | None:
    """All-True masks (fresh arrays) for each discrete head."""
    if self.mask_spec is None:
      return None
    return {name: np.ones(batch_shape + m.shape, bool) for name, m in self.mask_spec.items()}

  def all_legal_shared(self, batch_shape: tuple[int, ...]) -> dict | None:
    """Like `all_legal`, but read-only arrays reused across calls (a hot path)."""
    if batch_shape not in self._all_legal:
      masks = self.all_legal(batch_shape)
      for m in (masks or {}).values():
        m.flags.writeable = False
      self._all_legal[batch_shape] = masks
    return self._all_legal[batch_shape]

  def masks_from(self, raw_mask, batch_shape: tuple[int, ...]) -> dict | None:
    """An environment's mask (array for a single discrete head, or dict by head; any
    truthy dtype) -> dict of bool masks; heads it leaves out are all-True."""
    masks = self.all_legal(batch_shape)
    if masks is None or raw_mask is None:
      return masks
    if not isinstance(raw_mask, dict):
      if len(masks) != 1:
        raise ValueError(
            f'The environment gave one action mask but the action has heads '
            f'{list(masks)}; give a dict of masks keyed by head.')
      raw_mask = {next(iter(masks)): raw_mask}
    for name, value in raw_mask.items():
      if name.startswith('_'):  # gymnasium vector envs' "present" flags.
        continue
      if name not in masks:
        raise ValueError(f'Action mask for unknown head {name!r}; heads: {list(masks)}.')
      value = np.asarray(value).astype(bool)
      masks[name] = np.broadcast_to(value, masks[name].shape).copy()
    return masks


def violations(space, value, path: str = 'observation') -> list[str]:
  """Why one (unbatched) raw value is not in `space`: dtype, shape, bounds, keys."""
  gs = _gym_spaces()
  if isinstance(space, gs.Dict):
    if not isinstance(value, dict):
      return [f'{path}: expected a dict with keys {list(space.spaces)}, got '
              f'{type(value).__name__}']
    lines = [f'{path}: missing key {k!r}' for k in space.spaces if k not in value]
    lines += [f'{path}: unexpected key {k!r}' for k in value if k not in space.spaces]
    for key, sub in space.spaces.items():
      if key in value:
        lines += violations(sub, value[key], f'{path}/{key}')
    return lines
  if isinstance(space, gs.Tuple):
    if len(value) != len(space.spaces):
      return [f'{path}: expected a tuple of {len(space.spaces)}, got {len(value)} items']
    lines = []
    for i, sub in enumerate(space.spaces):
      lines += violations(sub, value[i], f'{path}/{i}')
    return lines
  array = np.asarray(value)
  if isinstance(space, gs.Discrete):
    if array.shape != () or not np.issubdtype(array.dtype, np.integer):
      return [f'{path}: expected one integer for {space}, got {array.dtype}{list(array.shape)}']
    if not space.start <= int(array) < space.start + space.n:
      return [f'{path}: value {int(array)} outside {space}']
    return []
  if tuple(array.shape) != tuple(space.shape):
    return [f'{path}: expected shape {tuple(space.shape)} for {space}, got {tuple(array.shape)}']
  if space.dtype is not None and array.dtype != space.dtype:
    return [f'{path}: expected dtype {space.dtype} for {space}, got {array.dtype}']
  if isinstance(space, gs.Box):
    low, high = np.broadcast_to(space.low, array.shape), np.broadcast_to(space.high, array.shape)
    bad = np.argwhere(~((array >= low) & (array <= high)) | np.isnan(array.astype(float)))
    if len(bad):
      index = tuple(int(i) for i in bad[0])
      return [f'{path}: {len(bad)} value(s) outside {space}; first at index '
              f'{list(index)}: {array[index].item()!r} not in '
              f'[{low[index].item()!r}, {high[index].item()!r}]']
    return []
  if not space.contains(array):
    return [f'{path}: value {array!r} not in {space}']
  return []
