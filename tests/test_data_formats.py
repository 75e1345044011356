"""Datasets written by other tools load, filter and window; importers; conversion; CLI."""
import os

os.environ.setdefault('JAX_PLATFORMS', 'cpu')
import numpy as np
import pytest

from offline_rl import data
from offline_rl import datasets
from offline_rl.datasets import _lazy
from offline_rl.evaluation import players


def _episode(i, length):
  """A foreign RLDS episode: obs float32[3] = (i, t, 0), ClassLabel action t % 3."""
  steps = []
  for t in range(length):
    steps.append({
        'observation': np.array([i, t, 0], np.float32),
        'action': t % 3, 'reward': np.float32(t), 'discount': np.float32(1.0),
        'is_first': t == 0, 'is_last': t == length - 1,
        'is_terminal': t == length - 1})
  # tfds.rlds.rlds_base puts episode metadata next to 'steps'.
  return {'steps': steps, 'rating': np.float32(i * 100), 'player': f'p{i % 2}'}


def _config(name):
  tfds = _lazy.tfds()
  return tfds.rlds.rlds_base.DatasetConfig(
      name=name,
      observation_info=tfds.features.Tensor(shape=(3,), dtype=np.float32),
      action_info=tfds.features.ClassLabel(num_classes=3),
      reward_info=np.float32, discount_info=np.float32,
      episode_metadata_info={'rating': np.float32, 'player': tfds.features.Text()})


LENGTHS = [5, 7, 4, 9, 6, 8]


@pytest.fixture(scope='module')
def builder_dir(tmp_path_factory):
  """Written by a TFDS GeneratorBasedBuilder using tfds.rlds.rlds_base."""
  tfds = _lazy.tfds()

  class ForeignRlds(tfds.core.GeneratorBasedBuilder):
    VERSION = tfds.core.Version('1.0.0')
    BUILDER_CONFIGS = [_config('toy_cfg')]

    def _info(self):
      return tfds.rlds.rlds_base.build_info(self.builder_config, self)

    def _split_generators(self, dl_manager):
      del dl_manager
      return {'train': self._generate_examples()}

    def _generate_examples(self):
      for i, length in enumerate(LENGTHS):
        yield i, _episode(i, length)

  root = tmp_path_factory.mktemp('tfds')
  builder = ForeignRlds(data_dir=os.fspath(root))
  builder.download_and_prepare()
  return root / 'foreign_rlds'


@pytest.fixture(scope='module')
def episode_writer_dir(tmp_path_factory):
  """Written by rlds's EpisodeWriter."""
  _lazy.rlds()  # rlds needs its dm-reverb placeholder before import.
  from rlds.tfds import episode_writer  # pylint: disable=g-import-not-at-top
  path = tmp_path_factory.mktemp('ew') / 'ew'
  path.mkdir()
  writer = episode_writer.EpisodeWriter(os.fspath(path), _config('ew_data'),
                                        max_episodes_per_file=2)
  for i, length in enumerate(LENGTHS):
    writer.add_episode(_episode(i, length))
  writer.close()
  return path


def _check_foreign(path):
  ds = datasets.load(path)
  assert ds.spec_inferred
  assert ds.num_episodes == len(LENGTHS)
  assert sorted(ds.lengths.tolist()) == sorted(LENGTHS)
  spec = ds.spec
  assert spec.observation['observation'].shape == (3,)
  assert spec.action['action'].num_values == 3
  assert spec.legal_action_mask is None and spec.num_players == 1
  # Episode metadata, and the return computed from the rewards.
  order = np.argsort(ds.metadata['rating'])
  np.testing.assert_array_equal(ds.metadata['rating'][order], np.arange(6) * 100)
  np.testing.assert_allclose(ds.metadata['episode_return'][order],
                             [sum(range(n)) for n in LENGTHS])
  assert set(ds.metadata['player']) == {'p0', 'p1'}
  # Filtering and windowing: every window is (i, t..t+T) of one episode i.
  it = data.make_iterator(ds, batch_size=32, unroll_length=4, split='all',
                          filters='rating>=200,player==p1', backend='memory')
  batch = next(it)
  obs = np.asarray(batch.observation['observation'])
  mask = np.asarray(batch.mask)
  rating = np.asarray(batch.metadata['rating'])
  assert set(rating.tolist()) <= {300.0, 500.0}
  for b in range(32):
    i = rating[b] / 100
    assert (obs[b, mask[b], 0] == i).all()
    t = obs[b, mask[b], 1]
    np.testing.assert_array_equal(np.diff(t), 1)
    np.testing.assert_array_equal(np.asarray(batch.action['action'])[b, mask[b]], t % 3)
    np.testing.assert_array_equal(np.asarray(batch.reward)[b, mask[b]], t)
  return ds


def test_tfds_builder_dataset_loads_filters_windows(builder_dir):
  _check_foreign(builder_dir)


def test_episode_writer_dataset_loads_filters_windows(episode_writer_dir):
  ds = _check_foreign(episode_writer_dir)
  assert len(ds.shard_paths) == 3


