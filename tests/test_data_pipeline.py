"""Record -> load -> windows: exact values, seats, episode boundaries, resumption."""
import os

os.environ.setdefault('JAX_PLATFORMS', 'cpu')
import jax
import numpy as np
import pytest

from offline_rl import data
from offline_rl import datasets
from offline_rl import rollout
from offline_rl.environments import make
from offline_rl.environments import toy

LENGTH, MAX_STEPS = 4, 8


@pytest.fixture(scope='module')
def env():
  return make('toy/corridor-v0', length=LENGTH, max_steps=MAX_STEPS)


@pytest.fixture(scope='module')
def matchups():
  return [(toy.bot(0.9, 1400.0), toy.bot(0.4, 1000.0)),
          (toy.bot(0.6, 1200.0), toy.bot(0.6, 1200.0))]


@pytest.fixture(scope='module')
def recorded(tmp_path_factory, env, matchups):
  path = tmp_path_factory.mktemp('rec') / 'corridor'
  info = datasets.record(env, matchups, path, num_episodes=12, seed=3, num_envs=4,
                         episodes_per_shard=4, progress=False, log=None)
  return path, info


@pytest.fixture(scope='module')
def loaded(recorded):
  return datasets.load(recorded[0])


def test_record_counts_and_metadata(recorded, loaded, env):
  path, info = recorded
  assert info['games'] == 12 and info['episodes'] == 24 and info['shards'] == 4
  assert not info['resumed']
  assert loaded.num_episodes == 24
  assert loaded.spec == env.spec and not loaded.spec_inferred
  meta = loaded.metadata
  # One RLDS episode per seat; the two seats of a game are consecutive.
  np.testing.assert_array_equal(meta['seat'], np.tile([0, 1], 12))
  np.testing.assert_array_equal(meta['length'][0::2], meta['length'][1::2])
  # Zero-sum: outcomes of the two seats are opposite; outcome is the return's sign.
  np.testing.assert_array_equal(meta['outcome'][0::2], -meta['outcome'][1::2])
  np.testing.assert_array_equal(meta['outcome'], np.sign(meta['episode_return']))
  # Games spread over matchups: 6 each, ratings and opponents recorded per seat.
  assert list(meta['policy_id'][:2]) == ['corridor-bot-0.9', 'corridor-bot-0.4']
  assert list(meta['opponent_policy_id'][:2]) == ['corridor-bot-0.4', 'corridor-bot-0.9']
  np.testing.assert_array_equal(meta['rating'][:2], [1400.0, 1000.0])
  np.testing.assert_array_equal(meta['opponent_rating'][:2], [1000.0, 1400.0])
  assert (meta['policy_id'] == 'corridor-bot-0.6').sum() == 12
  assert set(meta['env_id']) == {'toy/corridor-v0'}
  assert meta['env_params'][0] == '{"length": 4, "max_steps": 8, "num_players": 2}'
  assert loaded.num_steps == int(meta['length'].sum())
  # TFDS's own reader sees the same dataset.
  import tensorflow_datasets as tfds
  builder = tfds.builder_from_directory(os.fspath(path))
  assert builder.info.splits['train'].num_examples == 24


