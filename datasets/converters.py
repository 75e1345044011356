"""Importers (Minari, D4RL-style HDF5) and format conversion, all into RLDS.

Imported episodes follow the RLDS step alignment (as every dataset of the project): a
transition list (o_t, a_t, r_t, done_t), t < K, becomes K+1 steps whose step t holds
o_t, a_t, the reward r_t *for* a_t and the discount after it (0 on the transition into a
terminal state); the last step holds the final observation, no action and no reward
(zeros), is_last, and is_terminal/discount 0 when the episode terminated (rather than
being truncated).
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
from typing import Iterable

import numpy as np

from offline_rl import specs
from offline_rl.datasets import features as features_lib
from offline_rl.datasets import reader as reader_lib
from offline_rl.datasets import writer as writer_lib


def write_episodes(path, spec: specs.EnvSpec, episodes: Iterable[tuple[dict, dict]], *,
                   file_format: str = 'tfrecord', episodes_per_shard: int = 1000,
                   overwrite: bool = False, extra: dict | None = None,
                   features=None, nonfinite: str = 'refuse') -> reader_lib.Dataset:
  """Writes (flat step columns, metadata) pairs atomically as an RLDS dataset.

  `nonfinite`: what an episode with NaN or inf in a step field does: 'refuse' stops
  (DatasetError, nothing written), 'drop' skips it (the count is stored in
  offline_rl.json as 'dropped_nonfinite_episodes'), 'keep' writes it.
  """
  if nonfinite not in ('refuse', 'drop', 'keep'):
    raise ValueError(f"nonfinite must be 'refuse', 'drop' or 'keep', got {nonfinite!r}.")
  path = pathlib.Path(os.fspath(path)).expanduser().absolute()
  if path.exists() and not overwrite:
    raise reader_lib.DatasetError(f'{path} already exists. Choose another path, or pass '
                                  'overwrite=True (--overwrite) to replace it.')
  if file_format not in writer_lib.FORMATS:
    raise ValueError(f'file_format must be one of {writer_lib.FORMATS}, got '
                     f'{file_format!r}.')
  tmp = writer_lib.incomplete_dir(path)
  if tmp.exists():
    shutil.rmtree(tmp)
  writer_lib.make_incomplete_dir(path)
  features = features or features_lib.episode_features(spec)
  layout = features_lib.Layout(features)
  shards, current, in_shard = [], None, 0
  extra = dict(extra or {}, dropped_nonfinite_episodes=0)
  try:
    for number, (steps, metadata) in enumerate(episodes):
      bad = [] if nonfinite == 'keep' else features_lib.nonfinite_keys(
          steps, [k for k in steps if k.startswith('steps/')])
      if bad and nonfinite == 'refuse':
        raise reader_lib.DatasetError(
            f'episode {number} of the source holds NaN or inf in {", ".join(bad)}. '
            'Clean the source, or pass drop_nonfinite=True (--drop_nonfinite) to skip '
            'such episodes.')
      if bad:
        extra['dropped_nonfinite_episodes'] += 1
        continue
      if current is None:
        current, in_shard = writer_lib.ShardWriter(tmp, len(shards), layout,
                                                   file_format), 0
      current.add(steps, metadata)
      in_shard += 1
      if in_shard >= episodes_per_shard:
        shards.append(current.close())
        current = None
    if current is not None:
      shards.append(current.close())
    if not shards:
      raise reader_lib.DatasetError('there were no episodes to write.')
    writer_lib.finalize(tmp, path, spec, features, shards, file_format, extra)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  return reader_lib.load(path)


def transitions_to_steps(observations, actions, rewards, terminated: bool,
                         final_observation) -> dict[str, np.ndarray]:
  """Flat RLDS step columns [K+1, ...] from K transitions (see the module docstring).

  Args:
    observations: {name: [K, ...]} o_0..o_{K-1}.
    actions: {name: [K, ...]}.
    rewards: [K].
    terminated: the episode ended by the rules after the last transition.
    final_observation: {name: [...]} o_K.
  """
  k = len(rewards)
  flat = {}
  for name, value in observations.items():
    flat[f'steps/observation/{name}'] = np.concatenate(
        [np.asarray(value), np.asarray(final_observation[name])[None]])
  for name, value in actions.items():
    value = np.asarray(value)
    flat[f'steps/action/{name}'] = np.concatenate([value, np.zeros_like(value[:1])])
  reward = np.zeros(k + 1, np.float32)
  reward[:k] = np.asarray(rewards, np.float32)
  flat['steps/reward'] = reward
  discount = np.ones(k + 1, np.float32)
  if terminated:
    discount[-2:] = 0.0
  flat['steps/discount'] = discount
  flat['steps/is_first'] = np.arange(k + 1) == 0
  flat['steps/is_last'] = np.arange(k + 1) == k
  flat['steps/is_terminal'] = (np.arange(k + 1) == k) & bool(terminated)
  return flat


def _metadata(spec, flat, seed=-1, policy_id='') -> dict:
  ret = float(np.sum(flat['steps/reward']))
  return {
      'env_id': spec.env_id, 'env_version': spec.version,
      'env_params': features_lib.metadata_json(spec), 'seed': np.int64(seed),
      'seat': np.int32(0), 'policy_id': policy_id, 'rating': np.float32(np.nan),
      'opponent_policy_id': '', 'opponent_rating': np.float32(np.nan),
      'outcome': np.float32(ret), 'length': np.int32(len(flat['steps/reward'])),
      'episode_return': np.float32(ret),
  }


# ------------------------------------------------------------------ Minari


def _space_spec(space, name: str) -> dict:
  import gymnasium as gym  # pylint: disable=g-import-not-at-top
  if isinstance(space, gym.spaces.Dict):
    out = {}
    for key, sub in space.spaces.items():
      out.update({f'{key}/{k}' if k != key else key: v
                  for k, v in _space_spec(sub, key).items()})
    return out
  if isinstance(space, gym.spaces.Discrete):
    return {name: specs.ArraySpec((), 'int64', num_values=int(space.n))}
  if isinstance(space, gym.spaces.Box):  # Bounds squash a continuous action's policy.
    low, high = float(np.min(space.low)), float(np.max(space.high))
    return {name: specs.ArraySpec(space.shape, space.dtype.name,
                                  minimum=low if np.isfinite(low) else None,
                                  maximum=high if np.isfinite(high) else None)}
  if isinstance(space, gym.spaces.MultiBinary):
    return {name: specs.ArraySpec(space.shape, 'int8')}
  raise ValueError(f'the Minari importer handles Box, Discrete, MultiBinary and Dict '
                   f'spaces; got {space}.')


def _nest(flat: dict):
  out: dict = {}
  for key, value in flat.items():
    parts = key.split('/')
    node = out
    for part in parts[:-1]:
      node = node.setdefault(part, {})
    node[parts[-1]] = value
  return out


def _flatten_data(data, name: str) -> dict:
  if isinstance(data, dict):
    out = {}
    for key, value in data.items():
      out.update({f'{key}/{k}' if k != key else key: v
                  for k, v in _flatten_data(value, key).items()})
    return out
  return {name: np.asarray(data)}


def _minari_max_episode_steps(dataset) -> int:
  """The recorded environment's time limit, else the longest episode (in steps)."""
  env_spec = dataset.spec.env_spec
  if env_spec is not None and env_spec.max_episode_steps:
    return int(env_spec.max_episode_steps)
  return int(max(len(e.rewards) for e in dataset.iterate_episodes())) + 1