def test_cli_info_describes_foreign_dataset(builder_dir, capsys):
  from absl import flags  # pylint: disable=g-import-not-at-top
  from offline_rl.commands import data as data_command  # pylint: disable=g-import-not-at-top
  if not flags.FLAGS.is_parsed():
    flags.FLAGS(['offline-rl data'])
  assert data_command.main(['offline-rl data', 'info', os.fspath(builder_dir)]) == 0
  out = capsys.readouterr().out
  assert 'episodes     6' in out and f'steps        {sum(LENGTHS)}' in out
  assert 'observation: float32[3]' in out and 'action: int64[] in [0, 3)' in out
  assert 'spec inferred' in out and 'ratings' in out and 'lengths' in out
  assert '500 | ' in out  # A rating histogram row.
  assert data_command.main(['offline-rl data', 'inspect', os.fspath(builder_dir)]) == 0
  assert 'is_first: True' in capsys.readouterr().out
  assert data_command.main(['offline-rl data', 'info', '/does/not/exist']) == 1
  assert 'does not exist' in capsys.readouterr().err


def test_convert_to_array_record_and_stream(builder_dir, tmp_path):
  converted = datasets.convert(builder_dir, tmp_path / 'ar', file_format='array_record')
  assert converted.file_format == 'array_record'
  assert converted.num_episodes == 6
  original = datasets.load(builder_dir)
  for i in range(6):
    a, b = original.episode(i), converted.episode(i)
    np.testing.assert_array_equal(a['steps']['observation']['observation'],
                                  b['steps']['observation']['observation'])
  it = data.make_iterator(converted, batch_size=8, unroll_length=3, backend='stream',
                          split='all')
  batch = next(it)
  assert np.asarray(batch.observation['observation']).shape == (8, 4, 3)
  it.close()


def test_d4rl_import(tmp_path):
  import h5py  # pylint: disable=g-import-not-at-top
  path = tmp_path / 'd4rl.hdf5'
  n = 10
  with h5py.File(path, 'w') as f:
    f['observations'] = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    f['actions'] = np.linspace(-1, 1, n, dtype=np.float32).reshape(n, 1)
    f['rewards'] = np.arange(n, dtype=np.float32)
    terminals = np.zeros(n, bool)
    terminals[3] = True
    timeouts = np.zeros(n, bool)
    timeouts[7] = True
    f['terminals'] = terminals
    f['timeouts'] = timeouts
    f['next_observations'] = np.arange(2, n * 2 + 2, dtype=np.float32).reshape(n, 2)
  ds = datasets.import_d4rl(path, tmp_path / 'rlds')
  # Episodes: transitions 0-3 (terminal), 4-7 (timeout), 8-9 (end of file).
  np.testing.assert_array_equal(ds.lengths, [5, 5, 3])
  ep = ds.episode(0)['steps']
  np.testing.assert_array_equal(ep['observation']['observation'][:, 0], [0, 2, 4, 6, 8])
  np.testing.assert_array_equal(ep['reward'], [0, 1, 2, 3, 0])
  np.testing.assert_array_equal(ep['is_terminal'], [0, 0, 0, 0, 1])
  np.testing.assert_array_equal(ep['discount'], [1, 1, 1, 0, 0])
  ep1 = ds.episode(1)['steps']
  assert not ep1['is_terminal'].any() and ep1['discount'][-1] == 1
  np.testing.assert_allclose(ds.metadata['episode_return'], [6, 22, 17])
  assert ds.spec.action['action'].dtype == 'float32'
  bad = tmp_path / 'bad.hdf5'
  with h5py.File(bad, 'w') as f:
    f['observations'] = np.zeros((3, 2))
  with pytest.raises(datasets.DatasetError, match='lacks the D4RL keys'):
    datasets.import_d4rl(bad, tmp_path / 'bad_rlds')


def test_minari_import(tmp_path, monkeypatch):
  monkeypatch.setenv('MINARI_DATASETS_PATH', os.fspath(tmp_path / 'minari'))
  import gymnasium as gym  # pylint: disable=g-import-not-at-top
  import minari  # pylint: disable=g-import-not-at-top
  env = minari.DataCollector(gym.make('CartPole-v1'))
  lengths = []
  for episode in range(3):
    env.reset(seed=episode)
    steps = 0
    while True:
      _, _, terminated, truncated, _ = env.step(env.action_space.sample())
      steps += 1
      if terminated or truncated or steps >= 15:
        break
    lengths.append(steps)
  minari_ds = env.create_dataset(dataset_id='test/cartpole-v0',
                                 algorithm_name='random')
  env.close()
  ds = datasets.import_minari('test/cartpole-v0', tmp_path / 'rlds')
  assert ds.num_episodes == 3
  # K transitions become K+1 steps (the final observation has its own step).
  np.testing.assert_array_equal(ds.lengths, np.asarray(lengths) + 1)
  assert ds.spec.action['action'].num_values == 2
  assert ds.spec.observation['observation'].shape == (4,)
  source = next(iter(minari_ds.iterate_episodes()))
  ep = ds.episode(0)['steps']
  np.testing.assert_allclose(ep['observation']['observation'], source.observations)
  np.testing.assert_array_equal(ep['action']['action'][:-1], source.actions)
  np.testing.assert_allclose(ep['reward'][:-1], source.rewards)
  it = data.make_iterator(ds, batch_size=4, unroll_length=3, split='all')
  assert np.asarray(next(it).observation['observation']).shape == (4, 4, 4)


