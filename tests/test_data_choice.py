"""skip_no_choice: the windows it leaves out are exactly those the policy losses do not
train (no head `used` on any trained step), so the loss is the full data's."""
import os

os.environ.setdefault('JAX_PLATFORMS', 'cpu')
import jax.numpy as jnp
import numpy as np
import pytest

from offline_rl import data
from offline_rl import errors
from offline_rl import losses
from offline_rl import specs
from offline_rl.datasets import converters

NUM_EPISODES, K = 6, 9  # K transitions: K+1 steps an episode.


def _spec():
  return specs.EnvSpec(
      env_id='test/waiting-v0', version='0', num_players=1,
      observation={'x': specs.ArraySpec((2,), 'float32')},
      action={'function': specs.ArraySpec((), 'int32', num_values=3),
              'arg': specs.ArraySpec((), 'int32', num_values=4)},
      legal_action_mask={'function': specs.ArraySpec((3,), 'bool'),
                         'arg': specs.ArraySpec((3, 4), 'bool')},
      max_episode_steps=K + 1)


def _step(t):
  """(function mask [3], arg mask [3, 4], logged function, logged arg) of step t.

  t % 4 == 0, 1: waiting (one legal function, one legal arg in its row; other rows
  are all legal, so reading the wrong row finds a choice); 2: the function is forced
  but its arg row has two legal values; 3: every function is legal.
  """
  function, arg = np.eye(3, dtype=bool)[0], np.ones((3, 4), bool)
  kind = t % 4
  if kind in (0, 1):
    arg[0] = np.eye(4, dtype=bool)[0]
    return function, arg, 0, 0
  if kind == 2:
    arg[0] = [True, True, False, False]
    return function, arg, 0, 1
  arg[2] = np.eye(4, dtype=bool)[2]
  return np.ones(3, bool), arg, 2, 2


@pytest.fixture(scope='module')
def waiting(tmp_path_factory):
  spec = _spec()

  def episodes():
    for e in range(NUM_EPISODES):
      parts = [_step(t) for t in range(K)]
      obs = np.stack([[e, t] for t in range(K + 1)]).astype(np.float32)
      flat = converters.transitions_to_steps(
          {'x': obs[:K]}, {'function': np.asarray([p[2] for p in parts], np.int32),
                           'arg': np.asarray([p[3] for p in parts], np.int32)},
          np.zeros(K), True, {'x': obs[K]})
      # The last step carries no action: its masks are all-True (pgx's convention).
      flat['steps/legal_action_mask/function'] = np.stack(
          [p[0] for p in parts] + [np.ones(3, bool)])
      flat['steps/legal_action_mask/arg'] = np.stack(
          [p[1] for p in parts] + [np.ones((3, 4), bool)])
      yield flat, converters._metadata(spec, flat)  # pylint: disable=protected-access
  return converters.write_episodes(tmp_path_factory.mktemp('waiting') / 'ds', spec,
                                   episodes())


def _windows(batch, action_spec):
  """{(episode, first trained step): any head used} of a batch's windows."""
  logits = {n: jnp.zeros(batch.action[n].shape[:1] + (batch.action[n].shape[1] - 1,
                                                      leaf.num_values))
            for n, leaf in action_spec.items()}
  used = losses.head_terms(action_spec, logits, batch).used
  any_used = np.asarray(sum(u.astype(jnp.int32) for u in used.values()).sum(-1) > 0)
  x = np.asarray(batch.observation['x'][:, 1])
  return {(int(e), int(t)): bool(u) for (e, t), u in zip(x, any_used)}


@pytest.mark.parametrize('unroll', [1, 2])
def test_skipped_windows_are_exactly_those_no_loss_trains(waiting, unroll):
  action_spec = dict(_spec().action)
  kwargs = dict(batch_size=1024, unroll_length=unroll, split='all', backend='memory')
  every = data.make_iterator(waiting, **kwargs)
  some = data.make_iterator(waiting, skip_no_choice=True, **kwargs)
  truth = _windows(next(every), action_spec)
  assert len(truth) == every.num_windows  # The big batch saw every window.
  kept = _windows(next(some), action_spec)
  assert all(kept.values())  # Every sampled window trains some head ...
  assert set(kept) == {w for w, u in truth.items() if u}  # ... and none is missing.
  assert some.num_windows == len(kept)
  assert some.skipped_no_choice == every.num_windows - some.num_windows > 0


def test_choice_steps_of_the_waiting_pattern(waiting):
  from offline_rl.data import source  # pylint: disable=g-import-not-at-top
  flat = waiting.episode_flat(0)
  expected = [t % 4 >= 2 for t in range(K)] + [False]  # The last step has no action.
  np.testing.assert_array_equal(source.choice_steps(waiting, flat), expected)


def test_skip_no_choice_needs_the_memory_backend(waiting, caplog):
  with pytest.raises(errors.ConfigError, match='memory backend'):
    data.make_iterator(waiting, batch_size=4, unroll_length=1, split='all',
                       backend='stream', skip_no_choice=True)
  # 'auto' on data beyond the budget streams every window (the same expected loss).
  with caplog.at_level('WARNING'):
    it = data.make_iterator(waiting, batch_size=4, unroll_length=1, split='all',
                            skip_no_choice=True, memory_budget_bytes=1)
  it.close()
  assert it.backend == 'stream' and it.skipped_no_choice == 0
  assert any('every window is sampled' in r.getMessage() for r in caplog.records)


def test_skirmish_ladder_data_chooses_only_when_due(tmp_path):
  """On games of the shipped 8x8 ladder, a step carries a choice exactly when its seat
  is due: waiting steps (no_op, unit 0, target 0, delay 0, each the one legal value)
  are what skip_no_choice skips, and every due step keeps its choice."""
  from offline_rl import datasets  # pylint: disable=g-import-not-at-top
  from offline_rl.data import source  # pylint: disable=g-import-not-at-top
  from offline_rl.environments import make  # pylint: disable=g-import-not-at-top
  from offline_rl.environments.skirmish import bots  # pylint: disable=g-import-not-at-top
  from offline_rl.environments.skirmish import rules  # pylint: disable=g-import-not-at-top
  from offline_rl.datasets import reader  # pylint: disable=g-import-not-at-top
  env = make('skirmish/8x8')
  # Two rungs that wait between decisions (interval > 1 tick; 'random' and the top
  # rung decide every tick).
  slow = [p for p in bots.ladder(env) if int(p.params.interval) > 1][:2]
  path = tmp_path / 'ladder'
  datasets.record(env, [slow], path, num_episodes=2, num_envs=2, progress=False,
                  log=None)
  dataset = reader.load(path)
  waiting_steps = 0
  for e in range(dataset.num_episodes):
    flat = dataset.episode_flat(e)
    due = flat['steps/observation/scalars'][:, rules.SCALAR['due']] > 0
    last = flat['steps/is_last'].astype(bool)
    np.testing.assert_array_equal(source.choice_steps(dataset, flat), due & ~last)
    waiting_steps += int((~due | last).sum())
  assert 0 < waiting_steps < dataset.lengths.sum()
  some = data.make_iterator(dataset, batch_size=8, unroll_length=1, split='all',
                            backend='memory', skip_no_choice=True)
  # Windows of one step: exactly the waiting (and last) steps are left out.
  assert some.skipped_no_choice == waiting_steps
  assert some.num_windows == dataset.lengths.sum() - waiting_steps