def import_minari(dataset, destination, *, file_format: str = 'tfrecord',
                  overwrite: bool = False,
                  drop_nonfinite: bool = False) -> reader_lib.Dataset:
  """Converts a Minari dataset (an id in the local Minari root, or a MinariDataset).

  Episodes holding NaN/inf are refused, or skipped with `drop_nonfinite`.
  """
  import minari  # pylint: disable=g-import-not-at-top
  if isinstance(dataset, str):
    try:
      dataset = minari.load_dataset(dataset)
    except Exception as e:  # pylint: disable=broad-except
      raise reader_lib.DatasetError(
          f'cannot open the Minari dataset {dataset!r}: {e}. List local ones with '
          '`minari list local`; MINARI_DATASETS_PATH sets where they live.') from e
  dataset_id = dataset.spec.dataset_id
  obs_specs = _space_spec(dataset.observation_space, 'observation')
  act_specs = _space_spec(dataset.action_space, 'action')
  spec = specs.EnvSpec(
      env_id=f'minari/{dataset_id}', version=str(getattr(dataset.spec, 'minari_version',
                                                         '')),
      num_players=1, observation=_nest(obs_specs), action=_nest(act_specs),
      legal_action_mask=None,
      max_episode_steps=_minari_max_episode_steps(dataset),
      params={'minari_dataset_id': dataset_id})

  def episodes():
    for episode in dataset.iterate_episodes():
      obs = _flatten_data(episode.observations, 'observation')
      acts = _flatten_data(episode.actions, 'action')
      k = len(episode.rewards)
      flat = transitions_to_steps(
          {n: np.asarray(v[:k], obs_specs[n].dtype) for n, v in obs.items()},
          {n: np.asarray(v, act_specs[n].dtype) for n, v in acts.items()},
          episode.rewards, bool(np.asarray(episode.terminations)[-1]),
          {n: np.asarray(v[k], obs_specs[n].dtype) for n, v in obs.items()})
      yield flat, _metadata(spec, flat, seed=int(episode.id))

  return write_episodes(destination, spec, episodes(), file_format=file_format,
                        overwrite=overwrite,
                        nonfinite='drop' if drop_nonfinite else 'refuse',
                        extra={'imported_from': f'minari:{dataset_id}'})


