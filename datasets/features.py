"""RLDS features in TFDS terms: built from an EnvSpec, read back into columns, inferred.

An RLDS episode is one TFDS example: `steps` (a `tfds.features.Dataset` of step dicts)
plus `episode_metadata` (scalars). On disk each step field is one flat column. A
`Layout` lists those columns with the dtype and per-step shape needed to turn the raw
wire values (see `wire`) back into arrays `[L, ...]` (L steps), and back again.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np

from offline_rl import specs
from offline_rl.datasets import _lazy
from offline_rl.datasets import wire

STEP_SCALARS = ('reward', 'discount')
STEP_FLAGS = ('is_first', 'is_last', 'is_terminal')

# Episode metadata written by `record`, with the value used when a dataset lacks it.
METADATA_DEFAULTS = {
    'env_id': '', 'env_version': '', 'env_params': '{}', 'seed': -1, 'seat': 0,
    'policy_id': '', 'rating': np.nan, 'opponent_policy_id': '',
    'opponent_rating': np.nan, 'outcome': np.nan, 'length': 0,
    'episode_return': np.nan,
}
_METADATA_DTYPES = {
    'env_id': 'str', 'env_version': 'str', 'env_params': 'str', 'seed': 'int64',
    'seat': 'int32', 'policy_id': 'str', 'rating': 'float32',
    'opponent_policy_id': 'str', 'opponent_rating': 'float32', 'outcome': 'float32',
    'length': 'int32', 'episode_return': 'float32',
}


def _tensor(array_spec: specs.ArraySpec):
  tfds = _lazy.tfds()
  return tfds.features.Tensor(shape=array_spec.shape, dtype=np.dtype(array_spec.dtype))


def _nested(tree):
  if isinstance(tree, specs.ArraySpec):
    return _tensor(tree)
  return {key: _nested(value) for key, value in tree.items()}


def episode_features(spec: specs.EnvSpec):
  """The TFDS `FeaturesDict` of an RLDS episode recorded from `spec` (one seat)."""
  tfds = _lazy.tfds()
  steps = {
      'observation': _nested(spec.observation),
      'action': _nested(spec.action),
      'reward': tfds.features.Scalar(np.float32),
      'discount': tfds.features.Scalar(np.float32),
      'is_first': np.bool_, 'is_last': np.bool_, 'is_terminal': np.bool_,
  }
  if spec.legal_action_mask is not None:
    steps['legal_action_mask'] = _nested(spec.legal_action_mask)
  metadata = {}
  for key, dtype in _METADATA_DTYPES.items():
    metadata[key] = tfds.features.Text() if dtype == 'str' else tfds.features.Scalar(
        np.dtype(dtype))
  return tfds.features.FeaturesDict({
      'steps': tfds.features.Dataset(steps),
      'episode_metadata': metadata,
  })


@dataclasses.dataclass(frozen=True)
class Column:
  """One flat column of an episode record.

  Attributes:
    key: the flat wire key, e.g. 'steps/observation/position'.
    path: the nested path below 'steps' or 'episode_metadata', e.g. ('observation',
      'position').
    per_step: True for step fields (values [L, *shape]); False for episode metadata.
    shape: the per-step (or per-episode) shape.
    dtype: the NumPy dtype name ('str' for text).
    kind: wire.FLOAT / wire.INT64 / wire.BYTES.
    feature: the TFDS leaf feature (used to decode encoded images and the like).
  """
  key: str
  path: tuple[str, ...]
  per_step: bool
  shape: tuple[int, ...]
  dtype: str
  kind: int
  feature: Any = None

  @property
  def needs_tfds_decoding(self) -> bool:
    """True when values are encoded bytes (images, ...) that decode to numbers."""
    return self.kind == wire.BYTES and self.dtype != 'str'


def _leaves(feature, path=()):
  tfds = _lazy.tfds()
  if isinstance(feature, tfds.features.FeaturesDict):
    for key in feature.keys():
      yield from _leaves(feature[key], path + (key,))
  else:
    yield path, feature


def _kind(np_dtype) -> int:
  np_dtype = np.dtype(np_dtype)
  if np_dtype.kind in 'biu':
    return wire.INT64
  if np_dtype.kind == 'f':
    return wire.FLOAT
  return wire.BYTES


class Layout:
  """The flat columns of an RLDS `FeaturesDict` (see the module docstring)."""

  def __init__(self, features):
    tfds = _lazy.tfds()
    self.features = features
    if 'steps' not in features.keys():
      raise ValueError('the features have no "steps" field, so this is not an RLDS '
                       f'dataset (fields: {sorted(features.keys())}).')
    steps = features['steps']
    if not isinstance(steps, (tfds.features.Dataset, tfds.features.Sequence)):
      raise ValueError('"steps" is not a tfds.features.Dataset; not an RLDS dataset.')
    self.columns: list[Column] = []
    for path, leaf in _leaves(steps.feature):
      self.columns.append(self._column(('steps',), path, leaf, per_step=True))
    for key in features.keys():
      if key == 'steps':
        continue
      for path, leaf in _leaves(features[key], (key,)):
        self.columns.append(self._column((), path, leaf, per_step=False))
    self.by_key = {c.key: c for c in self.columns}
    self._prefixes = {c.key: wire.key_prefix(c.key) for c in self.columns}
    self.step_columns = [c for c in self.columns if c.per_step]
    self.episode_columns = [c for c in self.columns if not c.per_step]
    # A cheap column to learn an episode's length from.
    flags = [c for c in self.step_columns if c.path in (('is_first',), ('is_last',))]
    self.length_column = (flags or self.step_columns)[0]

  @staticmethod
  def _column(prefix, path, leaf, per_step) -> Column:
    tfds = _lazy.tfds()
    info = leaf.get_serialized_info()
    if isinstance(info, dict):
      raise ValueError(f'field {"/".join(prefix + path)} uses an unsupported '
                       f'feature type {type(leaf).__name__}.')
    if isinstance(leaf, tfds.features.Text):
      dtype = 'str'
    else:
      dtype = np.dtype(leaf.np_dtype).name if leaf.np_dtype != object else 'str'
    shape = tuple(-1 if d is None else int(d) for d in leaf.shape)
    return Column(key='/'.join(prefix + path), path=path, per_step=per_step,
                  shape=shape, dtype=dtype, kind=_kind(info.np_dtype)
                  if info.np_dtype != object else wire.BYTES, feature=leaf)

  def decode(self, record: bytes, *, steps: bool = True, keys=None) -> dict:
    """{flat key: array} of one record; step columns are [L, *shape].

    Args:
      record: a serialised episode.
      steps: decode the step columns too (False: metadata and the length only).
      keys: optional flat keys to restrict to.
    Returns:
      Flat dict; '__length__' holds L.
    """
    wanted = keys
    if not steps:
      wanted = {c.key for c in self.episode_columns} | {self.length_column.key}
    raw = wire.decode_example(record, wanted)
    out = {}
    length = None
    lc = self.length_column
    if lc.key in raw and raw[lc.key] is not None:
      size = int(np.prod([d for d in lc.shape if d > 0])) if lc.shape else 1
      length = len(raw[lc.key]) // max(size, 1)
    for column in self.columns:
      if wanted is not None and column.key not in wanted:
        continue
      value = raw.get(column.key)
      out[column.key] = self._to_array(column, value, length)
    out['__length__'] = 0 if length is None else length
    return out

  @staticmethod
  def _to_array(column: Column, value, length):
    lead = (length if length is not None else 0,) if column.per_step else ()
    if column.dtype == 'str':
      items = [] if value is None else [v.decode('utf-8', 'replace') for v in value]
      if not column.per_step and not column.shape:
        return items[0] if items else ''
      return np.array(items, object).reshape(lead + column.shape)
    if column.needs_tfds_decoding:
      items = [] if value is None else value
      decoded = [np.asarray(column.feature.decode_example_np(v)) for v in items]
      if not column.per_step:
        return decoded[0] if decoded else np.zeros(column.shape, column.dtype)
      if not decoded:
        return np.zeros((0,) + tuple(max(d, 0) for d in column.shape), column.dtype)
      return np.stack(decoded)
    if value is None:
      value = np.zeros(0, np.float32 if column.kind == wire.FLOAT else np.int64)
    array = np.asarray(value)
    if column.dtype == 'bool':
      array = array != 0
    elif array.dtype != np.dtype(column.dtype):
      array = array.astype(column.dtype)
    if column.per_step:
      return array.reshape(lead + column.shape)
    if not column.shape:
      if array.size != 1:
        raise wire.WireError(f'{column.key}: expected one value, got {array.size}')
      return array.reshape(())
    return array.reshape(column.shape)

  def encode(self, flat: dict) -> bytes:
    """Serialises {flat key: array} (step columns [L, ...]) into one record."""
    encoded = {}
    for column in self.columns:
      value = flat[column.key]
      if column.kind == wire.BYTES:
        if column.needs_tfds_decoding:
          raise ValueError(f'{column.key}: writing encoded features is not supported.')
        if isinstance(value, (str, bytes)):
          value = [value]
        value = [v.encode() if isinstance(v, str) else bytes(v)
                 for v in np.asarray(value, object).reshape(-1)]
      encoded[column.key] = wire.encode_feature(column.kind, value)
    return wire.encode_example(encoded, self._prefixes)


def nest(flat: dict, prefix: str) -> dict:
  """{'steps/a/b': x} -> {'a': {'b': x}} for keys under `prefix`."""
  out: dict = {}
  start = len(prefix) + 1
  for key, value in flat.items():
    if not key.startswith(prefix + '/'):
      continue
    parts = key[start:].split('/')
    node = out
    for part in parts[:-1]:
      node = node.setdefault(part, {})
    node[parts[-1]] = value
  return out


def _spec_tree(node: dict, column_of) -> Any:
  return {k: (_spec_tree(v, column_of) if isinstance(v, dict) else column_of(v))
          for k, v in node.items()}


def text_observation_keys(layout: Layout) -> list[str]:
  """The text (non-numeric) observation columns, e.g. a language instruction."""
  return [c.key for c in layout.step_columns
          if c.dtype == 'str' and c.key.startswith('steps/observation')]


def infer_spec(layout: Layout, *, env_id: str, version: str,
               max_episode_steps: int) -> specs.EnvSpec:
  """An EnvSpec read from the step features of a dataset written by someone else.

  A single-array observation or action becomes the dict {'observation': ...} or
  {'action': ...} (the EnvSpec convention). Discrete actions are recognised from
  `ClassLabel` features (num_values = num_classes); other integer actions carry no
  num_values. Text observation fields (`text_observation_keys`) are left out: the
  networks train on numbers.
  """
  tfds = _lazy.tfds()
  skipped = set(text_observation_keys(layout))
  tree = nest({c.key: c for c in layout.step_columns if c.key not in skipped}, 'steps')

  def leaf(column: Column):
    num_values = None
    if isinstance(column.feature, tfds.features.ClassLabel):
      num_values = column.feature.num_classes
    if column.dtype == 'str':
      raise ValueError(f'{column.key} holds text; only numeric step fields can be '
                       'trained on.')
    shape = tuple(max(d, 0) for d in column.shape)
    return specs.ArraySpec(shape, column.dtype, num_values=num_values)

  def field(name):
    if name not in tree:
      return None
    node = tree[name]
    if isinstance(node, Column):
      return {name: leaf(node)}
    return _spec_tree(node, leaf)

  observation, action = field('observation'), field('action')
  if observation is None or action is None:
    raise ValueError('the steps have no "observation" or no "action" field; an RLDS '
                     'dataset needs both (step fields: '
                     f'{sorted(k for k in tree)}).')
  return specs.EnvSpec(
      env_id=env_id, version=version, num_players=1, observation=observation,
      action=action, legal_action_mask=field('legal_action_mask'),
      max_episode_steps=int(max_episode_steps), params={})


def nonfinite_keys(flat: dict[str, np.ndarray], keys) -> list[str]:
  """The `keys` of one episode's flat columns whose floats hold NaN or inf."""
  return [key for key in keys
          if np.asarray(flat[key]).dtype.kind == 'f' and not np.isfinite(flat[key]).all()]


def metadata_json(spec: specs.EnvSpec) -> str:
  return json.dumps(dict(spec.params), sort_keys=True)
