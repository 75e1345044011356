"""The evaluator: batched matches, determinism, seats, shards, the store, resumption."""
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from offline_rl import evaluation
from offline_rl import types
from offline_rl.environments import make
from offline_rl.environments import toy
from offline_rl.evaluation import matches
from offline_rl.evaluation import store as store_lib
from offline_rl.evaluation import work


@pytest.fixture(scope='module')
def duel():
  return make('toy/corridor-v0', length=6, max_steps=20)


@pytest.fixture(scope='module')
def solo():
  return make('toy/corridor-v0', length=6, num_players=1, max_steps=20)


def test_deterministic_given_seed_and_shard_independent(duel):
  a, b = toy.bot(0.7), toy.bot(0.5)
  first = evaluation.play(duel, [a, b], seed=3, num_games=16)
  again = evaluation.play(duel, [a, b], seed=3, num_games=16)
  for x, y in zip(first, again):
    np.testing.assert_array_equal(x, y)
  # Another seed gives other games (these bots are random).
  other = evaluation.play(duel, [a, b], seed=4, num_games=16)
  assert not np.array_equal(first.returns, other.returns)
  # Splitting the games into shards or batches changes nothing.
  parts = [evaluation.play(duel, [a, b], seed=3, num_games=8, first_game=f)
           for f in (0, 8)]
  np.testing.assert_array_equal(np.concatenate([p.returns for p in parts]), first.returns)
  np.testing.assert_array_equal(np.concatenate([p.length for p in parts]), first.length)
  batched = evaluation.play(duel, [a, b], seed=3, num_games=16, batch_size=8)
  np.testing.assert_array_equal(batched.returns, first.returns)


def test_seats_alternate_and_results_are_in_policy_order(duel):
  strong, idle = toy.bot(1.0), toy.bot(0.0)
  r = evaluation.play(duel, [strong, idle], seed=0, num_games=8)
  np.testing.assert_array_equal(r.swapped, [False, True] * 4)
  # The perfect bot walks 5 cells in 5 steps from either seat and always wins.
  np.testing.assert_array_equal(r.returns, [[1.0, -1.0]] * 8)
  np.testing.assert_array_equal(r.length, [5] * 8)
  assert r.terminal.all()
  np.testing.assert_array_equal(evaluation.outcome(r), 1.0)
  # Two perfect bots arrive together: draws.
  tie = evaluation.play(duel, [strong, toy.bot(1.0)], seed=0, num_games=4)
  np.testing.assert_array_equal(evaluation.outcome(tie), 0.5)


def test_truncated_games_and_single_agent_returns(solo):
  r = evaluation.play(solo, [toy.bot(1.0)], seed=0, num_games=4)
  np.testing.assert_array_equal(r.returns[:, 0], 1.0)
  np.testing.assert_array_equal(r.length, 5)
  assert not r.swapped.any()
  idle = evaluation.play(solo, [toy.bot(0.0)], seed=0, num_games=64)
  truncated = ~idle.terminal
  assert truncated.any()
  np.testing.assert_array_equal(idle.length[truncated], 20)
  np.testing.assert_array_equal(idle.returns[truncated, 0], 0.0)


def test_random_policy_respects_legal_mask(solo):
  policy = evaluation.random_policy(solo.spec)
  state, ts = solo.reset(jax.random.key(0))
  view = types.seat(ts, 0)  # At cell 0 'left' (0) is illegal.
  actions = jax.vmap(lambda k: policy.apply((), view, (), k)[0]['action'])(
      jax.random.split(jax.random.key(1), 300))
  counts = np.bincount(np.asarray(actions), minlength=3)
  assert counts[0] == 0 and counts[1] > 50 and counts[2] > 50
  del state


