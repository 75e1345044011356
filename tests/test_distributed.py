"""Training over several processes through `jax.distributed`: `offline-rl train` run
as two processes on localhost (two forced CPU devices each) equals one process with the
same global batch, a checkpoint written by two processes resumes in one and one written
by one resumes in two, and each process's iterator yields its share of the global batch
and resumes on another process count; `offline-rl data record` and `tournament` in two
processes write what one process writes (docs/scaling.md)."""
import filecmp
import json
import os
import shutil
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from offline_rl import cores
from offline_rl import data
from offline_rl import datasets
from offline_rl import errors
from offline_rl import learner
from offline_rl.environments import make
from offline_rl.environments import toy
from offline_rl.datasets import writer as writer_lib
from offline_rl.evaluation import store as store_lib

# Sums over 2 or 4 devices reduce in different orders: after 30 Adam updates the
# parameters differ by 3e-8 at most (measured, docs/scaling.md), while 20 updates move
# them by 2e-2.
TOLERANCE = 1e-5


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
  path = str(tmp_path_factory.mktemp('data') / 'corridor')
  env = make('toy/corridor-v0', length=5, max_steps=12)
  datasets.record(env, [(toy.bot(0.9, 1500.0), toy.bot(0.3, 800.0))], path,
                  num_episodes=64, seed=0, num_envs=32, progress=False, log=None)
  return path


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def start_training(dataset: str, workdir: str, processes: int) -> list:
  """Starts `offline-rl train` of a tiny 30-step BC run in `processes` processes of 2
  CPU devices each; the running processes."""
  command = [sys.executable, '-c', 'from offline_rl import cli; cli.run()', 'train',
             '--config=experiments/bc.py:bc', f'--config.dataset={dataset}',
             '--config.network.mlp_sizes=(16,16)', '--config.batch_size=32',
             '--config.num_steps=30', '--config.updates_per_call=5',
             '--config.checkpoint_every=10', '--config.keep_checkpoints=5',
             '--config.log_every=10',
             '--config.optimizer.learning_rate=3e-3', f'--workdir={workdir}',
             '--noprogress']
  env = dict(os.environ, JAX_PLATFORMS='cpu',
             XLA_FLAGS='--xla_force_host_platform_device_count=2')
  if processes > 1:
    command += [f'--coordinator_address=localhost:{_free_port()}',
                f'--num_processes={processes}']
  return [subprocess.Popen(command + ([f'--process_id={i}'] if processes > 1 else []),
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True) for i in range(processes)]


def wait(workers: list) -> None:
  for i, worker in enumerate(workers):
    _, err = worker.communicate(timeout=600)
    assert worker.returncode == 0, f'process {i}: {err[-3000:]}'


def train(dataset: str, workdir: str, processes: int) -> None:
  wait(start_training(dataset, workdir, processes))


