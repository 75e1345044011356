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


def _cli(*args):
  return subprocess.run(
      [sys.executable, '-c', 'import sys; from offline_rl import cli; '
       'cli.run(["offline-rl"] + sys.argv[1:])', *args], capture_output=True, text=True,
      timeout=300, env=dict(os.environ, JAX_PLATFORMS='cpu'))


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
