"""Calibration of a bot family: a round robin, Bradley-Terry ratings, a smooth ladder.

`calibrate(env, names, games_per_pair, seed)` plays every pair of Skirmish bots
`games_per_pair` times (half with each seat) with the match runner (`matches.play`:
bots of one family share one compiled program), fits ratings with bootstrap intervals
(`offline_rl.ratings`, the mean held at 1000) and picks a ladder whose neighbouring
levels win 60-80% against each other (their own games, shrunk toward the ratings). The record it
returns is what `environments/skirmish/ladder-<H>x<H>.json` holds for each map
(`bots.ladder_file(env)`): a bot's strength depends on the map, so each is calibrated
on its own.

Letters: B bots.
"""
from __future__ import annotations

import itertools
import time

import numpy as np

from offline_rl import ratings as ratings_lib
from offline_rl.environments.skirmish import bots
from offline_rl.evaluation import matches

# The calibrated pool: every archetype at every level, plus random.
DEFAULT_POOL = tuple(bots.names())
# Few games a pair: virtual games (half won) between every pair that met keep a
# perfect record finite, in place of the Gaussian prior of larger tournaments.
PRIOR_GAMES = 0.3
MEAN_RATING = 1000.0


def round_robin(env, names, games_per_pair: int, seed: int = 0, progress=None,
                pairs=None):
  """Plays every pair of bots (or the index `pairs` given, e.g. a ladder's
  neighbours). Returns (counts, stats dict).

  Args:
    env: a two-player Skirmish environment.
    names: B bot names (`bots.names()`).
    games_per_pair: games per pair, even (each map is played from both seats).
    seed: the evaluation seed.
    progress: optional `progress(games_done, games_total)` callback.
  """
  if games_per_pair < 2 or games_per_pair % 2:
    raise ValueError(f'games_per_pair must be an even number >= 2 (half the games '
                     f'with each seat); got {games_per_pair}.')
  policies = [bots.bot(n, env) for n in names]
  if pairs is None:
    pairs = itertools.combinations(range(len(names)), 2)
  pairs = list(pairs)
  outcomes, lengths, first_seat = [], [], []
  start = time.time()
  for done, (i, j) in enumerate(pairs, 1):
    results = matches.play(env, [policies[i], policies[j]], seed=seed,
                           num_games=games_per_pair)
    score = matches.outcome(results)
    outcomes += [(names[i], names[j], float(s)) for s in score]
    lengths.append(results.length)
    first_seat.append(np.where(results.swapped, 1.0 - score, score))
    if progress is not None:
      progress(done * games_per_pair, len(pairs) * games_per_pair)
  elapsed = time.time() - start
  counts = ratings_lib.counts_from_outcomes(outcomes, list(names))
  scores = np.array([s for _, _, s in outcomes])
  lengths = np.concatenate(lengths)
  stats = {'games': len(outcomes), 'seconds': elapsed,
           'draw_fraction': float(np.mean(scores == 0.5)),
           'mean_ticks': float(lengths.mean()),
           'seat0_score': float(np.concatenate(first_seat).mean()),
           'ticks_per_second': float(lengths.sum() / max(elapsed, 1e-9))}
  return counts, stats


# A ladder step is judged by the two bots' own games, shrunk toward the Bradley-Terry
# prediction by this many virtual games: the fit alone misses the archetypes' counters
# (on 8x8 defensive-7 beat harass-6 in 88% of 64 games where the ratings said 66%).
STEP_PRIOR_GAMES = 16


def step_win_rates(rating, score, games) -> np.ndarray:
  """[B, B] estimated win rate of each bot (row) against each other (column): its
  points in their games plus `STEP_PRIOR_GAMES` virtual games at the rating's
  prediction. rating [B]; score, games [B, B] (`ratings.PairCounts`')."""
  rating = np.asarray(rating, np.float64)
  predicted = ratings_lib.expected_score(rating[:, None], rating[None, :])
  return (np.asarray(score) + STEP_PRIOR_GAMES * predicted) / (
      np.asarray(games) + STEP_PRIOR_GAMES)


def select_ladder(names, rating, win_rate, low: float = 0.6, high: float = 0.8,
                  target: float = 0.7):
  """A ladder of bots, weakest first, whose neighbours win between `low` and `high` of
  their games against each other: from the lowest-rated bot, each next level is the bot
  not yet on the ladder whose win rate (`win_rate[next, current]`, [B, B]) against the
  current level is closest to `target`."""
  win_rate = np.asarray(win_rate)
  current = int(np.argmin(rating))
  chain = [current]
  while True:
    p = win_rate[:, current]
    ok = (p >= low) & (p <= high)
    ok[chain] = False  # The archetypes' counters could otherwise close a cycle.
    if not ok.any():
      break
    current = int(np.argmin(np.where(ok, np.abs(p - target), np.inf)))
    chain.append(current)
  return [names[i] for i in chain]


def fit_pool(counts: ratings_lib.PairCounts, seed: int = 0,
             bootstrap_samples: int = 200) -> ratings_lib.Ratings:
  """The calibration's ratings: mean 1000, `PRIOR_GAMES`, 95% bootstrap intervals."""
  return ratings_lib.rate(counts, None, anchor_rating=MEAN_RATING, prior_sd=np.inf,
                          prior_games=PRIOR_GAMES, num_samples=bootstrap_samples,
                          seed=seed)


def calibrate(env, names=DEFAULT_POOL, games_per_pair: int = 16, seed: int = 0,
              bootstrap_samples: int = 200, progress=None) -> dict:
  """Round robin + ratings + ladder; returns the JSON-ready calibration record."""
  names = list(names)
  for n in names:
    bots.bot(n)  # Unknown names fail before any game, with the list of known ones.
  counts, stats = round_robin(env, names, games_per_pair, seed, progress=progress)
  record = summarize(counts, seed=seed, bootstrap_samples=bootstrap_samples)
  record.update({'env_id': env.spec.env_id, 'env_version': env.spec.version,
                 'games_per_pair': games_per_pair, 'seed': seed, 'stats': stats})
  return record


def summarize(counts: ratings_lib.PairCounts, seed: int = 0,
              bootstrap_samples: int = 200) -> dict:
  """Ratings with bootstrap intervals, the ladder and its neighbours' win rates.

  'wins' holds points (draws as half a win each way) and 'games' the games per pair.
  """
  names = list(counts.names)
  fitted = fit_pool(counts, seed, bootstrap_samples)
  rating, score, games = fitted.rating, counts.score, counts.games
  step = step_win_rates(rating, score, games)
  ladder = select_ladder(names, rating, step)
  index = {n: i for i, n in enumerate(names)}
  neighbours = []
  for a, b in zip(ladder, ladder[1:]):
    i, j = index[a], index[b]
    neighbours.append({
        'weaker': a, 'stronger': b,
        'predicted_win_rate': float(ratings_lib.expected_score(rating[j], rating[i])),
        'step_win_rate': float(step[j, i]),
        'observed_win_rate': float(score[j, i] / games[j, i]) if games[j, i] else None,
        'games': int(games[j, i])})
  return {
      'pool': names,
      'ratings': {n: {'rating': float(rating[i]), 'ci_low': float(fitted.lower[i]),
                      'ci_high': float(fitted.upper[i])} for i, n in enumerate(names)},
      'wins': score.astype(float).tolist(), 'games': games.astype(float).tolist(),
      'ladder': ladder, 'neighbours': neighbours,
  }
