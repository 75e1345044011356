"""Ratings: Elo by maximum likelihood, bootstrap intervals and their coverage,
robustness, win-rate matrices, and single-agent statistics (IQM, stratified bootstrap)."""
import numpy as np
import pytest
import scipy.stats

from offline_rl import ratings

NAMES = ['anchor', 'b', 'c', 'd', 'e']
TRUE = np.array([1000.0, 1150.0, 1260.0, 880.0, 1420.0])


def synthetic(rng, games_per_pair, draw_rate=0.0):
  """Games from the Bradley-Terry model with the TRUE ratings (draws split evenly)."""
  out = []
  for i in range(len(NAMES)):
    for j in range(i + 1, len(NAMES)):
      p = ratings.expected_score(TRUE[i], TRUE[j])
      # A draw is half a win: draw with q, win with p - q / 2, so the expected score is p.
      q = draw_rate * 4 * p * (1 - p)
      draws, wins, _ = rng.multinomial(games_per_pair, [q, p - q / 2, 1 - p - q / 2])
      out += [(NAMES[i], NAMES[j], 1.0)] * wins
      out += [(NAMES[i], NAMES[j], 0.5)] * draws
      out += [(NAMES[i], NAMES[j], 0.0)] * (games_per_pair - draws - wins)
  return ratings.counts_from_outcomes(out, NAMES)


def test_recovers_known_strengths():
  counts = synthetic(np.random.default_rng(0), 3000, draw_rate=0.2)
  fitted = ratings.fit(counts, 'anchor')
  assert fitted[0] == 1000.0
  np.testing.assert_allclose(fitted, TRUE, atol=15)
  # Order and spacing survive a different anchor rating (a pure shift).
  shifted = ratings.fit(counts, 'anchor', anchor_rating=0.0)
  np.testing.assert_allclose(shifted + 1000.0, fitted, atol=1e-6)


def test_mean_anchor_and_virtual_games():
  """No anchor holds the mean; virtual games keep a perfect record finite and pull it in."""
  counts = synthetic(np.random.default_rng(1), 400)
  mean = ratings.fit(counts, None, prior_sd=np.inf)
  assert mean.mean() == pytest.approx(1000.0)
  anchored = ratings.fit(counts, 'anchor', prior_sd=np.inf)
  np.testing.assert_allclose(mean - mean[0], anchored - anchored[0], atol=1e-6)
  sweep = ratings.counts_from_outcomes([('a', 'b', 1.0)] * 8 + [('b', 'c', 0.5)] * 8)
  strong, weak = (ratings.fit(sweep, None, prior_sd=np.inf, prior_games=g) for g in (0.3, 3))
  assert np.all(np.isfinite(strong)) and 0 < weak[0] - weak[1] < strong[0] - strong[1]
  rated = ratings.rate(sweep, None, prior_sd=np.inf, prior_games=0.3, num_samples=50)
  assert np.all(rated.lower <= rated.rating) and np.all(rated.rating <= rated.upper)


def test_intervals_cover_the_truth_at_their_nominal_rate():
  rng = np.random.default_rng(123)
  covered = {0.9: [], 0.5: []}
  for rep in range(60):
    counts = synthetic(rng, 60, draw_rate=0.1)
    for level, cover in covered.items():
      r = ratings.rate(counts, 'anchor', confidence=level, num_samples=300, seed=rep)
      assert r.lower[0] == r.upper[0] == 1000.0  # The anchor is fixed.
      cover.extend(((r.lower <= TRUE) & (TRUE <= r.upper))[1:])
  # 240 intervals per level: binomial sd ~2-3%; wrong intervals land far outside.
  assert 0.84 <= np.mean(covered[0.9]) <= 0.96, np.mean(covered[0.9])
  assert 0.40 <= np.mean(covered[0.5]) <= 0.60, np.mean(covered[0.5])


