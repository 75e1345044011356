"""Skirmish bots, their calibration (round robin, ratings, ladder) and the shipped ladder."""
import json

import jax
import numpy as np
import pytest

from offline_rl import ratings
from offline_rl import types
from offline_rl.environments import make
from offline_rl.environments.skirmish import bots
from offline_rl.evaluation import calibration


def test_names_and_unknown_bot_error():
  names = bots.names()
  for archetype in ('rush', 'economic', 'defensive', 'harass'):
    assert f'{archetype}-0' in names and f'{archetype}-7' in names
  with pytest.raises(KeyError, match='Known bots: random, rush-0'):
    bots.bot('zerg-rush')
  with pytest.raises(KeyError, match='Unknown Skirmish bot'):
    bots.bot('rush-99')
  policy = bots.bot('harass-3')
  assert isinstance(policy, types.Policy) and policy.policy_id == 'bot/harass-3'
  assert policy.apply is bots.bot('rush-0').apply  # one function, different params


def test_shipped_ladder_is_rated_and_smooth():
  ladder = bots.ladder(make('skirmish/16x16'))
  assert len(ladder) >= 6
  rating = [p.rating for p in ladder]
  assert all(np.isfinite(rating)) and rating == sorted(rating)
  with open(bots.LADDER_FILE) as f:
    record = json.load(f)
  assert record['env_id'] == 'skirmish/16x16'
  for n in record['neighbours']:
    assert 0.6 <= n['predicted_win_rate'] <= 0.8
  for name, r in record['ratings'].items():
    assert r['ci_low'] <= r['rating'] <= r['ci_high'], name


def _counts_from_points(names, points, games):
  """PairCounts with the fewest draws that give `points` (draws count half each way)."""
  wins = np.floor(np.asarray(points)).astype(np.int64)
  return ratings.PairCounts(list(names), wins,
                            np.asarray(games, np.int64) - wins - wins.T)


def test_shipped_ladder_is_what_its_games_give():
  """Refitting the shipped games reproduces the shipped ratings and ladder."""
  with open(bots.LADDER_FILE) as f:
    record = json.load(f)
  counts = _counts_from_points(record['pool'], record['wins'], record['games'])
  np.testing.assert_array_equal(counts.score, record['wins'])
  refit = calibration.summarize(counts, bootstrap_samples=20)
  assert refit['ladder'] == record['ladder']
  for name, entry in record['ratings'].items():
    assert abs(refit['ratings'][name]['rating'] - entry['rating']) < 0.01, name


def test_select_ladder_keeps_neighbours_between_60_and_80_percent():
  names = [f'b{i}' for i in range(12)]
  rating = np.linspace(600, 1700, 12)
  ladder = calibration.select_ladder(names, rating)
  index = [names.index(n) for n in ladder]
  assert index == sorted(index) and len(ladder) >= 6
  for a, b in zip(index, index[1:]):
    assert 0.6 <= ratings.expected_score(rating[b], rating[a]) <= 0.8


@pytest.fixture(scope='module')
def quick_round_robin():
  """A small round robin on the tiny map: weakest, middle and strongest ladder bots."""
  env = make('skirmish/8x8')
  names = [p.policy_id.split('/')[1] for p in bots.ladder(env)]
  pool = [names[0], names[len(names) // 2], names[-1]]
  counts, stats = calibration.round_robin(env, pool, games_per_pair=16, seed=1)
  return pool, counts, stats


def test_ladder_is_monotone_on_a_quick_check(quick_round_robin):
  pool, counts, stats = quick_round_robin
  rate = ratings.win_rate_matrix(counts)
  assert rate[1, 0] > 0.5 and rate[2, 1] > 0.5, (pool, rate)
  assert rate[2, 0] >= 0.8, (pool, rate)
  assert stats['games'] == 3 * 16
  record = calibration.summarize(counts, bootstrap_samples=20)
  r = [record['ratings'][n]['rating'] for n in pool]
  assert r[0] < r[1] < r[2]


def test_round_robin_rejects_odd_game_counts():
  with pytest.raises(ValueError, match='even number'):
    calibration.round_robin(make('skirmish/8x8'), ['rush-0', 'rush-1'], 3)


def test_bots_vmap_over_params_and_only_act_when_due():
  env = make('skirmish/8x8')
  reset, _ = env.jitted()
  _, ts = reset(jax.random.key(0))
  view = types.seat(ts, 0)
  policies = [bots.bot('rush-7'), bots.bot('economic-0'), bots.bot('random')]
  params = bots.stack_params(policies)
  action, _ = jax.vmap(bots.bot_apply, (0, None, None, None))(
      params, view, (), jax.random.key(1))
  assert action['function'].shape == (3,)
  np.testing.assert_array_equal(action['delay'], [0, 7, 0])  # interval - 1
  mask = np.asarray(view.legal_action_mask['function'])
  assert all(mask[f] for f in np.asarray(action['function']))


@pytest.mark.slow
def test_ladder_neighbours_on_the_default_map():
  env = make('skirmish/16x16')
  names = [p.policy_id.split('/')[1] for p in bots.ladder(env)]
  counts, _ = calibration.round_robin(env, names, games_per_pair=32, seed=7)
  rate = ratings.win_rate_matrix(counts)
  steps = np.array([rate[i + 1, i] for i in range(len(names) - 1)])
  print(dict(zip(names[1:], steps.round(2))))
  # On average a step up the ladder wins 60-80% (with 32 games a pair: +-9% each);
  # no step loses clearly, and the top beats the bottom nearly always.
  assert 0.6 <= steps.mean() <= 0.8, steps
  assert steps.min() >= 0.4, steps
  assert rate[-1, 0] >= 0.95
