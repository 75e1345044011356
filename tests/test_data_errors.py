"""Bad input gets a clear error; interrupted recordings never load; the wire codec."""
import os
import shutil

os.environ.setdefault('JAX_PLATFORMS', 'cpu')
import numpy as np
import pytest

from offline_rl import data
from offline_rl import datasets
from offline_rl import specs
from offline_rl.datasets import converters
from offline_rl.datasets import writer as writer_lib
from offline_rl.environments import make
from offline_rl.environments import toy
from offline_rl.evaluation import players


@pytest.fixture(scope='module')
def env():
  return make('toy/corridor-v0', length=3, max_steps=6)


MATCHUPS = [(toy.bot(1.0, 1300.0), toy.bot(0.5, 1000.0))]


@pytest.fixture(scope='module', params=['tfrecord', 'array_record'])
def recorded(request, tmp_path_factory, env):
  path = tmp_path_factory.mktemp(request.param) / 'ds'
  datasets.record(env, MATCHUPS, path, num_episodes=6, num_envs=3, progress=False,
                  episodes_per_shard=3, file_format=request.param, log=None)
  return path


def _copy(path, tmp_path):
  target = tmp_path / 'copy'
  shutil.copytree(path, target)
  return target


def _shard(path):
  return sorted(p for p in path.iterdir() if '-train.' in p.name)[0]


def test_missing_path(tmp_path):
  with pytest.raises(datasets.DatasetError, match='does not exist'):
    datasets.load(tmp_path / 'nothing')
  with pytest.raises(datasets.DatasetError, match='does not exist'):
    data.make_iterator(tmp_path / 'nothing', batch_size=2, unroll_length=2)


def test_directory_that_is_not_a_dataset(tmp_path):
  (tmp_path / 'notes.txt').write_text('hello')
  with pytest.raises(datasets.DatasetError, match='not an RLDS dataset: no dataset_info'):
    datasets.load(tmp_path)
  with pytest.raises(datasets.DatasetError, match='not a dataset directory'):
    datasets.load(tmp_path / 'notes.txt')