def test_cli_record_with_named_bots(tmp_path, capsys):
  from absl import flags  # pylint: disable=g-import-not-at-top
  from offline_rl.commands import data as data_command  # pylint: disable=g-import-not-at-top
  if not flags.FLAGS.is_parsed():
    flags.FLAGS(['offline-rl data'])
  saved = {k: flags.FLAGS[k].value for k in ('env', 'env_kwargs', 'matchup',
                                             'num_episodes', 'num_envs', 'progress')}
  try:
    flags.FLAGS.env = 'toy/corridor-v0'
    flags.FLAGS.env_kwargs = '{"length": 3, "max_steps": 6}'
    flags.FLAGS.matchup = ['corridor-bot-1@1500,corridor-bot-0.5']
    flags.FLAGS.num_episodes = 4
    flags.FLAGS.num_envs = 2
    flags.FLAGS.progress = False
    path = tmp_path / 'cli'
    assert data_command.main(['offline-rl data', 'record', os.fspath(path)]) == 0
    assert 'recorded 4 games = 8 episodes' in capsys.readouterr().out
    ds = datasets.load(path)
    assert list(ds.metadata['rating'][:2]) == [1500.0, np.float32(np.nan)] or (
        ds.metadata['rating'][0] == 1500.0 and np.isnan(ds.metadata['rating'][1]))
    flags.FLAGS.matchup = ['no-such-bot,corridor-bot-1']
    assert data_command.main(['offline-rl data', 'record', os.fspath(tmp_path / 'x')]) == 1
    assert 'corridor-bot-SKILL' in capsys.readouterr().err
  finally:
    for k, v in saved.items():
      flags.FLAGS[k].value = v


def test_skirmish_bots_resolve_by_name():
  from offline_rl.environments import make  # pylint: disable=g-import-not-at-top
  env = make('skirmish/8x8')
  policy = players.resolve_policy('bot/rush-3@1234', env)
  assert policy.policy_id == 'bot/rush-3' and policy.rating == 1234.0
  assert 'rush-3' in players.bot_names(env)


def test_envlogger_tfds_backend_dataset_loads(tmp_path):
  """EnvLogger's TFDS backend (envlogger 1.2, installed by the Makefile for tests)."""
  _lazy.rlds()
  import dm_env  # pylint: disable=g-import-not-at-top
  import envlogger  # pylint: disable=g-import-not-at-top
  from envlogger.backends import tfds_backend_writer  # pylint: disable=g-import-not-at-top
  from dm_env import specs as dm_specs  # pylint: disable=g-import-not-at-top
  tfds = _lazy.tfds()

  class Counter(dm_env.Environment):
    """Observation [2] = (episode, t); episodes of 3 + episode steps."""

    def __init__(self):
      self._episode, self._t = -1, 0

    def reset(self):
      self._episode, self._t = self._episode + 1, 0
      return dm_env.restart(self._obs())

    def step(self, action):
      self._t += 1
      if self._t >= 3 + self._episode:
        return dm_env.termination(1.0, self._obs())
      return dm_env.transition(0.5, self._obs())

    def _obs(self):
      return np.array([self._episode, self._t], np.float32)

    def observation_spec(self):
      return dm_specs.Array((2,), np.float32)

    def action_spec(self):
      return dm_specs.DiscreteArray(2)

  path = tmp_path / 'envlogger'
  path.mkdir()
  config = tfds.rlds.rlds_base.DatasetConfig(
      name='counter', observation_info=tfds.features.Tensor(shape=(2,), dtype=np.float32),
      action_info=np.int64, reward_info=np.float64, discount_info=np.float64)
  backend = tfds_backend_writer.TFDSBackendWriter(
      data_directory=os.fspath(path), split_name='train', ds_config=config,
      max_episodes_per_file=2)
  with envlogger.EnvLogger(Counter(), backend=backend) as env:
    for _ in range(4):
      timestep = env.reset()
      while not timestep.last():
        timestep = env.step(np.int64(1))
  ds = datasets.load(path)
  assert ds.num_episodes == 4 and ds.spec_inferred
  np.testing.assert_array_equal(sorted(ds.lengths), [4, 5, 6, 7])
  it = data.make_iterator(ds, batch_size=8, unroll_length=3, split='all')
  batch = next(it)
  obs = np.asarray(batch.observation['observation'])
  mask = np.asarray(batch.mask)
  for b in range(8):
    assert len(set(obs[b, mask[b], 0])) == 1  # One episode per window.
    np.testing.assert_array_equal(np.diff(obs[b, mask[b], 1]), 1)