# ------------------------------------------------------------------ D4RL


def import_d4rl(hdf5_path, destination, *, env_id: str | None = None,
                file_format: str = 'tfrecord', num_actions: int | None = None,
                overwrite: bool = False,
                drop_nonfinite: bool = False) -> reader_lib.Dataset:
  """Converts a D4RL-style HDF5 file (observations, actions, rewards, terminals, and
  optionally timeouts / next_observations) into RLDS.

  Episodes end at `terminals | timeouts` (and at the end of the file). The final
  observation of an episode is `next_observations[last]` when the file has that key.
  Without it, a terminated episode keeps every transition (the terminal one needs no
  next observation: its discount is 0; the final step repeats the last observation),
  while a truncated episode's last transition only provides the final observation (its
  action and reward are dropped: bootstrapping would need s_{t+1}).
  Integer actions are treated as discrete with `num_actions` values (default max + 1).
  Episodes holding NaN/inf are refused, or skipped with `drop_nonfinite`.
  """
  import h5py  # pylint: disable=g-import-not-at-top
  hdf5_path = pathlib.Path(os.fspath(hdf5_path))
  if not hdf5_path.exists():
    raise reader_lib.DatasetError(f'{hdf5_path} does not exist.')
  try:
    f = h5py.File(hdf5_path, 'r')
  except OSError as e:
    raise reader_lib.DatasetError(f'{hdf5_path} is not a readable HDF5 file: {e}') from e
  with f:
    missing = [k for k in ('observations', 'actions', 'rewards', 'terminals')
               if k not in f]
    if missing:
      raise reader_lib.DatasetError(
          f'{hdf5_path} lacks the D4RL keys {missing} (it has {sorted(f.keys())}); a '
          'D4RL file holds observations, actions, rewards, terminals [and timeouts].')
    observations = np.asarray(f['observations'])
    actions = np.asarray(f['actions'])
    rewards = np.asarray(f['rewards'], np.float32).reshape(-1)
    terminals = np.asarray(f['terminals']).reshape(-1).astype(bool)
    timeouts = (np.asarray(f['timeouts']).reshape(-1).astype(bool) if 'timeouts' in f
                else np.zeros_like(terminals))
    next_obs = np.asarray(f['next_observations']) if 'next_observations' in f else None
    attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
  n = len(rewards)
  if not (len(observations) == len(actions) == len(terminals) == n):
    raise reader_lib.DatasetError(
        f'{hdf5_path}: observations, actions, rewards and terminals differ in length '
        f'({len(observations)}, {len(actions)}, {n}, {len(terminals)}).')
  if actions.dtype.kind in 'iu':
    action_spec = specs.ArraySpec(actions.shape[1:], 'int64',
                                  num_values=int(num_actions or actions.max() + 1))
  else:
    action_spec = specs.ArraySpec(actions.shape[1:], 'float32')
  spec = specs.EnvSpec(
      env_id=env_id or str(attrs.get('env_id', f'd4rl/{hdf5_path.stem}')),
      version='0', num_players=1,
      observation={'observation': specs.ArraySpec(observations.shape[1:], 'float32')},
      action={'action': action_spec}, legal_action_mask=None, max_episode_steps=0,
      params={'source': hdf5_path.name})
  ends = np.flatnonzero(terminals | timeouts)
  if not ends.size or ends[-1] != n - 1:
    ends = np.append(ends, n - 1)
  bounds = list(zip(np.concatenate([[0], ends[:-1] + 1]), ends + 1))
  max_len = int(max(e - b for b, e in bounds)) + 1
  spec = specs.EnvSpec(**{**spec.__dict__, 'max_episode_steps': max_len})
  obs_dtype, act_dtype = np.float32, np.dtype(action_spec.dtype)

  def episodes():
    for begin, end in bounds:
      terminated = bool(terminals[end - 1])
      if next_obs is not None:
        flat = transitions_to_steps(
            {'observation': observations[begin:end].astype(obs_dtype)},
            {'action': actions[begin:end].astype(act_dtype)}, rewards[begin:end],
            terminated, {'observation': next_obs[end - 1].astype(obs_dtype)})
      elif terminated:
        # The terminal transition needs no next observation (its discount is 0): keep
        # it, and its reward; the final step repeats the last observation.
        flat = transitions_to_steps(
            {'observation': observations[begin:end].astype(obs_dtype)},
            {'action': actions[begin:end].astype(act_dtype)}, rewards[begin:end],
            True, {'observation': observations[end - 1].astype(obs_dtype)})
      else:
        if end - begin < 2:
          continue
        # Truncated: the last transition lacks the next observation that bootstrapping
        # needs, so it only supplies the final observation.
        flat = transitions_to_steps(
            {'observation': observations[begin:end - 1].astype(obs_dtype)},
            {'action': actions[begin:end - 1].astype(act_dtype)},
            rewards[begin:end - 1], False,
            {'observation': observations[end - 1].astype(obs_dtype)})
      yield flat, _metadata(spec, flat)

  return write_episodes(destination, spec, episodes(), file_format=file_format,
                        overwrite=overwrite,
                        nonfinite='drop' if drop_nonfinite else 'refuse',
                        extra={'imported_from': f'd4rl:{hdf5_path.name}',
                               'hdf5_attrs': json.loads(json.dumps(attrs, default=str))})