def test_draws_perfect_records_and_disconnected_players():
  even = ratings.counts_from_outcomes([('a', 'b', 0.5)] * 10 + [('b', 'c', 0.5)] * 10)
  np.testing.assert_allclose(ratings.fit(even, 'a'), [1000, 1000, 1000], atol=1e-6)
  half = ratings.counts_from_outcomes([('a', 'b', 1.0)] * 5 + [('a', 'b', 0.0)] * 5)
  np.testing.assert_allclose(ratings.fit(half, 'a'), [1000, 1000], atol=1e-6)
  perfect = ratings.counts_from_outcomes([('a', 'b', 1.0)] * 20)
  r = ratings.fit(perfect, 'b')
  assert np.all(np.isfinite(r)) and r[0] > 1400  # Finite under the weak prior.
  cut = ratings.counts_from_outcomes([('a', 'b', 1.0), ('c', 'd', 0.0)])
  with pytest.raises(ValueError, match='no chain of games'):
    ratings.fit(cut, 'a')
  with pytest.raises(KeyError, match='Unknown player'):
    ratings.fit(even, 'zz')
  with pytest.raises(ValueError, match='1, 0.5 or 0'):
    ratings.counts_from_outcomes([('a', 'b', 0.7)])


def test_win_rate_matrix_robustness_and_head_to_head():
  games = ([('x', 'y', 1.0)] * 6 + [('x', 'y', 0.0)] * 2 + [('x', 'y', 0.5)] * 2 +
           [('y', 'z', 1.0)] * 9 + [('y', 'z', 0.0)] * 1)
  counts = ratings.counts_from_outcomes(games, ['x', 'y', 'z'])
  m = ratings.win_rate_matrix(counts)
  np.testing.assert_allclose(m[0, 1], 0.7)
  np.testing.assert_allclose(m[1, 0], 0.3)
  np.testing.assert_allclose(m[1, 2], 0.9)
  assert np.isnan(m[0, 2]) and np.isnan(m[0, 0])
  # x: y takes 30% from it; y: x takes 70%, z takes 10% -> best 70%; z: y takes 90%.
  np.testing.assert_allclose(ratings.robustness(counts), [0.7, 0.3, 0.1])
  np.testing.assert_allclose(ratings.robustness(counts, references=['z']),
                             [np.nan, 0.9, np.nan])
  rate, lo, hi, n = ratings.head_to_head(counts, 'x', 'y')
  assert (rate, n) == (0.7, 10) and lo < 0.7 < hi
  # Wilson interval, checked against its closed form for 7/10 at 95%.
  np.testing.assert_allclose([lo, hi], [0.3968, 0.8922], atol=1e-3)
  assert ratings.wilson_interval(1.0, 20)[1] == 1.0 and ratings.wilson_interval(1.0, 20)[0] < 1


def test_elo_difference_interval_and_probability():
  counts = synthetic(np.random.default_rng(1), 400)
  r = ratings.rate(counts, 'anchor', num_samples=400)
  d, lo, hi, p = r.difference('e', 'c')
  assert lo < d < hi and lo < 160 < hi and p > 0.99


def test_iqm_matches_trimmed_mean_and_stratified_bootstrap():
  rng = np.random.default_rng(0)
  scores = rng.normal(size=(10, 3))
  assert ratings.iqm(scores) == pytest.approx(scipy.stats.trim_mean(scores, 0.25, axis=None))
  assert ratings.iqm([1, 2, 3, 4, 100, -100, 5, 6]) == pytest.approx(3.5)
  # Stratified: runs are resampled within each task; a task with one constant score per
  # run keeps its value, so a statistic reading only that task has no spread.
  mixed = np.stack([np.full(8, 7.0), rng.normal(size=8)], axis=1)
  e = ratings.stratified_bootstrap(mixed, lambda s: s[:, 0].mean(), num_samples=200)
  assert e.lower == e.upper == 7.0
  wide = ratings.stratified_bootstrap(mixed, lambda s: s[:, 1].mean(), num_samples=500)
  assert wide.lower < mixed[:, 1].mean() < wide.upper and wide.count == 16
  m = ratings.mean_ci(np.arange(100.0))
  assert m.value == 49.5 and 40 < m.lower < 49.5 < m.upper < 60 and m.count == 100
  np.testing.assert_allclose(ratings.normalize([0.0, 5.0, 10.0], 0.0, 10.0), [0, 50, 100])
  with pytest.raises(ValueError, match='reference and random'):
    ratings.normalize(1.0, 2.0, 2.0)
