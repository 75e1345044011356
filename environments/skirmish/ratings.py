"""Bradley-Terry (Elo-scale) ratings from a win matrix, with bootstrap intervals.

A small, self-contained maximum-likelihood fit used by the Skirmish calibration (the
platform-wide ratings module lives in offline_rl/ratings; this one has no dependency
on it). Draws count as half a win for each side.

Model: P(i beats j) = 1 / (1 + 10 ** ((r_j - r_i) / 400)).
Letters: B bots.
"""
from __future__ import annotations

import numpy as np

ELO = 400.0 / np.log(10.0)


def win_probability(r_i, r_j):
  """Probability that a player rated r_i beats one rated r_j (Elo scale)."""
  return 1.0 / (1.0 + 10.0 ** ((np.asarray(r_j) - np.asarray(r_i)) / 400.0))


def fit(wins: np.ndarray, games: np.ndarray, anchor: float = 1000.0,
        prior_games: float = 0.3, iterations: int = 2000, tol: float = 1e-10):
  """Maximum-likelihood Bradley-Terry ratings (minorise-maximise, Hunter 2004).

  Args:
    wins: float [B, B], wins[i, j] = games i won against j (draws as 0.5 each way).
    games: float [B, B], games played between i and j (symmetric).
    anchor: the mean rating.
    prior_games: virtual games (0.3: weak), half won, between every pair that met, so a
      bot winning every game gets a finite rating.
  Returns:
    float [B] ratings on the Elo scale, mean `anchor`.
  """
  wins = np.asarray(wins, np.float64)
  games = np.asarray(games, np.float64)
  if wins.shape != games.shape or wins.ndim != 2 or wins.shape[0] != wins.shape[1]:
    raise ValueError(f'wins and games must both be [B, B]; got {wins.shape} and '
                     f'{games.shape}.')
  met = games > 0
  n = games + prior_games * met
  w = wins + 0.5 * prior_games * met
  total_wins = w.sum(1)
  gamma = np.ones(len(wins))
  for _ in range(iterations):
    denom = (n / (gamma[:, None] + gamma[None, :])).sum(1)
    new = np.where(denom > 0, total_wins / np.maximum(denom, 1e-300), gamma)
    new = new / np.exp(np.mean(np.log(np.maximum(new, 1e-300))))
    if np.max(np.abs(np.log(new) - np.log(gamma))) < tol:
      gamma = new
      break
    gamma = new
  ratings = ELO * np.log(gamma)
  return ratings - ratings.mean() + anchor


def bootstrap(wins: np.ndarray, games: np.ndarray, num_samples: int = 200,
              seed: int = 0, level: float = 0.95, **fit_kwargs):
  """Percentile bootstrap intervals: resamples each pair's games with replacement.

  Returns:
    (low [B], high [B]) rating bounds at the given confidence level.
  """
  rng = np.random.default_rng(seed)
  games = np.asarray(games, np.float64)
  wins = np.asarray(wins, np.float64)
  upper = np.triu(games, 1)
  p = np.divide(np.triu(wins, 1), upper, out=np.zeros_like(upper), where=upper > 0)
  samples = []
  for _ in range(num_samples):
    w = rng.binomial(upper.astype(np.int64), p).astype(np.float64)
    w_full = w + (upper - w).T
    samples.append(fit(w_full, games, **fit_kwargs))
  samples = np.stack(samples)
  alpha = (1.0 - level) / 2.0
  return np.quantile(samples, alpha, 0), np.quantile(samples, 1.0 - alpha, 0)