def test_bad_input_is_explained(duel):
  with pytest.raises(ValueError, match='one policy per seat'):
    evaluation.play(duel, [toy.bot(0.5)], seed=0, num_games=2)
  with pytest.raises(ValueError, match='num_games'):
    evaluation.play(duel, [toy.bot(0.5), toy.bot(0.5)], seed=0, num_games=0)
  with pytest.raises(ValueError, match='must be even'):
    work.plan('toy/corridor-v0', [('a', 'b')], games_per_match=5)
  with pytest.raises(ValueError, match='same player twice'):
    work.plan('toy/corridor-v0', [('a', 'a')], games_per_match=4)


class HostCorridor:
  """The Corridor stepped from NumPy, with NEXT_STEP autoreset: a host environment."""
  jittable = False

  def __init__(self, env):
    self.env, self.spec = env, env.spec
    self._step = jax.jit(jax.vmap(env.step))
    self._reset = jax.jit(jax.vmap(env.reset))

  def reset_batch(self, seed, num_envs):
    self.state, ts = self._reset(jax.random.split(jax.random.key(seed), num_envs))
    return jax.device_get(ts)

  def step_batch(self, action):
    done = np.asarray(self.state.done)
    self.state, ts = self._step(self.state, action)
    if done.any():  # Finished environments restart on this call.
      fresh, fresh_ts = self._reset(jax.random.split(jax.random.key(0), len(done)))
      pick = lambda f, o: np.where(done.reshape((-1,) + (1,) * (np.ndim(f) - 1)), f, o)
      self.state = jax.tree.map(pick, fresh, self.state)
      ts = jax.tree.map(pick, fresh_ts, ts)
    return jax.device_get(ts)


def test_host_environments_give_the_same_outcomes(duel):
  host = HostCorridor(duel)
  strong, idle = toy.bot(1.0), toy.bot(0.0)
  r = evaluation.play(host, [strong, idle], seed=0, num_games=6)
  np.testing.assert_array_equal(r.returns, [[1.0, -1.0]] * 6)
  np.testing.assert_array_equal(r.length, 5)
  np.testing.assert_array_equal(r.swapped, [False, True] * 3)


def test_store_skips_torn_lines_and_appends_whole_lines(tmp_path):
  store = store_lib.ResultsStore(tmp_path / 'r.jsonl')
  store.append({'type': 'x', 'i': 0})
  with open(store.path, 'a') as f:
    f.write('{"type": "x", "i": 1')  # A writer died mid-line.
  store.append({'type': 'x', 'i': 2})
  assert [r['i'] for r in store.records('x')] == [0, 2]
  assert store.torn_lines == 1
  with pytest.raises(ValueError, match='type'):
    store.append({'i': 3})


def test_store_concurrent_appends_from_processes(tmp_path):
  path = str(tmp_path / 'r.jsonl')
  code = ('import sys; from offline_rl.evaluation.store import ResultsStore\n'
          's = ResultsStore(sys.argv[1])\n'
          'for i in range(100): s.append({"type": "x", "w": sys.argv[2], "i": i, '
          '"pad": "y" * 3000})\n')
  procs = [subprocess.Popen([sys.executable, '-c', code, path, str(w)]) for w in range(3)]
  assert all(p.wait() == 0 for p in procs)
  store = store_lib.ResultsStore(path)
  records = list(store.records())
  assert store.torn_lines == 0 and len(records) == 300
  for w in range(3):
    assert [r['i'] for r in records if r['w'] == str(w)] == list(range(100))


def _plan():
  return work.plan('toy/corridor-v0', work.round_robin(['p0', 'p1', 'p2']),
                   games_per_match=8, seeds=[0, 1], shard_size=4)


def _policies():
  return {'toy/corridor-v0': {'p0': toy.bot(0.3), 'p1': toy.bot(0.6), 'p2': toy.bot(0.9)}}