def test_episodes_equal_the_rollout(loaded, env, matchups):
  """The first game of shard 0 is exactly what rollout produces with the shard key."""
  policies = matchups[0]
  state = rollout.init(env, policies, jax.random.fold_in(jax.random.key(3), 0), 4)
  run = rollout.make_run(env, policies, MAX_STEPS)
  _, steps = run(tuple(p.params for p in policies), state)
  steps = jax.device_get(steps)
  # The episode recorded first is the one that finished first (chunk 0, env order).
  is_last = steps.timestep.is_last
  env_index = next(n for n in range(4) if is_last[:, n].any())
  end = int(np.flatnonzero(is_last[:, env_index])[0])
  for seat in (0, 1):
    episode = loaded.episode(seat)
    s = episode['steps']
    assert len(s['reward']) == end + 1
    np.testing.assert_array_equal(
        s['observation']['position'],
        steps.timestep.observation['position'][:end + 1, env_index, seat])
    expected_action = steps.action['action'][:end + 1, env_index, seat].copy()
    expected_action[-1] = 0  # No action follows the last step.
    np.testing.assert_array_equal(s['action']['action'], expected_action)
    # RLDS alignment: step t holds the reward for a_t, reported at t + 1.
    np.testing.assert_array_equal(
        s['reward'], np.append(steps.timestep.reward[1:end + 1, env_index, seat], 0))
    np.testing.assert_array_equal(
        s['legal_action_mask']['action'],
        steps.timestep.legal_action_mask['action'][:end + 1, env_index, seat])
    np.testing.assert_array_equal(s['is_first'], np.arange(end + 1) == 0)
    np.testing.assert_array_equal(s['is_last'], np.arange(end + 1) == end)
    assert episode['metadata']['episode_return'] == s['reward'].sum()


def _check_windows(batch, dataset, unroll):
  """Every window is a contiguous piece of one episode, zero/masked outside it."""
  obs = np.asarray(batch.observation['position'])
  action = np.asarray(batch.action['action'])
  mask = np.asarray(batch.mask)
  episodes = np.asarray(batch.metadata['episode'])
  assert obs.shape[:2] == (len(episodes), unroll + 1)
  for b, e in enumerate(episodes):
    steps = dataset.episode(int(e))['steps']
    length = len(steps['reward'])
    assert mask[b, 1:].all()  # Trained steps are always inside the episode.
    if not mask[b, 0]:
      start = -1
      assert (obs[b, 0] == 0).all() and action[b, 0] == 0
      assert not np.asarray(batch.is_first)[b, 0]
    else:
      # Find where the window sits: a unique match of T+1 consecutive steps.
      matches = [s for s in range(length - unroll)
                 if np.array_equal(steps['observation']['position'][s:s + unroll + 1],
                                   obs[b]) and
                 np.array_equal(steps['action']['action'][s:s + unroll + 1], action[b])]
      assert matches, f'window {b} is not a piece of episode {e}'
      start = matches[0]
    lo = max(start, 0)
    np.testing.assert_array_equal(
        obs[b, lo - start:], steps['observation']['position'][lo:start + unroll + 1])
    np.testing.assert_array_equal(np.asarray(batch.reward)[b, lo - start:],
                                  steps['reward'][lo:start + unroll + 1])
    np.testing.assert_array_equal(np.asarray(batch.is_first)[b, lo - start:],
                                  steps['is_first'][lo:start + unroll + 1])
    assert np.asarray(batch.metadata['rating'])[b] == dataset.metadata['rating'][e]
    assert np.asarray(batch.metadata['outcome'])[b] == dataset.metadata['outcome'][e]


@pytest.mark.parametrize('backend', ['memory', 'stream'])
def test_windows_never_mix_episodes(loaded, backend):
  it = data.make_iterator(loaded, batch_size=16, unroll_length=3, seed=5,
                          backend=backend, split='all', pool_episodes=5)
  assert it.backend == backend and it.spec == loaded.spec
  seen_first_window = False
  for _ in range(4):
    batch = next(it)
    _check_windows(batch, loaded, 3)
    # An episode's first step can only sit at index 0 (start s=0) or 1 (s=-1).
    firsts = np.asarray(batch.is_first)
    assert not firsts[:, 2:].any()
    np.testing.assert_array_equal(firsts[:, 1], ~np.asarray(batch.mask)[:, 0])
    seen_first_window |= bool((~np.asarray(batch.mask)[:, 0]).any())
  assert seen_first_window
  it.close()


