"""Specs from the data, overrides by config: a foreign dataset's scalar integer action
trains from the command line."""
import json
import os
import subprocess
import sys

os.environ.setdefault('JAX_PLATFORMS', 'cpu')
import numpy as np
import pytest

from offline_rl import datasets
from offline_rl import specs
from offline_rl.datasets import converters

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cli(*args, **env):
  return subprocess.run(
      [sys.executable, '-c', 'import sys; from offline_rl import cli; '
       'cli.run(["offline-rl"] + sys.argv[1:])', *args], capture_output=True, text=True,
      timeout=300, env=dict(os.environ, JAX_PLATFORMS='cpu', **env))


def _spec(action_dtype='int64'):
  return specs.EnvSpec(env_id='rlds/foreign', version='1', num_players=1,
                       observation={'observation': specs.ArraySpec((3,), 'float32')},
                       action={'action': specs.ArraySpec((), action_dtype)},
                       legal_action_mask=None, max_episode_steps=0)


@pytest.fixture(scope='module')
def foreign(tmp_path_factory):
  """Scalar int64 actions 0..3 without num_values, as foreign RLDS specs give them."""
  spec = _spec()

  def episodes():
    for i in range(6):
      k = 5 + i
      obs = np.random.default_rng(i).normal(size=(k, 3)).astype(np.float32)
      actions = (np.arange(k) + i) % 4
      flat = converters.transitions_to_steps(
          {'observation': obs}, {'action': actions.astype(np.int64)}, np.ones(k), True,
          {'observation': obs[-1]})
      yield flat, converters._metadata(spec, flat)  # pylint: disable=protected-access
  return converters.write_episodes(tmp_path_factory.mktemp('foreign') / 'ds', spec,
                                   episodes()).path


def test_num_values_inferred_from_the_data(foreign):
  ds = datasets.load(foreign)
  assert ds.spec.action['action'].num_values == 4
  assert str(ds.action_ranges['action']) == '0..3'
  ds.override_num_values(6)
  assert ds.spec.action['action'].num_values == 6
  with pytest.raises(datasets.DatasetError, match='values 0..3: set num_actions to at '
                     'least 4'):
    ds.override_num_values(3)


def test_data_info_reports_the_inferred_number(foreign):
  result = _cli('data', 'info', str(foreign))
  assert result.returncode == 0, result.stderr
  assert 'int64[] in [0, 4)' in result.stdout
  assert 'values 0..3 in the data; num_values inferred as max + 1' in result.stdout


def test_train_on_a_spec_without_num_values(foreign, tmp_path):
  common = ['train', '--config', os.path.join(REPO, 'experiments', 'bc.py') + ':bc',
            f'--config.dataset={foreign}', '--config.num_steps=2',
            '--config.batch_size=4', '--config.updates_per_call=1',
            '--config.network.mlp_sizes=(8,)', '--progress=false']
  result = _cli(*common, f'--workdir={tmp_path / "small"}', '--config.num_actions=3')
  assert result.returncode == 1 and 'set num_actions to at least 4' in result.stderr
  result = _cli(*common, f'--workdir={tmp_path / "inferred"}')
  assert result.returncode == 0, result.stderr[-3000:]
  assert "Action 'action' has 4 values, inferred from the data (values 0..3)" in \
      result.stderr
  assert json.loads((tmp_path / 'inferred' / 'spec.json').read_text())[
      'action']['action']['num_values'] == 4


def test_specs_compatible_across_integer_widths_and_masks():
  dataset_spec = _spec('int64')
  dataset_spec = specs.EnvSpec(**{**dataset_spec.__dict__, 'action': {
      'action': specs.ArraySpec((), 'int64', num_values=2)}})
  env_spec = specs.EnvSpec(**{**dataset_spec.__dict__, 'action': {
      'action': specs.ArraySpec((), 'int32', num_values=2)},
      'legal_action_mask': {'action': specs.ArraySpec((2,), 'bool')}})
  assert specs.spec_mismatches(dataset_spec, env_spec) == []
  assert specs.spec_mismatches(env_spec, dataset_spec) == []
  other = specs.EnvSpec(**{**env_spec.__dict__, 'action': {
      'action': specs.ArraySpec((), 'float32')}})
  assert specs.spec_mismatches(dataset_spec, other) == [
      'action/action: expected int64[] in [0, 2), got float32[]']


def _minari_cartpole(root):
  """A tiny Minari dataset of CartPole-v1, built locally (nothing is downloaded)."""
  script = """
import gymnasium as gym, minari
env = minari.DataCollector(gym.make('CartPole-v1'))
for episode in range(4):
  env.reset(seed=episode)
  for _ in range(12):
    _, _, terminated, truncated, _ = env.step(env.action_space.sample())
    if terminated or truncated:
      break
env.create_dataset(dataset_id='test/cartpole-v0', algorithm_name='random')
"""
  subprocess.run([sys.executable, '-c', script], check=True, capture_output=True,
                 env=dict(os.environ, MINARI_DATASETS_PATH=str(root)))


def test_minari_dataset_trains_then_evaluates_in_its_environment(tmp_path):
  root = str(tmp_path / 'minari')
  _minari_cartpole(root)
  result = _cli('data', 'convert', 'test/cartpole-v0', str(tmp_path / 'ds'),
                '--from=minari', MINARI_DATASETS_PATH=root)
  assert result.returncode == 0, result.stderr[-3000:]
  ds = datasets.load(tmp_path / 'ds')
  assert ds.spec.env_id == 'minari/test/cartpole-v0'
  assert ds.spec.max_episode_steps == 500  # CartPole-v1's time limit, not 0.
  run = tmp_path / 'run'
  result = _cli('train', '--config', os.path.join(REPO, 'experiments', 'bc.py') + ':bc',
                f'--config.dataset={tmp_path / "ds"}', '--config.num_steps=2',
                '--config.batch_size=4', '--config.updates_per_call=1',
                '--config.eval_every=2', '--config.eval_episodes=2',
                '--config.network.mlp_sizes=(8,)', '--progress=false', f'--workdir={run}',
                MINARI_DATASETS_PATH=root)
  assert result.returncode == 0, result.stderr[-3000:]
  assert (run / 'eval.csv').read_text().count('\n') == 2  # Evaluated in the live env.
  for env_id in ('minari/test/cartpole-v0', 'gym/CartPole-v1'):
    result = _cli('evaluate', f'--env={env_id}', f'--agent={run}', '--games=2',
                  '--progress=false', f'--store={tmp_path / env_id.split("/")[0]}.jsonl',
                  MINARI_DATASETS_PATH=root)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'mean return' in result.stdout
