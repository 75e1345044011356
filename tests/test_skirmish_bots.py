"""Skirmish bots, the Bradley-Terry fit, ladder selection and the shipped ladders.

Every shipped ladder (ladder-<H>x<H>.json, one a map) is checked against the code two
ways: its ratings and rungs must follow from its own recorded games through today's fit
and selection, and freshly played games between its neighbouring rungs on its map must
agree with its ratings.
"""
import glob
import json
import os

import jax
import numpy as np
import pytest

from offline_rl import errors
from offline_rl import ratings
from offline_rl import types
from offline_rl.environments import make
from offline_rl.environments.skirmish import bots
from offline_rl.environments.skirmish import rules as R
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


# Every map with a shipped calibration, by environment id: ladder-8x8.json -> skirmish/8x8.
SHIPPED_MAPS = sorted(
    'skirmish/' + os.path.basename(path)[len('ladder-'):-len('.json')]
    for path in glob.glob(os.path.join(os.path.dirname(bots.__file__), 'ladder-*.json')))


def test_the_maps_the_demo_plays_are_calibrated():
  from offline_rl.experiments import unplugged  # pylint: disable=g-import-not-at-top
  assert {'skirmish/8x8', 'skirmish/16x16'} <= set(SHIPPED_MAPS)
  for variant in unplugged.VARIANTS:
    assert unplugged.get_config(variant).env in SHIPPED_MAPS


@pytest.fixture(scope='module', params=SHIPPED_MAPS)
def shipped(request):
  """(env, the calibration record shipped for its map)."""
  env = make(request.param)
  with open(bots.ladder_file(env)) as f:
    return env, json.load(f)


def test_shipped_ladder_is_rated_and_smooth(shipped):
  env, record = shipped
  assert record['env_id'] == env.spec.env_id
  ladder = bots.ladder(env)
  assert [p.policy_id for p in ladder] == [f'bot/{n}' for n in record['ladder']]
  assert len(ladder) >= 6
  rating = [p.rating for p in ladder]
  assert all(np.isfinite(rating)) and rating == sorted(rating)
  for n in record['neighbours']:
    assert 0.6 <= n['step_win_rate'] <= 0.8
  for name, r in record['ratings'].items():
    assert r['ci_low'] <= r['rating'] <= r['ci_high'], name
    assert bots.bot(name, env).rating == r['rating'], name  # What datasets stamp.


def test_ratings_follow_the_map():
  small, default = make('skirmish/8x8'), make('skirmish/16x16')
  assert bots.bot('rush-5', small).rating != bots.bot('rush-5', default).rating
  assert np.isnan(bots.bot('rush-5').rating)  # No map, no rating.
  uncalibrated = make('skirmish/32x32')
  assert np.isnan(bots.bot('rush-5', uncalibrated).rating)
  with pytest.raises(errors.UserError, match='calibrate --size=32 --output=.*ladder-32x32'):
    bots.ladder(uncalibrated)


def _counts_from_points(names, points, games):
  """PairCounts with the fewest draws that give `points` (draws count half each way)."""
  wins = np.floor(np.asarray(points)).astype(np.int64)
  return ratings.PairCounts(list(names), wins,
                            np.asarray(games, np.int64) - wins - wins.T)


def test_shipped_ladder_is_what_its_games_give(shipped):
  """Refitting the shipped games reproduces the shipped ratings and ladder."""
  _, record = shipped
  counts = _counts_from_points(record['pool'], record['wins'], record['games'])
  np.testing.assert_array_equal(counts.score, record['wins'])
  refit = calibration.summarize(counts, bootstrap_samples=20)
  assert refit['ladder'] == record['ladder']
  for name, entry in record['ratings'].items():
    assert abs(refit['ratings'][name]['rating'] - entry['rating']) < 0.01, name


def test_select_ladder_keeps_neighbours_between_60_and_80_percent():
  names = [f'b{i}' for i in range(12)]
  rating = np.linspace(600, 1700, 12)
  win_rate = ratings.expected_score(rating[:, None], rating[None, :])
  ladder = calibration.select_ladder(names, rating, win_rate)
  index = [names.index(n) for n in ladder]
  assert index == sorted(index) and len(ladder) >= 6
  for a, b in zip(index, index[1:]):
    assert 0.6 <= win_rate[b, a] <= 0.8