@pytest.mark.parametrize('backend', ['memory', 'stream'])
def test_resume_equals_uninterrupted(loaded, backend):
  kwargs = dict(batch_size=5, unroll_length=2, seed=11, backend=backend,
                pool_episodes=3, filters='rating>=1000')
  it = data.make_iterator(loaded, **kwargs)
  uninterrupted = [next(it) for _ in range(9)]
  it.close()
  first = data.make_iterator(loaded, **kwargs)
  for _ in range(4):
    next(first)
  state = first.get_state()
  assert all(isinstance(v, (int, str)) for v in state.values())
  first.close()
  resumed = data.make_iterator(loaded, **kwargs)
  resumed.set_state(state)
  for expected in uninterrupted[4:]:
    got = next(resumed)
    for a, b in zip(jax.tree.leaves(expected), jax.tree.leaves(got)):
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  resumed.close()
  other = data.make_iterator(loaded, **{**kwargs, 'seed': 12})
  assert not np.array_equal(np.asarray(next(other).metadata['episode']),
                            np.asarray(uninterrupted[0].metadata['episode']))
  other.close()


def _assert_same(expected, got):
  assert jax.tree.structure(expected) == jax.tree.structure(got)
  for a, b in zip(jax.tree.leaves(expected), jax.tree.leaves(got)):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize('backend', ['memory', 'stream'])
def test_next_many_equals_successive_next_and_resumes(loaded, backend):
  kwargs = dict(batch_size=6, unroll_length=2, seed=7, backend=backend,
                pool_episodes=3)
  it = data.make_iterator(loaded, **kwargs)
  singles = [next(it) for _ in range(9)]
  it.close()
  many = data.make_iterator(loaded, **kwargs)
  _assert_same(singles[0], next(many))  # next and next_many mix freely.
  stacked = many.next_many(5)  # batches 1..5
  assert np.shape(stacked.mask) == (5, 6, 3)
  assert np.shape(stacked.metadata['episode']) == (5, 6)
  for k in range(5):
    _assert_same(singles[1 + k], jax.tree.map(lambda x, k=k: x[k], stacked))
  # Not the same batch five times.
  assert not np.array_equal(np.asarray(stacked.metadata['episode'][0]),
                            np.asarray(stacked.metadata['episode'][1]))
  state = many.get_state()
  assert state['batch_index'] == 6
  _assert_same(singles[6], next(many))
  many.close()
  resumed = data.make_iterator(loaded, **kwargs)
  resumed.set_state(state)
  rest = resumed.next_many(3)
  for k in range(3):
    _assert_same(singles[6 + k], jax.tree.map(lambda x, k=k: x[k], rest))
  with pytest.raises(ValueError, match='count >= 1'):
    resumed.next_many(0)
  resumed.close()


def test_sampling_is_uniform_over_window_starts(loaded):
  """Episodes are drawn in proportion to their number of valid starts (L-T+1)."""
  unroll = 2
  it = data.make_iterator(loaded, batch_size=512, unroll_length=unroll, seed=0,
                          backend='memory', split='all')
  counts = np.zeros(loaded.num_episodes)
  for _ in range(8):
    np.add.at(counts, np.asarray(next(it).metadata['episode']), 1)
  windows = loaded.lengths - unroll + 1
  expected = windows / windows.sum() * counts.sum()
  chi2 = ((counts - expected) ** 2 / expected).sum()
  assert chi2 < 60, chi2  # 23 degrees of freedom; p < 1e-4 above 55.


