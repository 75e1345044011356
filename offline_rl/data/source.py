"""Which episodes an input pipeline reads, and how windows are cut from them.

Shared by both backends: the episode-level train/validation split, the metadata filters,
the valid window starts, NaN/inf checks, and turning flat step columns into a `Batch`.

Letters: B windows per batch, T unroll length (a window holds T+1 steps), E episodes,
L steps of one episode, S steps of many episodes laid end to end.

A window starting at step s of an episode of L steps holds steps s..s+T; index 0 is the
step *before* the first trained step. Valid starts are s = -1 .. L-1-T, so every trained
step (indices 1..T) lies inside the episode and an episode gives L-T+1 windows; at
s = -1 index 0 lies before the episode: zero-filled, mask False. Episodes shorter than T
give no window.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from absl import logging
import numpy as np

from offline_rl import batch as batch_lib
from offline_rl import errors
from offline_rl import specs
from offline_rl.data import filters as filters_lib
from offline_rl.datasets import features as features_lib
from offline_rl.datasets import reader as reader_lib

STEP_FIELDS = ('observation', 'action', 'reward', 'discount', 'is_first', 'is_last',
               'is_terminal', 'legal_action_mask')
SPLITS = ('train', 'validation', 'all')
# Observations beyond this magnitude overflow float32 gradients in a network that reads
# them unscaled (1e37 gives grad_norm=inf on every update): warned about once.
HUGE = 1e6
# Numeric per-episode metadata passed on in Batch.metadata (when the dataset has it).
BATCH_METADATA = ('rating', 'outcome', 'episode_return', 'length', 'seat',
                  'opponent_rating')


def split_mask(num_episodes: int, split: str, validation_fraction: float) -> np.ndarray:
  """[E] bool: the episodes of `split`, from a fixed permutation of the episode indices.

  The split depends only on the number of episodes and the fraction (not on the
  iterator's seed), so every run and every agent validates on the same episodes.
  """
  if split not in SPLITS:
    raise ValueError(f'split must be one of {SPLITS}, got {split!r}.')
  if not 0.0 <= validation_fraction < 1.0:
    raise ValueError(f'validation_fraction must be in [0, 1), got {validation_fraction}.')
  if split == 'all':
    return np.ones(num_episodes, bool)
  num_val = int(round(num_episodes * validation_fraction))
  if validation_fraction > 0 and num_episodes >= 2:
    num_val = max(num_val, 1)
  order = np.random.default_rng(20231).permutation(num_episodes)
  validation = np.zeros(num_episodes, bool)
  validation[order[:num_val]] = True
  return validation if split == 'validation' else ~validation


@dataclasses.dataclass
class Selection:
  """The episodes an iterator reads: [E'] indices into the dataset, and their lengths."""
  episodes: np.ndarray  # [E'] int64 dataset episode indices
  lengths: np.ndarray  # [E'] int64
  num_windows: np.ndarray  # [E'] int64 valid window starts per episode (L-T+1)
  skipped_short: int  # selected episodes shorter than T
  observation_keys: tuple[str, ...] = ()  # the observation leaves read (empty: all)


def select(dataset: reader_lib.Dataset, *, unroll_length: int, filters, split: str,
           validation_fraction: float, observation_keys=()) -> Selection:
  """Split, then filter, then drop episodes too short for a window (see module doc).

  `observation_keys` is checked here (see `observation_spec`)."""
  observation_keys = tuple(observation_keys)
  observation_spec(dataset, observation_keys)
  if unroll_length < 1:
    raise ValueError(f'unroll_length must be >= 1, got {unroll_length}.')
  if dataset.num_episodes == 0:
    raise reader_lib.DatasetError(f'{dataset.path} holds no episodes.')
  in_split = split_mask(dataset.num_episodes, split, validation_fraction)
  if not in_split.any():
    raise reader_lib.DatasetError(
        f'the {split!r} split of {dataset.path} is empty ({dataset.num_episodes} '
        f'episodes, validation_fraction={validation_fraction}).')
  keep = filters_lib.select(filters, {k: v[in_split] for k, v in
                                      dataset.metadata.items()})
  episodes = np.flatnonzero(in_split)[keep]
  lengths = dataset.lengths[episodes]
  long_enough = lengths >= unroll_length
  if not long_enough.any():
    raise reader_lib.DatasetError(
        f'unroll_length={unroll_length} is longer than every selected episode (the '
        f'longest has {int(lengths.max())} steps): no window fits. Use an unroll '
        f'length <= {int(lengths.max())}.')
  return Selection(episodes[long_enough], lengths[long_enough],
                   lengths[long_enough] - unroll_length + 1,
                   int((~long_enough).sum()), observation_keys)


def step_columns(dataset: reader_lib.Dataset, observation_keys=()) -> list:
  """The numeric step columns a Batch is made of (text and unknown fields skipped);
  of the observation, only the leaves named in `observation_keys` when it is given."""
  out = []
  for column in dataset.layout.step_columns:
    top = column.path[0]
    if top not in STEP_FIELDS or column.dtype == 'str':
      continue
    if (top == 'observation' and observation_keys and
        ('/'.join(column.path[1:]) or 'observation') not in observation_keys):
      continue
    out.append(column)
  return out


def observation_spec(dataset: reader_lib.Dataset, observation_keys) -> specs.EnvSpec:
  """The dataset's spec keeping the observation leaves named in `observation_keys`
  (flat names, as `specs.flatten` gives them; empty: the whole spec).

  Raises:
    ConfigError: a name that is not a numeric observation leaf, with the known ones.
  """
  if not observation_keys:
    return dataset.spec
  leaves = specs.flatten(dataset.spec.observation)
  unknown = [k for k in observation_keys if k not in leaves]
  if unknown:
    text = (f' (text fields, which cannot be selected: '
            f'{", ".join(dataset.skipped_fields)})' if dataset.skipped_fields else '')
    raise errors.ConfigError(
        f'observation_keys {unknown} are not observation fields of {dataset.path}; '
        f'choose among {sorted(leaves)}{text}.')
  observation: dict = {}
  for key in observation_keys:
    *parents, name = key.split('/')
    node = observation
    for parent in parents:
      node = node.setdefault(parent, {})
    node[name] = leaves[key]
  return dataclasses.replace(dataset.spec, observation=observation)


def nonfinite_fields(flat: dict[str, np.ndarray], columns) -> list[str]:
  """The float step columns of one decoded episode holding NaN or inf."""
  return features_lib.nonfinite_keys(flat, [column.key for column in columns])


def to_batch(dataset: reader_lib.Dataset, columns: dict[str, Any], mask, metadata,
             xp=np) -> batch_lib.Batch:
  """A Batch from gathered step columns {'steps/...': [B, T+1, ...]}."""
  steps = dataset.nest_steps(columns)
  shape = mask.shape
  if 'discount' not in steps:
    steps['discount'] = xp.where(mask, 1.0, 0.0).astype(xp.float32)
  for flag in ('is_first', 'is_last', 'is_terminal'):
    if flag not in steps:
      steps[flag] = xp.zeros(shape, bool)
  return batch_lib.Batch(
      observation=steps['observation'], action=steps['action'],
      reward=steps['reward'], discount=steps['discount'], is_first=steps['is_first'],
      is_last=steps['is_last'], is_terminal=steps['is_terminal'],
      legal_action_mask=steps.get('legal_action_mask'), mask=mask, metadata=metadata)


def huge_fields(flat: dict[str, np.ndarray], columns) -> list[str]:
  """The float observation columns of one decoded episode whose magnitude passes HUGE."""
  out = []
  for c in columns:
    value = np.asarray(flat[c.key])
    if c.path[0] == 'observation' and value.dtype.kind == 'f' and value.size and (
        value.max() > HUGE or value.min() < -HUGE):
      out.append(c.key)
  return out


def warn_huge(dataset: reader_lib.Dataset, episode: int, fields: list[str]) -> None:
  """The one-line warning of `huge_fields` (each backend says it once)."""
  logging.warning(
      'Episode %d of %s holds observations beyond %.0e in %s: unscaled, they make '
      'float32 gradients overflow (grad_norm=inf). Scale the observations.', episode,
      dataset.path, HUGE, ', '.join(fields))


def choice_steps(dataset: reader_lib.Dataset, flat: dict[str, np.ndarray]) -> np.ndarray:
  """[L] bool: the steps of one decoded episode that carry a choice.

  A step carries a choice when it is not the episode's last (which has no action) and
  some action head has at least two legal values, a conditional mask ([n_first, V])
  read at the logged value of the head it is conditioned on; without a mask every head
  of two or more values does. Elsewhere no head is `used` by the policy losses
  (`offline_rl.losses.head_terms`): a waiting seat of a turn-based game (a one-hot
  mask, environments/adapters/turns.py) carries none.
  """
  steps = dataset.nest_steps({k: v for k, v in flat.items() if k.startswith('steps/')})
  heads = specs.flatten(dataset.spec.action)
  actions = _flatten(steps['action'])
  masks = _flatten(steps.get('legal_action_mask') or {})
  length = len(steps['is_last'])
  firsts = [n for n, leaf in heads.items() if n not in masks or masks[n].ndim == 2]
  choice = np.zeros(length, bool)
  for name, leaf in heads.items():
    mask = masks.get(name)
    if mask is None:
      choice |= (leaf.num_values or 2) >= 2
      continue
    if mask.ndim == 3:  # [L, n_first, V]: the row of the logged conditioning value.
      first = next((n for n in firsts if heads[n].num_values == mask.shape[1]), None)
      mask = (mask.any(1) if first is None else
              mask[np.arange(length), np.clip(actions[first], 0, mask.shape[1] - 1)])
    choice |= mask.reshape(length, -1).sum(-1) >= 2
  return choice & ~steps['is_last'].astype(bool)


def _flatten(tree, prefix: str = '') -> dict[str, np.ndarray]:
  """A nested dict of arrays as {'a/b': array}, keyed like `specs.flatten`."""
  if not isinstance(tree, dict):
    return {prefix: tree}
  out = {}
  for key, value in tree.items():
    out.update(_flatten(value, f'{prefix}/{key}' if prefix else key))
  return out


def episode_metadata(dataset: reader_lib.Dataset, episodes: np.ndarray) -> dict:
  """{name: [E'] float32/int32} numeric metadata of the selected episodes."""
  out = {}
  for key in BATCH_METADATA:
    if key in dataset.metadata:
      value = np.asarray(dataset.metadata[key])[episodes]
      if value.dtype.kind in 'biuf':
        out[key] = value.astype(np.int32 if value.dtype.kind in 'biu' else np.float32)
  out['episode'] = episodes.astype(np.int32)
  return out
