"""Fields and formats of other people's data: text fields, metadata in `data info`,
a TFDS data_dir root, D4RL files without next_observations, binned histograms."""
import os
import shutil

os.environ.setdefault('JAX_PLATFORMS', 'cpu')
import numpy as np
import pytest

from offline_rl import data
from offline_rl import datasets
from offline_rl import errors
from offline_rl import specs
from offline_rl.datasets import _lazy
from offline_rl.datasets import converters
from offline_rl.datasets import features as features_lib
from offline_rl.datasets import writer as writer_lib


def _spec():
  return specs.EnvSpec(env_id='rlds/instructed', version='1', num_players=1,
                       observation={'x': specs.ArraySpec((2,), 'float32')},
                       action={'action': specs.ArraySpec((), 'int64', num_values=3)},
                       legal_action_mask=None, max_episode_steps=0)


@pytest.fixture(scope='module')
def instructed(tmp_path_factory):
  """A foreign dataset: observations carry a text instruction; metadata a task name
  and a continuous score. Written without our sidecar, as another tool would."""
  tfds = _lazy.tfds()
  spec = _spec()
  metadata = {key: tfds.features.Text() if dtype == 'str' else
              tfds.features.Scalar(np.dtype(dtype))
              for key, dtype in features_lib._METADATA_DTYPES.items()}  # pylint: disable=protected-access
  metadata.update(task=tfds.features.Text(), score=tfds.features.Scalar(np.float32))
  features = tfds.features.FeaturesDict({
      'steps': tfds.features.Dataset({
          'observation': {'x': tfds.features.Tensor(shape=(2,), dtype=np.float32),
                          'instruction': tfds.features.Text()},
          'action': {'action': tfds.features.Scalar(np.int64)},
          'reward': tfds.features.Scalar(np.float32),
          'discount': tfds.features.Scalar(np.float32),
          'is_first': np.bool_, 'is_last': np.bool_, 'is_terminal': np.bool_}),
      'episode_metadata': metadata})

  def episodes():
    for i in range(10):
      k = 4
      obs = np.full((k, 2), i, np.float32)
      flat = converters.transitions_to_steps(
          {'x': obs}, {'action': np.arange(k) % 3}, np.ones(k), True, {'x': obs[-1]})
      flat['steps/observation/instruction'] = np.asarray(['go left'] * (k + 1), object)
      meta = converters._metadata(spec, flat)  # pylint: disable=protected-access
      meta.update(task=['open', 'close', 'push'][i % 3], score=np.float32(i * 0.37))
      yield flat, meta
  path = tmp_path_factory.mktemp('instructed') / 'ds'
  converters.write_episodes(path, spec, episodes(), features=features)
  (path / writer_lib.SIDE_CAR).unlink()  # No sidecar: the spec is inferred.
  (path / writer_lib.INDEX).unlink()
  (path / 'metadata.json').unlink()
  return path


def test_text_observation_field_is_skipped(instructed):
  ds = datasets.load(instructed)
  assert ds.spec_inferred
  assert ds.skipped_fields == ['steps/observation/instruction']
  assert set(ds.spec.observation) == {'x'}
  batch = next(data.make_iterator(ds, batch_size=4, unroll_length=2, split='all'))
  assert set(batch.observation) == {'x'}


def _info(path, capsys):
  from absl import flags  # pylint: disable=g-import-not-at-top
  from offline_rl.commands import data as data_command  # pylint: disable=g-import-not-at-top
  if not flags.FLAGS.is_parsed():
    flags.FLAGS(['offline-rl data'])
  assert data_command.main(['offline-rl data', 'info', os.fspath(path)]) == 0
  return capsys.readouterr().out


def test_info_lists_every_metadata_field(instructed, capsys):
  out = _info(instructed, capsys)
  assert '(skipped: steps/observation/instruction holds text' in out
  section = out[out.index('metadata fields'):]
  assert '  task (text)' in section and 'open | ' in section and ' 4\n' in section
  assert '  score (float32)' in section
  # Ten distinct continuous scores: binned into a few ranges, not ten rows.
  lines = section[section.index('score (float32)'):].splitlines()[1:]
  rows = []
  for line in lines:
    if not line.startswith('    '):
      break  # The next field.
    rows.append(line)
  assert 2 <= len(rows) <= 5 and all(r.strip().startswith('[') for r in rows)