def test_split_and_filters(loaded):
  train = data.make_iterator(loaded, batch_size=64, unroll_length=2, split='train',
                             validation_fraction=0.25)
  val = data.make_iterator(loaded, batch_size=64, unroll_length=2, split='validation',
                           validation_fraction=0.25)
  train_eps = set(np.asarray(next(train).metadata['episode']).tolist())
  val_eps = set(np.asarray(next(val).metadata['episode']).tolist())
  assert train_eps and val_eps and not train_eps & val_eps
  assert val.num_episodes == 6  # 25% of 24 episodes (all long enough for T=2).
  winners = data.make_iterator(loaded, batch_size=64, unroll_length=2, split='all',
                               filters='outcome==1,rating>=1200')
  batch = next(winners)
  assert (np.asarray(batch.metadata['outcome']) == 1).all()
  assert (np.asarray(batch.metadata['rating']) >= 1200).all()
  named = data.make_iterator(loaded, batch_size=64, unroll_length=2, split='all',
                             filters='policy_id in corridor-bot-0.9,corridor-bot-0.4')
  assert named.num_episodes == 12
  assert set(loaded.metadata['policy_id'][
      np.asarray(next(named).metadata['episode'])]) <= {'corridor-bot-0.9',
                                                         'corridor-bot-0.4'}


def test_filter_parsing():
  conditions = data.filters.parse('rating>=1200, outcome==1,policy_id in a/b,c-1 ,seat!=0')
  assert [str(c) for c in conditions] == ['rating>=1200', 'outcome==1',
                                          'policy_id in a/b,c-1', 'seat!=0']
  with pytest.raises(data.FilterError, match='cannot parse'):
    data.filters.parse('rating => 3')


def test_record_host_environment(tmp_path):
  """Host environments (gymnasium via the adapter) record through rollout's host path."""
  from offline_rl.environments import adapters  # pylint: disable=g-import-not-at-top
  env = adapters.GymnasiumEnv('CartPole-v1')
  assert not env.jittable
  policy = adapters.random_policy(env.spec)
  info = datasets.record(env, [(policy,)], tmp_path / 'cartpole', num_episodes=3,
                         num_envs=2, progress=False, log=None, chunk_steps=32)
  ds = datasets.load(info['path'])
  assert ds.num_episodes == 3 and ds.spec.num_players == 1
  meta = ds.metadata
  np.testing.assert_array_equal(meta['outcome'], meta['episode_return'])
  for i in range(3):
    steps = ds.episode(i)['steps']
    assert steps['is_first'][0] and steps['is_last'][-1] and steps['is_last'].sum() == 1
    # CartPole pays +1 for every action (RLDS: the last step holds none).
    assert steps['reward'][-1] == 0 and (steps['reward'][:-1] == 1).all()
    assert meta['episode_return'][i] == len(steps['reward']) - 1


def test_stream_shards_episodes_by_process(loaded):
  """Each process reads a disjoint share of the episodes (every count-th one)."""
  seen = []
  for index in range(2):
    it = data.make_iterator(loaded, batch_size=32, unroll_length=2, split='all',
                            backend='stream', process_index=index, process_count=2,
                            seed=4)
    episodes = set()
    for _ in range(3):
      episodes |= set(np.asarray(next(it).metadata['episode']).tolist())
    it.close()
    assert it.num_episodes == 12
    seen.append(episodes)
  assert seen[0] and seen[1] and not seen[0] & seen[1]
  assert seen[0] <= set(range(0, 24, 2)) and seen[1] <= set(range(1, 24, 2))


def test_rollout_params_per_env(env):
  """rollout.make_run(params_per_env=True): each environment plays its own bot knobs."""
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  policies = (toy.bot(1.0), toy.bot(1.0))
  run = rollout.make_run(env, policies, 6, params_per_env=True)
  state = rollout.init(env, policies, jax.random.key(0), 2)
  # Environment 0: seat 0 always moves right; environment 1: seat 0 never does.
  params = (jnp.array([1.0, 0.0]), jnp.array([1.0, 1.0]))
  _, steps = run(params, state)
  actions = np.asarray(steps.action['action'])  # [T, N, P]
  assert (actions[:3, 0, 0] == 2).all()
  assert (actions[:, :, 1][np.asarray(~steps.timestep.is_last)] == 2).all()
  # Skill 0 moves uniformly among legal actions: not always right.
  assert (actions[:, 1, 0] != 2).any()