def test_run_shards_resumes_and_splits_over_processes(tmp_path, duel):
  envs = {'toy/corridor-v0': duel}
  shards = _plan()
  assert len(shards) == 3 * 2 * 2
  whole = store_lib.ResultsStore(tmp_path / 'whole.jsonl')
  assert work.run_shards(shards, whole, envs=envs, policies=_policies(),
                         show_progress=False) == 12
  # Interrupted after 5 shards, then restarted: the same bytes.
  resumed = store_lib.ResultsStore(tmp_path / 'resumed.jsonl')
  assert work.run_shards(shards, resumed, envs=envs, policies=_policies(),
                         show_progress=False, stop_after=5) == 5
  assert work.run_shards(shards, resumed, envs=envs, policies=_policies(),
                         show_progress=False) == 7
  assert work.run_shards(shards, resumed, envs=envs, policies=_policies(),
                         show_progress=False) == 0
  with open(whole.path) as f, open(resumed.path) as g:
    assert f.read() == g.read()
  # Three processes sharing the plan: the same records, in another order.
  split = store_lib.ResultsStore(tmp_path / 'split.jsonl')
  played = [work.run_shards(shards, split, envs=envs, policies=_policies(),
                            process_index=i, process_count=3, show_progress=False)
            for i in (2, 0, 1)]
  assert played == [4, 4, 4]
  with open(whole.path) as f, open(split.path) as g:
    assert sorted(f) == sorted(g)
  first = json.loads(open(whole.path).readline())
  assert len(first['returns']) == 4 and first['players'] == ['p0', 'p1']
  with pytest.raises(KeyError, match='Unknown player'):
    work.run_shards(shards, store_lib.ResultsStore(tmp_path / 'x.jsonl'), envs=envs,
                    policies={'toy/corridor-v0': {'p0': toy.bot(0.3)}}, show_progress=False)
  assert not os.path.exists(tmp_path / 'x.jsonl')


def test_shared_seat_path_equals_separate_seats(duel, monkeypatch):
  """Bots of one function run both seats in one vmap; results equal per-seat vmaps."""
  a, b = toy.bot(0.7), toy.bot(0.4)
  assert matches._can_share([a, b], (a.params, b.params))
  shared = evaluation.play(duel, [a, b], seed=5, num_games=12)
  monkeypatch.setattr(matches, 'SHARED_PARAMS_LIMIT', -1)
  monkeypatch.setattr(matches, '_programs', matches.collections.OrderedDict())
  separate = evaluation.play(duel, [a, b], seed=5, num_games=12)
  for x, y in zip(shared, separate):
    np.testing.assert_array_equal(x, y)
  assert not matches._can_share([a, evaluation.random_policy(duel.spec)], (a.params, ()))


def _closure_policy(name, direction):
  """A policy whose behaviour lives in its closure (as network policies' does)."""
  def apply(params, timestep, state, key):
    del params, timestep, key
    return {'action': jax.numpy.int32(direction)}, state
  return types.Policy(name, apply, ())


def test_programs_are_shared_by_stated_key_and_the_cache_is_bounded(duel, monkeypatch):
  monkeypatch.setattr(matches, '_programs', matches.collections.OrderedDict())
  monkeypatch.setattr(matches, 'PROGRAM_CACHE_SIZE', 2)
  right, right2, left = (_closure_policy('r', 2), _closure_policy('r2', 2),
                         _closure_policy('l', 1))
  # 'stay' (1) never wins, 'right' (2) always does.
  r = evaluation.play(duel, [right, left], seed=0, num_games=4, program_key='net')
  np.testing.assert_array_equal(evaluation.outcome(r), 1.0)
  # Equivalent closures under one stated key: one program, the same behaviour.
  r = evaluation.play(duel, [right2, left], seed=0, num_games=4, program_key='net')
  np.testing.assert_array_equal(evaluation.outcome(r), 1.0)
  assert len(matches._programs) == 1
  # Without a key, functions are told apart by identity: a new program each.
  r = evaluation.play(duel, [left, right2], seed=0, num_games=4)
  np.testing.assert_array_equal(evaluation.outcome(r), 0.0)
  evaluation.play(duel, [left, right], seed=0, num_games=4)
  assert len(matches._programs) == 2  # The oldest was dropped.
  assert (duel, 2, 'net') not in matches._programs