def test_ladder_steps_follow_the_pairs_own_games():
  """A counter the ratings miss (b2 beats b1 in 60 of 64 games though rated 70%
  against it) is judged by its games: the ladder skips it."""
  names, rating = ['b0', 'b1', 'b2', 'b3'], np.array([700., 850., 1000., 1000.])
  games = np.full((4, 4), 64.0) - 64 * np.eye(4)
  score = games * ratings.expected_score(rating[:, None], rating[None, :])
  score[2, 1], score[1, 2] = 60, 4
  step = calibration.step_win_rates(rating, score, games)
  assert step[2, 1] > 0.8 > step[3, 1]
  assert calibration.select_ladder(names, rating, step) == ['b0', 'b1', 'b3']


GAMES_PER_RUNG = 24  # half with each seat


@pytest.fixture(scope='module')
def fresh_rungs(shipped):
  """Fresh games (a seed the calibration did not use) between each pair of neighbouring
  rungs of the shipped ladder, on its map. -> (stronger's score [R], games [R],
  predicted score of the stronger [R], stats); R = rungs - 1."""
  env, record = shipped
  names = record['ladder']
  neighbours = [(i, i + 1) for i in range(len(names) - 1)]
  counts, stats = calibration.round_robin(env, names, GAMES_PER_RUNG,
                                          seed=record['seed'] + 1, pairs=neighbours)
  weaker, stronger = np.array(neighbours).T
  rating = np.array([record['ratings'][n]['rating'] for n in names])
  predicted = ratings.expected_score(rating[stronger], rating[weaker])
  return (counts.score[stronger, weaker], counts.games[stronger, weaker], predicted,
          stats)


def test_fresh_games_agree_with_the_shipped_ladder(fresh_rungs):
  """Neighbouring rungs win as often as the shipped ratings predict.

  Tolerances: pooled over the rungs, the stronger side's mean score is within three
  binomial standard errors (draws only shrink the spread) plus 0.05 of the mean the
  ratings predict (the ratings' own error: 8 games a pair, shrunk by the fit's prior);
  and no rung is clearly upside down (the stronger side scores at least 0.5 minus
  three standard errors of a fair coin).
  """
  score, games, predicted, stats = fresh_rungs
  assert stats['games'] == len(score) * GAMES_PER_RUNG
  assert np.all(games == GAMES_PER_RUNG)
  rate = score / games
  standard_error = np.sqrt(np.sum(games * predicted * (1 - predicted))) / games.sum()
  gap = rate.mean() - predicted.mean()
  assert abs(gap) <= 3 * standard_error + 0.05, (rate.round(2), predicted.round(2))
  coin = 0.5 - 3 * np.sqrt(0.25 / GAMES_PER_RUNG)
  assert np.all(rate >= coin), (rate.round(2), predicted.round(2))


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
  # The delay is the gap to the next decision - 1; a fractional interval (rush-7:
  # 8^(1/8) = 1.297 ticks) alternates its two neighbours so the mean gap equals it.
  assert action['delay'][1:].tolist() == [7, 0] and action['delay'][0] in (0, 1)
  delays = jax.vmap(lambda k: bots.bot_apply(policies[0].params, view, (), k)[0]['delay'])(
      jax.random.split(jax.random.key(2), 4000))
  np.testing.assert_allclose(delays.mean() + 1, policies[0].params.interval, atol=0.03)
  mask = np.asarray(view.legal_action_mask['function'])
  assert all(mask[f] for f in np.asarray(action['function']))
  # Not due: the one legal action, no_op with every other head 0 (the game ignores it).
  scalars = view.observation['scalars'].at[R.SCALAR['due']].set(0.0)
  waiting = view._replace(observation=dict(view.observation, scalars=scalars))
  action, _ = jax.vmap(bots.bot_apply, (0, None, None, None))(
      params, waiting, (), jax.random.key(1))
  assert all(np.asarray(v).tolist() == [0, 0, 0] for v in action.values()), action


@pytest.mark.slow
@pytest.mark.parametrize('env_id', SHIPPED_MAPS)
def test_ladder_neighbours_on_each_map(env_id):
  env = make(env_id)
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