# ------------------------------------------------------------------ conversion


def convert(source, destination, *, file_format: str = 'array_record',
            episodes_per_shard: int = 1000, overwrite: bool = False) -> reader_lib.Dataset:
  """Rewrites any loadable RLDS dataset in `file_format` (records copied unchanged)."""
  dataset = source if isinstance(source, reader_lib.Dataset) else reader_lib.load(source)
  path = pathlib.Path(os.fspath(destination)).expanduser().absolute()
  if path.exists() and not overwrite:
    raise reader_lib.DatasetError(f'{path} already exists. Choose another path, or pass '
                                  'overwrite=True (--overwrite) to replace it.')
  tmp = writer_lib.incomplete_dir(path)
  if tmp.exists():
    shutil.rmtree(tmp)
  writer_lib.make_incomplete_dir(path)
  shards, current, count = [], None, 0
  try:
    for begin in range(0, dataset.num_episodes, episodes_per_shard):
      indices = np.arange(begin, min(begin + episodes_per_shard, dataset.num_episodes))
      current = writer_lib.ShardWriter(tmp, len(shards), dataset.layout, file_format)
      for i, raw in zip(indices, dataset.read_raw(indices)):
        dataset._verify(int(i), raw)  # pylint: disable=protected-access
        current._records.write(raw)  # pylint: disable=protected-access
        current.num_bytes += len(raw)
        for key, column in dataset.metadata.items():
          value = column[i]
          current.metadata.setdefault(key, []).append(
              value.item() if isinstance(value, np.generic) else value)
        count += 1
      shards.append(current.close())
    extra = {k: v for k, v in dataset.recording.items()
             if k not in ('env_spec', 'files', 'format_version')}
    extra['converted_from'] = str(dataset.path)
    writer_lib.finalize(tmp, path, dataset.spec, dataset.features, shards, file_format,
                        extra)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  return reader_lib.load(path)