def test_tfds_data_dir_root_loads_its_only_dataset(instructed, tmp_path):
  root = tmp_path / 'tensorflow_datasets'
  shutil.copytree(instructed, root / 'instructed' / 'default' / '1.0.0')
  assert datasets.load(root).num_episodes == 10
  shutil.copytree(instructed, root / 'other' / 'default' / '1.0.0')
  with pytest.raises(datasets.DatasetError, match='holds several datasets'):
    datasets.load(root)


def test_d4rl_without_next_observations_keeps_terminal_transitions(tmp_path):
  import h5py  # pylint: disable=g-import-not-at-top
  path = tmp_path / 'sparse.hdf5'
  n = 9
  rewards = np.zeros(n, np.float32)
  rewards[3] = 1.0  # The goal reward arrives on the terminal transition only.
  terminals = np.zeros(n, bool)
  terminals[3] = True
  timeouts = np.zeros(n, bool)
  timeouts[6] = True
  with h5py.File(path, 'w') as f:
    f['observations'] = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    f['actions'] = np.arange(n) % 2
    f['rewards'] = rewards
    f['terminals'] = terminals
    f['timeouts'] = timeouts
  ds = datasets.import_d4rl(path, tmp_path / 'rlds')
  # Terminated 0-3: all 4 transitions + a final step. Truncated 4-6: 2 transitions,
  # o_6 as the final observation. End of file 7-8: 1 transition + o_8.
  np.testing.assert_array_equal(ds.lengths, [5, 3, 2])
  ep = ds.episode(0)['steps']
  np.testing.assert_array_equal(ep['reward'], [0, 0, 0, 1, 0])
  np.testing.assert_array_equal(ep['discount'], [1, 1, 1, 0, 0])
  assert ep['is_terminal'][-1]
  np.testing.assert_allclose(ds.metadata['episode_return'], [1, 0, 0])


@pytest.mark.parametrize('backend', ['memory', 'stream'])
def test_observation_keys_select_fields(tmp_path_factory, instructed, backend):
  spec = specs.EnvSpec(env_id='test/two-fields-v0', version='0', num_players=1,
                       observation={'x': specs.ArraySpec((2,), 'float32'),
                                    'y': specs.ArraySpec((3,), 'float32')},
                       action={'action': specs.ArraySpec((), 'int32', num_values=2)},
                       legal_action_mask=None, max_episode_steps=5)

  def episodes():
    for i in range(3):
      obs = {'x': np.full((4, 2), np.nan, np.float32), 'y': np.full((4, 3), i, np.float32)}
      flat = converters.transitions_to_steps(obs, {'action': np.zeros(4, np.int32)},
                                             np.ones(4), True, {k: v[-1] for k, v in obs.items()})
      yield flat, converters._metadata(spec, flat)  # pylint: disable=protected-access
  ds = converters.write_episodes(tmp_path_factory.mktemp('two') / 'ds', spec, episodes(),
                                 nonfinite='keep')
  # 'x' holds NaN: unselected, it is neither read nor refused.
  it = data.make_iterator(ds, batch_size=4, unroll_length=2, split='all', backend=backend,
                          observation_keys=['y'])
  batch = next(it)
  it.close()
  assert list(batch.observation) == ['y'] and list(it.spec.observation) == ['y']
  assert np.asarray(batch.observation['y']).shape == (4, 3, 3)
  with pytest.raises(errors.ConfigError, match=r"\['z'\] are not observation fields.*'x', 'y'"):
    data.make_iterator(ds, batch_size=4, unroll_length=2, observation_keys=['y', 'z'])
  with pytest.raises(errors.ConfigError, match='text fields.*instruction'):
    data.make_iterator(instructed, batch_size=4, unroll_length=2,
                       observation_keys=['instruction'])