def max_difference(a: str, b: str) -> float:
  a, _, _ = learner.load_params(a)
  b, _, _ = learner.load_params(b)
  return max(float(np.max(np.abs(x - y))) for x, y in
             zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def resume_from_step_20(run: str, workdir: str) -> str:
  """A copy of `run` cut back to its step-20 checkpoint."""
  shutil.copytree(run, workdir)
  for step in os.listdir(os.path.join(workdir, 'checkpoints')):
    if step.isdigit() and int(step) > 20:
      shutil.rmtree(os.path.join(workdir, 'checkpoints', step))
  return workdir


def test_two_processes_train_like_one(dataset, tmp_path):
  one, two = str(tmp_path / 'one'), str(tmp_path / 'two')
  wait(start_training(dataset, one, 1) + start_training(dataset, two, 2))
  # Process 0 alone logs: one row per log step, not two.
  assert [r['step'] for r in learner.read_metrics(two)] == [10, 20, 30]
  assert max_difference(one, two) < TOLERANCE
  # The runs moved: the tolerance is far below what 20 updates change.
  assert max_difference(one + '/checkpoints/10', one) > 100 * TOLERANCE


@pytest.mark.slow
def test_checkpoints_resume_across_process_counts(dataset, tmp_path):
  """The step-20 checkpoint of two processes resumed by one, and the reverse, end
  where an uninterrupted one-process run ends."""
  one, two = str(tmp_path / 'one'), str(tmp_path / 'two')
  wait(start_training(dataset, one, 1) + start_training(dataset, two, 2))
  two_then_one = resume_from_step_20(two, str(tmp_path / 'two_then_one'))
  one_then_two = resume_from_step_20(one, str(tmp_path / 'one_then_two'))
  wait(start_training(dataset, two_then_one, 1) +
       start_training(dataset, one_then_two, 2))
  assert max_difference(one, two_then_one) < TOLERANCE
  assert max_difference(one, one_then_two) < TOLERANCE


def run_in_one_and_two_processes(arguments, one, two):
  """Runs `offline-rl *arguments(one)` as one process and `*arguments(two)` as two
  processes joined by `jax.distributed`, all at once; their (stdout, stderr) in that
  order (single, process 0, process 1) once every one has exited 0."""
  def start(destination, flags=()):
    command = [sys.executable, '-c', 'from offline_rl import cli; cli.run()',
               *arguments(destination), *flags]
    return subprocess.Popen(command, env=dict(os.environ, JAX_PLATFORMS='cpu'),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  address = f'--coordinator_address=localhost:{_free_port()}'
  workers = [start(one)] + [start(two, (address, '--num_processes=2',
                                         f'--process_id={i}')) for i in range(2)]
  outputs = [w.communicate(timeout=600) for w in workers]
  for worker, (_, err) in zip(workers, outputs):
    assert worker.returncode == 0, err[-3000:]
  return outputs


def test_two_processes_play_a_tournament_like_one(tmp_path):
  """`offline-rl tournament` in two processes joined by `jax.distributed` splits the
  shards between them and fills one store with the records one process writes."""
  one, two = str(tmp_path / 'one.jsonl'), str(tmp_path / 'two.jsonl')
  outputs = run_in_one_and_two_processes(
      lambda store: ['tournament', '--env=toy/corridor-v0', '--players=ladder,random',
                     '--games=4', '--shard_size=2', '--progress=false',
                     '--bootstrap=20', f'--store={store}'], one, two)
  # Process 0 alone reports, after both finished: on every game.
  assert 'ratings (' in outputs[1][0] and 'ratings (' not in outputs[2][0]
  records = [sorted(json.dumps(r, sort_keys=True) for r in store_lib.ResultsStore(p)
                    .records()) for p in (one, two)]
  assert records[0] == records[1] and len(records[0]) > 5


def assert_same_files(a, b) -> None:
  """The directories `a` and `b` hold the same files, byte for byte."""
  names = sorted(os.listdir(a))
  assert names == sorted(os.listdir(b))
  for name in names:
    assert filecmp.cmp(os.path.join(a, name), os.path.join(b, name), shallow=False), name


def test_two_processes_record_like_one(tmp_path):
  """`offline-rl data record` in two `jax.distributed` processes splits the shards
  between them and merges them into the dataset one process writes: every file
  (shards, dataset_info.json, features.json, offline_rl.json, episodes.npz) byte for
  byte, since each shard is rolled out from its own key whoever records it."""
  one, two = str(tmp_path / 'one'), str(tmp_path / 'two')
  outputs = run_in_one_and_two_processes(
      lambda dest: ['data', 'record', dest, '--env=toy/corridor-v0',
                    '--env_kwargs={"length": 5, "max_steps": 12}',
                    '--matchup=corridor-bot-0.9@1500,corridor-bot-0.3@800',
                    '--num_episodes=8', '--episodes_per_shard=2', '--num_envs=2',
                    '--progress=false'], one, two)
  assert '(4 shards, 2 processes)' in outputs[1][0] and 'recorded' not in outputs[2][0]
  assert_same_files(one, two)
  assert datasets.load(two).num_episodes == 16


def test_a_recording_of_two_processes_resumes_in_one(tmp_path, monkeypatch):
  """Process 1 of 2 records shards 1 and 3 into its own progress file (and refuses
  other settings than process 0's); the run stops before the merge; one process
  resumes it, records shards 0 and 2, and writes the dataset of an uninterrupted run.
  A merge interrupted after it moved the shards resumes too."""
  env = make('toy/corridor-v0', length=5, max_steps=12)
  matchups = [(toy.bot(0.9, 1500.0), toy.bot(0.3, 800.0))]
  kwargs = dict(num_episodes=8, episodes_per_shard=2, num_envs=2, progress=False)
  fresh, path = tmp_path / 'fresh', tmp_path / 'resumed'
  datasets.record(env, matchups, fresh, log=None, **kwargs)

  def stop(*_, **__):
    raise KeyboardInterrupt('simulated stop')
  # Process 0 prepares the directory, then stops before its first shard is done.
  with monkeypatch.context() as patch:
    patch.setattr(writer_lib.ShardWriter, 'close', stop)
    with pytest.raises(KeyboardInterrupt):
      datasets.record(env, matchups, path, log=None, **kwargs)
  # Process 1 records its share, and the run stops at the barrier before the merge.
  with monkeypatch.context() as patch:
    patch.setattr(jax, 'process_index', lambda: 1)
    patch.setattr(jax, 'process_count', lambda: 2)
    patch.setattr(cores, 'wait_for_processes',
                  lambda name: stop() if name.endswith('recorded') else None)
    with pytest.raises(errors.UserError, match='other settings than process 0'):
      datasets.record(env, matchups, path, log=None, **{**kwargs, 'seed': 1})
    with pytest.raises(KeyboardInterrupt):
      datasets.record(env, matchups, path, log=None, **kwargs)
  tmp = writer_lib.incomplete_dir(path)
  progress = json.loads((tmp / 'progress-1.json').read_text())
  assert [s['file'] for s in progress['shards']] == ['shard-00001.tfrecord',
                                                     'shard-00003.tfrecord']
  messages = []
  info = datasets.record(env, matchups, path, log=messages.append, **kwargs)
  assert info['resumed_shards'] == 2 and '2 of 4 shards' in messages[0]
  assert_same_files(fresh, path)

  # A merge stopped after moving the shards into their final names.
  path = tmp_path / 'merge'
  with monkeypatch.context() as patch:
    patch.setattr(np, 'savez', stop)
    with pytest.raises(KeyboardInterrupt):
      datasets.record(env, matchups, path, log=None, **kwargs)
  assert not path.exists()
  info = datasets.record(env, matchups, path, log=None, **kwargs)
  assert info['resumed_shards'] == 4
  assert_same_files(fresh, path)


def _rows(batch):
  return jax.tree.map(np.asarray, batch)


def test_memory_backend_processes_take_their_rows_of_one_global_batch(dataset):
  """Whatever the process count, the global batch is the same: each process keeps
  its rows of it, through next() and next_many()."""
  def make(index, count):
    return data.make_iterator(dataset, batch_size=32, unroll_length=1, seed=3,
                              backend='memory', process_index=index,
                              process_count=count)
  whole, halves = make(0, 1), [make(i, 2) for i in range(2)]
  for axis, draw in ((0, lambda it: next(it)), (1, lambda it: it.next_many(3))):
    expected = _rows(draw(whole))
    parts = [_rows(draw(it)) for it in halves]
    assert np.shape(parts[0].mask)[axis] == 16
    jax.tree.map(lambda e, a, b: np.testing.assert_array_equal(
        e, np.concatenate([a, b], axis)), expected, *parts)
  # A checkpoint of two processes resumes one exactly (and the reverse).
  states = [it.get_state() for it in halves]
  resumed = make(0, 1)
  resumed.set_states(states)
  jax.tree.map(np.testing.assert_array_equal, _rows(next(resumed)), _rows(next(whole)))


def test_stream_backend_resumes_on_as_many_or_other_process_counts(dataset):
  """Each process streams B / processes rows of its own episodes; the same count
  resumes exactly, another count starts the latest saved epoch over."""
  def make(index, count):
    return data.make_iterator(dataset, batch_size=8, unroll_length=1, seed=5,
                              backend='stream', process_index=index,
                              process_count=count, pool_episodes=4)
  pair = [make(i, 2) for i in range(2)]
  for it in pair:
    for _ in range(5):
      assert np.shape(next(it).mask)[0] == 4
  states = [it.get_state() for it in pair]
  expected = _rows(next(pair[1]))
  again = make(1, 2)
  again.set_states(states)
  jax.tree.map(np.testing.assert_array_equal, _rows(next(again)), expected)

  alone = make(0, 1)
  alone.set_states(states)
  epoch = max(s['epoch'] for s in states)
  assert alone.get_state()['epoch'] == epoch and alone.get_state()['offset'] == 0
  fresh = make(0, 1)
  fresh.set_state(dict(fresh.get_state(), epoch=epoch, offset=0))
  jax.tree.map(np.testing.assert_array_equal, _rows(next(alone)), _rows(next(fresh)))
  for it in pair + [again, alone, fresh]:
    it.close()