def test_truncated_shard_names_the_file(recorded, tmp_path):
  copy = _copy(recorded, tmp_path)
  shard = _shard(copy)
  size = shard.stat().st_size
  with open(shard, 'r+b') as f:
    f.truncate(size // 2)
  with pytest.raises(datasets.DatasetError, match=f'{shard.name}.*truncated'):
    datasets.load(copy)
  # Without our index (as for a dataset written elsewhere), the scan finds it too.
  (copy / writer_lib.INDEX).unlink()
  (copy / writer_lib.SIDE_CAR).unlink()
  with pytest.raises(datasets.DatasetError, match=shard.name):
    datasets.load(copy)


def test_corrupt_shard_names_the_file(recorded, tmp_path):
  copy = _copy(recorded, tmp_path)
  shard = _shard(copy)
  raw = bytearray(shard.read_bytes())
  for i in range(100, 700):  # Inside the first records (ArrayRecord pads its files).
    raw[i] ^= 0x5A
  shard.write_bytes(bytes(raw))
  with pytest.raises(datasets.DatasetError, match=shard.name):
    ds = datasets.load(copy)
    data.make_iterator(ds, batch_size=2, unroll_length=1, backend='memory')


def test_missing_shard(recorded, tmp_path):
  copy = _copy(recorded, tmp_path)
  shard = _shard(copy)
  shard.unlink()
  with pytest.raises(datasets.DatasetError, match=f'{shard.name} is missing'):
    datasets.load(copy)


def test_spec_mismatch_names_every_field(recorded):
  ds = datasets.load(recorded)
  other = make('toy/corridor-v0', length=5, num_players=1, max_steps=6).spec
  with pytest.raises(datasets.SpecMismatchError) as error:
    datasets.validate(ds.spec, other)
  text = str(error.value)
  assert 'observation/position: expected float32[5], got float32[6]' in text
  assert 'num_players: expected 1, got 2' in text
  with pytest.raises(datasets.SpecMismatchError, match='observation/position'):
    data.make_iterator(ds, batch_size=2, unroll_length=1, env_spec=other)
  datasets.validate(ds.spec, ds.spec)  # Equal specs pass.


def test_filter_selecting_nothing(recorded):
  with pytest.raises(data.FilterError, match='selects no episode.*rating ranges over'):
    data.make_iterator(recorded, batch_size=2, unroll_length=1, filters='rating>5000')
  with pytest.raises(data.FilterError, match="no metadata field 'mmr'"):
    data.make_iterator(recorded, batch_size=2, unroll_length=1, filters='mmr>5')
  with pytest.raises(data.FilterError, match='selects no episode.*policy_id takes'):
    data.make_iterator(recorded, batch_size=2, unroll_length=1,
                       filters='policy_id in bot/nobody')


def test_window_longer_than_every_episode(recorded):
  with pytest.raises(datasets.DatasetError, match='longer than every selected episode'):
    data.make_iterator(recorded, batch_size=2, unroll_length=50)


def _spec():
  return specs.EnvSpec(env_id='test/nan-v0', version='0', num_players=1,
                       observation={'x': specs.ArraySpec((2,), 'float32')},
                       action={'action': specs.ArraySpec((), 'int32', num_values=2)},
                       legal_action_mask=None, max_episode_steps=10)


def _nan_dataset(path):
  spec = _spec()

  def episodes():
    for i in range(4):
      obs = np.full((5, 2), i, np.float32)
      if i == 2:
        obs[3, 1] = np.nan
      if i == 3:
        obs[1, 0] = np.inf
      flat = converters.transitions_to_steps({'x': obs}, {'action': np.zeros(5, np.int32)},
                                             np.ones(5), True, {'x': obs[-1]})
      yield flat, converters._metadata(spec, flat)  # pylint: disable=protected-access
  return converters.write_episodes(path, spec, episodes(), file_format='array_record',
                                   nonfinite='keep')


@pytest.mark.parametrize('backend', ['memory', 'stream'])
def test_nonfinite_values(tmp_path, backend):
  ds = _nan_dataset(tmp_path / 'nan')
  with pytest.raises(datasets.DatasetError, match='episode 2 .*NaN or inf in '
                     'steps/observation/x.*drop_nonfinite=True'):
    it = data.make_iterator(ds, batch_size=4, unroll_length=2, split='all',
                            backend=backend, pool_episodes=4)
    next(it)
  it = data.make_iterator(ds, batch_size=16, unroll_length=2, split='all',
                          backend=backend, drop_nonfinite=True, pool_episodes=4)
  batch = next(it)
  assert it.dropped_episodes == [2, 3]
  assert set(np.asarray(batch.metadata['episode']).tolist()) <= {0, 1}
  assert np.isfinite(np.asarray(batch.observation['x'])).all()
  it.close()


@pytest.mark.parametrize('backend', ['memory', 'stream'])
def test_huge_observations_warn_once(tmp_path, backend, caplog):
  """1e37 trains with grad_norm=inf on every update: one line says so, once."""
  spec = _spec()

  def episodes():
    for i in range(4):
      obs = np.full((5, 2), 1e37 if i else 1.0, np.float32)
      flat = converters.transitions_to_steps({'x': obs}, {'action': np.zeros(5, np.int32)},
                                             np.ones(5), True, {'x': obs[-1]})
      yield flat, converters._metadata(spec, flat)  # pylint: disable=protected-access
  ds = converters.write_episodes(tmp_path / 'huge', spec, episodes())
  with caplog.at_level('WARNING'):
    it = data.make_iterator(ds, batch_size=16, unroll_length=2, split='all',
                            backend=backend, pool_episodes=4)
    next(it)
    next(it)
    it.close()
  lines = [r.getMessage() for r in caplog.records if 'beyond' in r.getMessage()]
  assert len(lines) == 1 and '\n' not in lines[0], lines
  assert 'steps/observation/x' in lines[0] and 'grad_norm=inf' in lines[0]


def test_interrupted_recording_is_not_loadable_and_resumes(env, tmp_path, monkeypatch):
  path = tmp_path / 'rec'
  kwargs = dict(num_episodes=6, num_envs=2, progress=False, episodes_per_shard=2)
  original_close = writer_lib.ShardWriter.close
  calls = {'n': 0}

  def crash_on_second(self):
    calls['n'] += 1
    if calls['n'] == 2:
      raise KeyboardInterrupt('simulated crash')
    return original_close(self)

  monkeypatch.setattr(writer_lib.ShardWriter, 'close', crash_on_second)
  with pytest.raises(KeyboardInterrupt):
    datasets.record(env, MATCHUPS, path, log=None, **kwargs)
  monkeypatch.setattr(writer_lib.ShardWriter, 'close', original_close)
  assert not path.exists()
  with pytest.raises(datasets.DatasetError, match='unfinished recording.*resume'):
    datasets.load(path)
  with pytest.raises(datasets.DatasetError, match='not an RLDS dataset'):
    datasets.load(writer_lib.incomplete_dir(path))
  messages = []
  info = datasets.record(env, MATCHUPS, path, log=messages.append, **kwargs)
  assert info['resumed'] and info['resumed_shards'] == 1
  assert 'Resuming' in messages[0] and '1 of 3 shards' in messages[0]
  assert not writer_lib.incomplete_dir(path).exists()
  # Resumed == uninterrupted.
  fresh = datasets.record(env, MATCHUPS, tmp_path / 'fresh', log=None, **kwargs)
  assert not fresh['resumed']
  a, b = datasets.load(path), datasets.load(tmp_path / 'fresh')
  assert a.num_episodes == b.num_episodes == 12
  for i in range(a.num_episodes):
    np.testing.assert_array_equal(a.episode(i)['steps']['observation']['position'],
                                  b.episode(i)['steps']['observation']['position'])
    np.testing.assert_array_equal(a.episode(i)['steps']['action']['action'],
                                  b.episode(i)['steps']['action']['action'])
  # An existing dataset is not overwritten by accident.
  with pytest.raises(datasets.DatasetError, match='already exists.*overwrite'):
    datasets.record(env, MATCHUPS, path, log=None, **kwargs)
  # Different settings over an unfinished run: start clean, and say so.
  monkeypatch.setattr(writer_lib.ShardWriter, 'close', crash_on_second)
  calls['n'] = 0
  with pytest.raises(KeyboardInterrupt):
    datasets.record(env, MATCHUPS, tmp_path / 'other', log=None, **kwargs)
  monkeypatch.setattr(writer_lib.ShardWriter, 'close', original_close)
  messages.clear()
  datasets.record(env, MATCHUPS, tmp_path / 'other', log=messages.append,
                  **{**kwargs, 'num_episodes': 4})
  assert messages[0].startswith('Starting clean')


def test_bad_record_arguments(env, tmp_path):
  with pytest.raises(ValueError, match='2 seat.*1 policies'):
    datasets.record(env, [(toy.bot(1.0),)], tmp_path / 'x', num_episodes=2)
  with pytest.raises(ValueError, match='file_format'):
    datasets.record(env, MATCHUPS, tmp_path / 'x', num_episodes=2, file_format='csv')
  with pytest.raises(players.PolicyNameError, match='corridor-bot-SKILL'):
    players.resolve_policy('rushbot', env)
  policy = players.resolve_policy('corridor-bot-0.25@1234', env)
  assert policy.rating == 1234.0 and policy.policy_id == 'corridor-bot-0.25'


def test_wire_codec_matches_tfds(env):
  """Our records are byte-for-byte what TFDS's serializer writes, and parse back."""
  from tensorflow_datasets.core import example_parser  # pylint: disable=g-import-not-at-top
  from tensorflow_datasets.core import example_serializer  # pylint: disable=g-import-not-at-top
  from offline_rl.datasets import features as features_lib  # pylint: disable=g-import-not-at-top
  from offline_rl.datasets import wire  # pylint: disable=g-import-not-at-top
  feats = features_lib.episode_features(env.spec)
  layout = features_lib.Layout(feats)
  rng = np.random.default_rng(0)
  length = 7
  steps = {
      'observation': {'position': rng.normal(size=(length, 6)).astype(np.float32)},
      'action': {'action': np.array([0, 1, 2, 300, -5, 2**31 - 1, 0], np.int32)},
      'legal_action_mask': {'action': rng.random((length, 3)) > 0.5},
      'reward': rng.normal(size=length).astype(np.float32),
      'discount': np.ones(length, np.float32),
      'is_first': np.arange(length) == 0, 'is_last': np.arange(length) == length - 1,
      'is_terminal': np.zeros(length, bool)}
  meta = {'env_id': 'toy/corridor-v0', 'env_version': '0', 'env_params': '{}',
          'seed': np.int64(-3), 'seat': np.int32(1), 'policy_id': 'bot/é',
          'rating': np.float32(1.5), 'opponent_policy_id': '',
          'opponent_rating': np.float32(np.nan), 'outcome': np.float32(-1),
          'length': np.int32(length), 'episode_return': np.float32(2.5)}
  flat = {f'steps/{k}/{k2}': v2 for k, v in steps.items() if isinstance(v, dict)
          for k2, v2 in v.items()}
  flat.update({f'steps/{k}': v for k, v in steps.items() if not isinstance(v, dict)})
  flat.update({f'episode_metadata/{k}': v for k, v in meta.items()})
  ours = layout.encode(flat)
  serializer = example_serializer.ExampleSerializer(feats.get_serialized_info())
  theirs = serializer.serialize_example(feats.encode_example(
      {'steps': steps, 'episode_metadata': meta}))
  parser = example_parser.ExampleParserNp(feats.get_serialized_info())
  for record in (ours, theirs):
    decoded = layout.decode(record)
    reference = parser.parse_example(record)
    np.testing.assert_array_equal(decoded['steps/action/action'],
                                  steps['action']['action'])
    np.testing.assert_array_equal(decoded['steps/observation/position'],
                                  reference['steps']['observation']['position'])
    assert decoded['episode_metadata/policy_id'] == 'bot/é'
    assert decoded['episode_metadata/seed'] == -3
  assert sorted(wire.decode_example(ours)) == sorted(wire.decode_example(theirs))
  for key, value in wire.decode_example(ours).items():
    other = wire.decode_example(theirs)[key]
    if isinstance(value, list):
      assert value == other
    else:
      np.testing.assert_array_equal(value, other)
  with pytest.raises(wire.WireError):
    wire.decode_example(ours[:len(ours) // 2])
  big = np.array([0, 1, 127, 128, 2**40, -1, -(2**62)], np.int64)
  np.testing.assert_array_equal(wire.decode_varints(wire.encode_varints(big)), big)
