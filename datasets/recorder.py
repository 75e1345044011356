"""Recording episodes of any environment into an RLDS dataset, streamed to disk.

JAX environments roll out in compiled `jit(scan(vmap))` chunks of `chunk_steps` steps
(`offline_rl.rollout`); host environments (gymnasium, OpenSpiel adapters) use the same
module's host loop. After each chunk the finished episodes are cut out on the host and
appended to the current shard file, so memory holds one chunk, never the dataset.

Work is split into shards, each a fixed number of games of one matchup, rolled out from
its own key `fold_in(key(seed), shard_index)`: shards are independent, so an interrupted
recording resumes from its finished shards and produces the same dataset as an
uninterrupted one. Atomicity and layout: see `writer`.

In a run of several processes (`jax.distributed`, docs/scaling.md) every process calls
`record` alike: each rolls out its share of the unfinished shards into the same
temporary directory, keeping its own progress file, and after a barrier process 0
merges them into the one dataset a single process writes, byte for byte.

A game of a P-player environment becomes P RLDS episodes, one per seat, each holding
that seat's observations, actions, rewards and legal-action masks (as in AlphaStar
Unplugged). Letters: C steps per chunk, N parallel environments, P seats.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import os
import pathlib
import shutil
import time
from typing import Any, Sequence

import jax
import numpy as np

from offline_rl import cores
from offline_rl import errors
from offline_rl import rollout
from offline_rl import specs
from offline_rl import types
from offline_rl.datasets import features as features_lib
from offline_rl.datasets import reader as reader_lib
from offline_rl.datasets import writer as writer_lib

_RUN_CACHE: dict = {}


def _cached_run(env, policies, chunk_steps):
  """One compiled rollout per (environment, policy functions, chunk length)."""
  key = (id(env), tuple((p.apply, p.init_state) for p in policies), chunk_steps)
  if key not in _RUN_CACHE:
    _RUN_CACHE[key] = (env, rollout.make_run(env, policies, chunk_steps))
  return _RUN_CACHE[key][1]


def _params_digest(tree) -> str:
  digest = hashlib.sha256()
  for leaf in jax.tree.leaves(tree):
    array = np.asarray(leaf)
    digest.update(str((array.dtype, array.shape)).encode())
    digest.update(array.tobytes())
  return digest.hexdigest()[:16]


def plan_shards(num_matchups: int, num_episodes: int,
                episodes_per_shard: int) -> list[tuple[int, int]]:
  """[(matchup index, games)]: games spread evenly over matchups, then cut into shards."""
  plan = []
  for m in range(num_matchups):
    games = num_episodes // num_matchups + (1 if m < num_episodes % num_matchups else 0)
    while games > 0:
      take = min(games, episodes_per_shard)
      plan.append((m, take))
      games -= take
  return plan


class _EpisodeCutter:
  """Cuts the finished games out of consecutive rollout chunks, per environment."""

  def __init__(self, num_envs: int):
    self._pending: list[list] = [[] for _ in range(num_envs)]

  def add(self, chunk) -> list:
    """chunk: host `Steps` [C, N, ...]. Returns finished games as `Steps` [L, ...]."""
    is_last = np.asarray(chunk.timestep.is_last)
    games = []
    for n in range(is_last.shape[1]):
      column = jax.tree.map(lambda x: x[:, n], chunk)  # pylint: disable=cell-var-from-loop
      start = 0
      for end in np.flatnonzero(is_last[:, n]):
        piece = jax.tree.map(lambda x: x[start:end + 1], column)  # pylint: disable=cell-var-from-loop
        parts = self._pending[n] + [piece]
        games.append(parts[0] if len(parts) == 1 else
                     jax.tree.map(lambda *x: np.concatenate(x), *parts))
        self._pending[n] = []
        start = end + 1
      if start < is_last.shape[0]:
        self._pending[n].append(jax.tree.map(lambda x: x[start:], column))  # pylint: disable=cell-var-from-loop
    return games


def seat_episode(spec: specs.EnvSpec, game, seat: int) -> dict[str, np.ndarray]:
  """Flat RLDS step columns {'steps/...': [L, ...]} of one seat of one game.

  Args:
    spec: the environment spec.
    game: `rollout.Steps` [L, ...] of one game (per-seat fields [L, P, ...]).
    seat: which seat.
  """
  ts = game.timestep
  is_last = np.asarray(ts.is_last, bool)
  flat = {}
  for name, leaf_spec in specs.flatten(spec.observation).items():
    value = _get(ts.observation, name)[:, seat]
    flat[f'steps/observation/{name}'] = np.asarray(value, leaf_spec.dtype)
  for name, leaf_spec in specs.flatten(spec.action).items():
    value = np.array(_get(game.action, name)[:, seat], leaf_spec.dtype)
    value[is_last] = 0  # No action follows the last step (RLDS).
    flat[f'steps/action/{name}'] = value
  if spec.legal_action_mask is not None:
    for name, leaf_spec in specs.flatten(spec.legal_action_mask).items():
      value = _get(ts.legal_action_mask, name)[:, seat]
      flat[f'steps/legal_action_mask/{name}'] = np.asarray(value, bool)
  # RLDS alignment: step t holds the reward for a_t and the discount after it, which
  # the environment reports with the next time step; the last step holds none.
  reward = np.asarray(ts.reward, np.float32)[:, seat]
  discount = np.asarray(ts.discount, np.float32)
  flat['steps/reward'] = np.append(reward[1:], np.float32(0))
  flat['steps/discount'] = np.append(discount[1:], discount[-1:])
  flat['steps/is_first'] = np.asarray(ts.is_first, bool)
  flat['steps/is_last'] = is_last
  flat['steps/is_terminal'] = np.asarray(ts.is_terminal, bool)
  return flat


def _get(tree, name: str):
  for part in name.split('/'):
    tree = tree[part]
  return np.asarray(tree)


def game_metadata(spec: specs.EnvSpec, policies: Sequence[types.Policy],
                  game_returns: np.ndarray, length: int, seat: int,
                  seed: int) -> dict[str, Any]:
  """Episode metadata of one seat (see docs/data.md for the fields)."""
  episode_return = float(game_returns[seat])
  if spec.num_players == 2:
    outcome = float(np.sign(episode_return))
    opponent = policies[1 - seat]
    opponent_id, opponent_rating = opponent.policy_id, float(opponent.rating)
  else:
    outcome = episode_return
    opponent_id, opponent_rating = '', float('nan')
  return {
      'env_id': spec.env_id, 'env_version': spec.version,
      'env_params': features_lib.metadata_json(spec), 'seed': np.int64(seed),
      'seat': np.int32(seat), 'policy_id': policies[seat].policy_id,
      'rating': np.float32(policies[seat].rating),
      'opponent_policy_id': opponent_id, 'opponent_rating': np.float32(opponent_rating),
      'outcome': np.float32(outcome), 'length': np.int32(length),
      'episode_return': np.float32(episode_return),
  }


def _host_chunks(env, run, params, state):
  """Host copies of consecutive rollout chunks `Steps` [C, N, ...]. A JAX
  environment's next chunk is dispatched before this one is handed out (`run` returns
  at once), so the simulation runs while the host cuts and writes."""
  state, chunk = run(params, state)
  while True:
    host = jax.device_get(chunk)
    if env.jittable:
      state, chunk = run(params, state)
      yield host
    else:
      yield host
      state, chunk = run(params, state)


def _record_shard(env, policies, shard_index, games, *, seed, num_envs, chunk_steps,
                  shard_writer, on_games):
  spec = env.spec
  key = jax.random.fold_in(jax.random.key(seed), shard_index)
  state = rollout.init(env, policies, key, num_envs)
  run = _cached_run(env, policies, chunk_steps)
  params = tuple(p.params for p in policies)
  cutter = _EpisodeCutter(num_envs)
  done = 0
  max_chunks = (games // max(num_envs, 1) + 2) * (spec.max_episode_steps // chunk_steps
                                                  + 2) * 4
  for chunk in itertools.islice(_host_chunks(env, run, params, state), max_chunks):
    finished = cutter.add(chunk)
    for game in finished[:games - done]:
      returns = np.asarray(game.timestep.reward, np.float64).sum(axis=0)  # [P]
      length = int(game.timestep.is_last.shape[0])
      for seat in range(spec.num_players):
        shard_writer.add(seat_episode(spec, game, seat),
                         game_metadata(spec, policies, returns, length, seat, seed))
    added = len(finished[:games - done])
    done += added
    on_games(added)
    if done >= games:
      return
  raise RuntimeError(
      f'{spec.env_id}: only {done} of {games} games finished after {max_chunks} '
      f'chunks of {chunk_steps} steps; does the environment end its episodes within '
      f'max_episode_steps={spec.max_episode_steps}?')


def _config_digest(env, matchups, num_episodes, seed, num_envs, file_format,
                   episodes_per_shard, chunk_steps) -> str:
  config = {
      'spec': env.spec.to_json(), 'num_episodes': num_episodes, 'seed': seed,
      'num_envs': num_envs, 'file_format': file_format,
      'episodes_per_shard': episodes_per_shard, 'chunk_steps': chunk_steps,
      'matchups': [[(p.policy_id, repr(float(p.rating)), _params_digest(p.params))
                    for p in m] for m in matchups],
  }
  return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def record(env, matchups: Sequence[Sequence[types.Policy]], path, *,
           num_episodes: int, seed: int = 0, num_envs: int = 64,
           file_format: str = 'tfrecord', progress: bool = True,
           episodes_per_shard: int = 1000, chunk_steps: int | None = None,
           overwrite: bool = False, log=print) -> dict:
  """Records `num_episodes` games of `env` into an RLDS dataset at `path`.

  Args:
    env: an `Environment` (jittable) or `HostEnvironment`.
    matchups: sequence of seat tuples, one `Policy` per seat; the games are spread
      evenly over the matchups (the first ones get one more when it does not divide).
    path: destination directory; written atomically (see `writer`).
    num_episodes: games to record; a P-player game gives P RLDS episodes (one per seat).
    seed: everything derives from it; the same call gives the same dataset.
    num_envs: environments rolled out in parallel.
    file_format: 'tfrecord' or 'array_record' (random access without TensorFlow;
      the format for the streaming input pipeline).
    progress: show a rich progress bar.
    episodes_per_shard: games per shard file (the unit of resumption).
    chunk_steps: steps per compiled rollout call (default: max_episode_steps, at
      most 256).
    overwrite: replace an existing dataset at `path`.
    log: where to say whether the run resumed or started clean (None: silent;
      process 0 alone says it).

  In a run of several JAX processes, every process calls `record` with the same
  arguments and returns once the dataset is whole (see the module docstring).

  Returns:
    A dict: path, games, episodes, steps (RLDS steps, all seats), env_steps (game
    steps), shards, resumed (bool), resumed_shards, seconds (until every process
    finished its shards), steps_per_second (environment steps of this run, all
    processes together, resumed shards excluded).

  Raises:
    ValueError: bad arguments (a matchup with the wrong number of seats, ...).
    reader.DatasetError: `path` already holds a dataset and `overwrite` is False.
  """
  spec = env.spec
  matchups = [tuple(m) for m in matchups]
  if not matchups:
    raise ValueError('record needs at least one matchup (a tuple of one Policy per seat).')
  for m in matchups:
    if len(m) != spec.num_players:
      raise ValueError(f'{spec.env_id} has {spec.num_players} seat(s); the matchup '
                       f'{[p.policy_id for p in m]} has {len(m)} policies. Give one '
                       'Policy per seat.')
    for p in m:
      if not isinstance(p, types.Policy):
        raise ValueError(f'matchups hold offline_rl.types.Policy values, got {type(p)}.')
  if num_episodes < 1:
    raise ValueError(f'num_episodes must be >= 1, got {num_episodes}.')
  if file_format not in writer_lib.FORMATS:
    raise ValueError(f'file_format must be one of {writer_lib.FORMATS}, got '
                     f'{file_format!r}.')
  chunk_steps = int(chunk_steps or min(max(spec.max_episode_steps, 1), 256))
  path = pathlib.Path(os.fspath(path)).expanduser().absolute()
  if path.exists():
    if not overwrite:
      raise reader_lib.DatasetError(
          f'{path} already exists. Choose another path, or pass overwrite=True '
          '(--overwrite) to replace it.')
  plan = plan_shards(len(matchups), num_episodes, episodes_per_shard)
  num_envs = max(1, min(num_envs, max(games for _, games in plan)))
  digest = _config_digest(env, matchups, num_episodes, seed, num_envs, file_format,
                          episodes_per_shard, chunk_steps)
  process, num_processes = jax.process_index(), jax.process_count()
  tmp = writer_lib.incomplete_dir(path)
  if process == 0:
    _prepare(path, digest, len(plan), num_episodes, log or (lambda *_: None))
  cores.wait_for_processes('offline_rl record: prepared')
  prepared = writer_lib.read_progress(tmp)
  if prepared is None:
    raise _not_shared(tmp, process)
  if prepared['config'] != digest:
    raise errors.UserError(
        f'process {process} was given other settings than process 0 for {path}: run '
        'the same command (environment, matchups, episodes, seed, shards) on every '
        'process.')
  resumed = {s['file'] for s in prepared['shards']}
  unfinished = [i for i in range(len(plan))
                if writer_lib.shard_file(i, file_format) not in resumed]
  mine = unfinished[process::num_processes]
  features = features_lib.episode_features(spec)
  layout = features_lib.Layout(features)

  total_games = sum(g for _, g in plan)
  done_games = total_games - sum(plan[i][1] for i in unfinished)
  label = spec.env_id if num_processes == 1 else (
      f'{spec.env_id}, process 0\'s {len(mine)} of {len(unfinished)} shards')
  bar = _Progress(progress and process == 0,
                  done_games + sum(plan[i][1] for i in mine), done_games, label)
  start = time.perf_counter()
  mine_finished = {'config': digest, 'shards': []}
  try:
    for shard_index in mine:
      m, games = plan[shard_index]
      shard_writer = writer_lib.ShardWriter(tmp, shard_index, layout, file_format)
      _record_shard(
          env, matchups[m], shard_index, games, seed=seed, num_envs=num_envs,
          chunk_steps=chunk_steps, shard_writer=shard_writer, on_games=bar.advance)
      mine_finished['shards'].append(vars(shard_writer.close()))
      writer_lib.write_progress(tmp, mine_finished, process)
  finally:
    bar.close()
  cores.wait_for_processes('offline_rl record: recorded')
  seconds = time.perf_counter() - start
  by_file = {s['file']: writer_lib.ShardInfo(**s)
             for s in writer_lib.read_all_progress(tmp)['shards']}
  files = [writer_lib.shard_file(i, file_format) for i in range(len(plan))]
  if not set(files) <= set(by_file):
    raise _not_shared(tmp, process)
  finished = [by_file[f] for f in files]
  # Every process has read the progress files before process 0 removes them.
  cores.wait_for_processes('offline_rl record: read')
  if process == 0:
    extra = {'recording': {
        'seed': seed, 'num_episodes': num_episodes, 'num_envs': num_envs,
        'chunk_steps': chunk_steps, 'episodes_per_shard': episodes_per_shard,
        'matchups': [[{'policy_id': p.policy_id, 'rating': _json_float(p.rating)}
                      for p in m] for m in matchups]}}
    writer_lib.finalize(tmp, path, spec, features, finished, file_format, extra)
  cores.wait_for_processes('offline_rl record: merged')
  episodes = sum(s.num_episodes for s in finished)
  steps = sum(int(np.sum(s.metadata['length'])) for s in finished)
  new_steps = sum(int(np.sum(s.metadata['length'])) for s in finished
                  if s.file not in resumed) // spec.num_players
  return {
      'path': str(path), 'games': total_games, 'episodes': episodes,
      'steps': steps, 'env_steps': steps // spec.num_players, 'shards': len(finished),
      'resumed': bool(resumed), 'resumed_shards': len(resumed),
      'seconds': seconds, 'steps_per_second': new_steps / max(seconds, 1e-9),
  }


def _not_shared(tmp: pathlib.Path, process: int) -> errors.UserError:
  return errors.UserError(
      f'process {process} does not see every process\'s part of the recording in '
      f'{tmp}: the destination of a recording in several processes must be on a file '
      'system they all share (docs/scaling.md).')


def _prepare(path: pathlib.Path, digest: str, num_shards: int, num_episodes: int,
             say) -> None:
  """Process 0's part before any shard is recorded: keeps the finished shards of an
  interrupted recording with the same settings (gathered from every process's
  progress file into `progress.json`), else starts clean."""
  tmp = writer_lib.incomplete_dir(path)
  finished = []
  if tmp.exists():
    previous = writer_lib.read_all_progress(tmp)
    if previous is not None and previous['config'] == digest:
      finished = previous['shards']
      for partial in tmp.glob('*.partial'):
        partial.unlink()
      say(f'Resuming the interrupted recording in {tmp}: {len(finished)} of '
          f'{num_shards} shards were already done.')
    else:
      shutil.rmtree(tmp)
      say(f'Starting clean: {tmp} held an unfinished recording with different '
          'settings; removed it.')
      writer_lib.make_incomplete_dir(path)
  else:
    writer_lib.make_incomplete_dir(path)
    say(f'Starting a new recording of {num_episodes} games into {path}.')
  writer_lib.write_progress(tmp, {'config': digest, 'shards': finished})
  for gathered in writer_lib.process_progress_files(tmp):
    gathered.unlink()


def _json_float(x: float):
  return None if np.isnan(x) else float(x)


class _Progress:
  """A rich progress bar over games (a no-op when disabled)."""

  def __init__(self, enabled: bool, total: int, done: int, label: str):
    self._bar = None
    if enabled:
      from rich import progress as rich_progress  # pylint: disable=g-import-not-at-top
      self._bar = rich_progress.Progress(
          rich_progress.TextColumn('[bold]recording[/] {task.description}'),
          rich_progress.BarColumn(), rich_progress.MofNCompleteColumn(),
          rich_progress.TextColumn('games'), rich_progress.TimeElapsedColumn(),
          rich_progress.TimeRemainingColumn(), transient=False)
      self._bar.start()
      self._task = self._bar.add_task(label, total=total, completed=done)

  def advance(self, games: int):
    if self._bar is not None:
      self._bar.advance(self._task, games)

  def close(self):
    if self._bar is not None:
      self._bar.stop()
