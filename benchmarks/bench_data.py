"""Data-layer throughput, each ratio measured side by side in one run.

  1. In-memory window sampling (offline_rl.data, backend='memory') vs a plain NumPy
     copy of the same bytes (contiguous blocks of the same size out of the same arrays):
     the copy is the machine's physical limit. Target >= 50%.
  2. Streaming (backend='stream' over ArrayRecord, and over TFRecord) vs the plain TFDS
     path: builder_from_directory().as_dataset() + flat_map(steps) + batch +
     as_numpy_iterator. Target >= 3x.
  3. Recording (jit(scan(vmap)) rollouts streamed to disk) vs per-step Python recording
     of the same environment with the same writer. Target >= 10x.
  4. Recording Skirmish 8x8 to RLDS vs simulating the same games only (the recorder's
     own compiled rollout, no host copy). Target >= 50%.

Prints the ratios and writes benchmarks/results/data.json. Usage:
  .venv/bin/python benchmarks/bench_data.py [--episodes 1000] [--episode_length 200]
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import shutil
import tempfile
import time

os.environ.setdefault('JAX_PLATFORMS', 'cpu')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import jax  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

from offline_rl import data  # pylint: disable=g-import-not-at-top
from offline_rl import rollout  # pylint: disable=g-import-not-at-top
from offline_rl import datasets  # pylint: disable=g-import-not-at-top
from offline_rl import specs  # pylint: disable=g-import-not-at-top
from offline_rl import types  # pylint: disable=g-import-not-at-top
from offline_rl.datasets import converters  # pylint: disable=g-import-not-at-top
from offline_rl.datasets import features as features_lib  # pylint: disable=g-import-not-at-top
from offline_rl.datasets import recorder  # pylint: disable=g-import-not-at-top
from offline_rl.datasets import writer as writer_lib  # pylint: disable=g-import-not-at-top
from offline_rl.environments import make  # pylint: disable=g-import-not-at-top
from offline_rl.environments import toy  # pylint: disable=g-import-not-at-top
from offline_rl.environments.skirmish import bots as skirmish_bots  # pylint: disable=g-import-not-at-top

OBS_DIM = 32


def synthetic_dataset(path, num_episodes, length, file_format):
  """Episodes of float32[32] observations and int32 actions (the issue's reference)."""
  spec = specs.EnvSpec(env_id='bench/synthetic-v0', version='0', num_players=1,
                       observation={'x': specs.ArraySpec((OBS_DIM,), 'float32')},
                       action={'action': specs.ArraySpec((), 'int32', num_values=8)},
                       legal_action_mask=None, max_episode_steps=length)
  rng = np.random.default_rng(0)

  def episodes():
    for _ in range(num_episodes):
      k = length - 1
      obs = rng.normal(size=(k, OBS_DIM)).astype(np.float32)
      flat = converters.transitions_to_steps(
          {'x': obs}, {'action': rng.integers(0, 8, k).astype(np.int32)},
          rng.normal(size=k), True, {'x': obs[-1]})
      yield flat, converters._metadata(spec, flat)  # pylint: disable=protected-access
  return converters.write_episodes(path, spec, episodes(), file_format=file_format,
                                   episodes_per_shard=250)


def _timed(fn, min_seconds):
  """Runs fn() (returns units done) repeatedly for >= min_seconds; units per second."""
  fn()  # Warm-up (compilation, caches).
  done, start = 0, time.perf_counter()
  while time.perf_counter() - start < min_seconds:
    done += fn()
  return done / (time.perf_counter() - start)


def bench_memory(ds, batch_size, unroll, seconds):
  it = data.make_iterator(ds, batch_size=batch_size, unroll_length=unroll,
                          backend='memory', split='all')
  steps_per_batch = batch_size * (unroll + 1)

  def sample():
    batch = next(it)
    jax.block_until_ready(batch)
    return steps_per_batch
  sample_rate = _timed(sample, seconds)
  impl = it._impl  # pylint: disable=protected-access
  columns = {k: np.asarray(v) for k, v in impl._data.items()}  # pylint: disable=protected-access
  bytes_per_step = sum(v[0].nbytes for v in columns.values())
  outputs = {k: np.empty((steps_per_batch,) + v.shape[1:], v.dtype)
             for k, v in columns.items()}
  rng = np.random.default_rng(0)
  total = next(iter(columns.values())).shape[0]

  def copy():
    start = int(rng.integers(0, total - steps_per_batch))
    for k, v in columns.items():
      np.copyto(outputs[k], v[start:start + steps_per_batch])
    return steps_per_batch
  copy_rate = _timed(copy, seconds)
  return {'window_steps_per_s': sample_rate, 'numpy_copy_steps_per_s': copy_rate,
          'bytes_per_step': bytes_per_step,
          'window_GBps': sample_rate * bytes_per_step / 1e9,
          'numpy_copy_GBps': copy_rate * bytes_per_step / 1e9,
          'ratio': sample_rate / copy_rate}


def bench_tfds_plain(path, batch_size, max_steps):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  builder = tfds.builder_from_directory(os.fspath(path))

  def one_pass():
    ds = builder.as_dataset(split='train')
    ds = ds.flat_map(lambda episode: episode['steps']).batch(batch_size)
    steps = 0
    for batch in ds.as_numpy_iterator():
      steps += len(batch['reward'])
      if steps >= max_steps:
        break
    return steps
  del tf
  return _timed(one_pass, 0.1)


def bench_stream(ds, batch_size, unroll, max_steps):
  it = data.make_iterator(ds, batch_size=batch_size, unroll_length=unroll,
                          backend='stream', split='all', pool_episodes=128,
                          prefetch=8)
  per_batch = batch_size * (unroll + 1)

  def run():
    steps = 0
    while steps < max_steps:
      next(it)
      steps += per_batch
    return steps
  rate = _timed(run, 0.1)
  it.close()
  return rate


def _python_record(env, policies, path, num_games, seed):
  """Per-step Python recording: one environment stepped from Python, same writer."""
  spec = env.spec
  reset, step = jax.jit(env.reset), jax.jit(env.step)
  acts = [jax.jit(lambda params, ts, key, p=p, pol=pol: pol.apply(
      params, types.seat(ts, p), (), key)[0]) for p, pol in enumerate(policies)]
  tmp = pathlib.Path(path)
  tmp.mkdir(parents=True)
  layout = features_lib.Layout(features_lib.episode_features(spec))
  shard = writer_lib.ShardWriter(tmp, 0, layout, 'tfrecord')
  key = jax.random.key(seed)
  steps = 0
  for _ in range(num_games):
    key, reset_key = jax.random.split(key)
    state, ts = reset(reset_key)
    timesteps, actions = [], []
    while True:
      key, *keys = jax.random.split(key, 1 + len(policies))
      action = [acts[p](policies[p].params, ts, keys[p]) for p in range(len(policies))]
      action = jax.tree.map(lambda *a: np.stack(a), *jax.device_get(action))
      ts_host = jax.device_get(ts)
      timesteps.append(ts_host)
      actions.append(action)
      if ts_host.is_last:
        break
      state, ts = step(state, action)
    game = recorder.rollout.Steps(jax.tree.map(lambda *x: np.stack(x), *timesteps),
                                  jax.tree.map(lambda *x: np.stack(x), *actions))
    returns = np.asarray(game.timestep.reward, np.float64).sum(axis=0)
    length = len(timesteps)
    for seat in range(spec.num_players):
      shard.add(recorder.seat_episode(spec, game, seat),
                recorder.game_metadata(spec, policies, returns, length, seat, seed))
    steps += length
  shard.close()
  return steps


def bench_record(workdir, python_games, jit_games):
  env = make('toy/corridor-v0', length=10, max_steps=60)
  policies = (toy.bot(0.6, 1200.0), toy.bot(0.4, 1000.0))
  # Warm up compilation of both paths on tiny runs.
  datasets.record(env, [policies], workdir / 'warm', num_episodes=256, num_envs=256,
                  progress=False, log=None, chunk_steps=60)
  _python_record(env, policies, workdir / 'warm_py', 1, 0)
  start = time.perf_counter()
  py_steps = _python_record(env, policies, workdir / 'py', python_games, 1)
  py_rate = py_steps / (time.perf_counter() - start)
  start = time.perf_counter()
  info = datasets.record(env, [policies], workdir / 'jit', num_episodes=jit_games,
                         num_envs=256, progress=False, log=None, chunk_steps=60,
                         episodes_per_shard=jit_games)
  jit_rate = info['env_steps'] / (time.perf_counter() - start)
  return {'python_steps_per_s': py_rate, 'jit_steps_per_s': jit_rate,
          'ratio': jit_rate / py_rate, 'python_games': python_games,
          'jit_games': jit_games}


def bench_record_skirmish(workdir, games, num_envs, seconds):
  env = make('skirmish/8x8')
  policies = (skirmish_bots.bot('rush-3', env), skirmish_bots.bot('economic-5', env))
  kwargs = dict(num_envs=num_envs, progress=False, log=None)
  # Warm-up: compiles the recorder's rollout, which the simulation below reuses.
  datasets.record(env, [policies], workdir / 'skirmish_warm', num_episodes=num_envs,
                  **kwargs)
  chunk = min(env.spec.max_episode_steps, 256)
  run = recorder._cached_run(env, policies, chunk)  # pylint: disable=protected-access
  params = tuple(p.params for p in policies)
  state = rollout.init(env, policies, jax.random.key(0), num_envs)

  def simulate():
    nonlocal state
    state, chunk_steps = run(params, state)
    jax.block_until_ready(chunk_steps)
    return chunk * num_envs
  sim_rate = _timed(simulate, seconds)
  start = time.perf_counter()
  info = datasets.record(env, [policies], workdir / 'skirmish', num_episodes=games,
                         episodes_per_shard=games, **kwargs)
  seconds_taken = time.perf_counter() - start
  record_rate = info['env_steps'] / seconds_taken
  disk = datasets.load(workdir / 'skirmish').disk_bytes
  return {'simulate_env_steps_per_s': sim_rate, 'record_env_steps_per_s': record_rate,
          'ratio': record_rate / sim_rate, 'games': games, 'num_envs': num_envs,
          'env_steps': info['env_steps'],
          'bytes_per_env_step': disk / info['env_steps'],
          'written_MBps': disk / seconds_taken / 1e6}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--episodes', type=int, default=1000)
  parser.add_argument('--episode_length', type=int, default=200)
  parser.add_argument('--batch_size', type=int, default=256)
  parser.add_argument('--unroll_length', type=int, default=32)
  parser.add_argument('--seconds', type=float, default=3.0)
  parser.add_argument('--python_games', type=int, default=60)
  parser.add_argument('--jit_games', type=int, default=4000)
  parser.add_argument('--skirmish_games', type=int, default=512)
  parser.add_argument('--skirmish_envs', type=int, default=128)
  parser.add_argument('--only', default='memory,stream,record,skirmish',
                      help='comma-separated subset of memory,stream,record,skirmish')
  parser.add_argument('--out', default=os.path.join(os.path.dirname(__file__),
                                                    'results', 'data.json'))
  args = parser.parse_args()
  workdir = pathlib.Path(tempfile.mkdtemp(prefix='bench_data_'))
  results = {'config': vars(args), 'machine': {
      'cpus': os.cpu_count(), 'platform': platform.platform(),
      'jax_backend': jax.default_backend()}}
  try:
    t = time.perf_counter()
    tfrecord = synthetic_dataset(workdir / 'tfrecord', args.episodes,
                                 args.episode_length, 'tfrecord')
    array_record = datasets.convert(tfrecord, workdir / 'array_record',
                                    file_format='array_record')
    total_steps = tfrecord.num_steps
    print(f'dataset: {args.episodes} episodes x {args.episode_length} steps, float32'
          f'[{OBS_DIM}] observations ({total_steps} steps; written in '
          f'{time.perf_counter() - t:.1f} s)')

    only = set(args.only.split(','))
    if 'memory' in only:
      memory = bench_memory(array_record, args.batch_size, args.unroll_length,
                            args.seconds)
      results['memory_vs_numpy_copy'] = memory
      print(f'1. in-memory windows {memory["window_steps_per_s"] / 1e6:.2f}M steps/s '
            f'({memory["window_GBps"]:.2f} GB/s) vs NumPy copy '
            f'{memory["numpy_copy_steps_per_s"] / 1e6:.2f}M steps/s '
            f'({memory["numpy_copy_GBps"]:.2f} GB/s): ratio {memory["ratio"]:.2f} '
            '(target >= 0.5)')

    if 'stream' in only:
      plain = bench_tfds_plain(tfrecord.path, args.batch_size, total_steps)
      stream_ar = bench_stream(array_record, args.batch_size, args.unroll_length,
                               total_steps)
      stream_tf = bench_stream(tfrecord, args.batch_size, args.unroll_length, total_steps)
      results['stream_vs_tfds'] = {
          'tfds_plain_steps_per_s': plain, 'stream_array_record_steps_per_s': stream_ar,
          'stream_tfrecord_steps_per_s': stream_tf, 'ratio_array_record': stream_ar / plain,
          'ratio_tfrecord': stream_tf / plain}
      print(f'2. streaming {stream_ar / 1e3:.0f}k steps/s (ArrayRecord), '
            f'{stream_tf / 1e3:.0f}k (TFRecord) vs plain TFDS {plain / 1e3:.0f}k: ratio '
            f'{stream_ar / plain:.2f} / {stream_tf / plain:.2f} (target >= 3)')

    if 'record' in only:
      record = bench_record(workdir, args.python_games, args.jit_games)
      results['record_vs_python'] = record
      print(f'3. recording {record["jit_steps_per_s"] / 1e3:.0f}k env steps/s vs '
            f'per-step Python {record["python_steps_per_s"] / 1e3:.1f}k: ratio '
            f'{record["ratio"]:.1f} (target >= 10)')

    if 'skirmish' in only:
      sk = bench_record_skirmish(workdir, args.skirmish_games, args.skirmish_envs,
                                 args.seconds)
      results['skirmish_record_vs_simulate'] = sk
      print(f'4. recording Skirmish 8x8 {sk["record_env_steps_per_s"] / 1e3:.1f}k env '
            f'steps/s vs simulation only {sk["simulate_env_steps_per_s"] / 1e3:.1f}k: '
            f'ratio {sk["ratio"]:.2f} (target >= 0.5); {sk["bytes_per_env_step"]:.0f} '
            f'bytes an env step on disk, written at {sk["written_MBps"]:.0f} MB/s')
  finally:
    shutil.rmtree(workdir, ignore_errors=True)
  os.makedirs(os.path.dirname(args.out), exist_ok=True)
  with open(args.out, 'w') as f:
    json.dump(results, f, indent=1)
  print(f'wrote {args.out}')


if __name__ == '__main__':
  main()
