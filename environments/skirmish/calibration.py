"""Calibration of the bot family: a round robin, Bradley-Terry ratings, a smooth ladder.

`calibrate(env, names, games_per_pair, seed)` plays every pair of bots
`games_per_pair` times (half with each seat), batched in one jit(while(scan(vmap))),
fits ratings with bootstrap intervals, and picks the longest ladder whose neighbouring
levels are predicted to win 60-80% against each other.

Letters: B bots, N games.
"""
from __future__ import annotations

import itertools
import time

import jax
import numpy as np

from offline_rl.environments.skirmish import arena
from offline_rl.environments.skirmish import bots
from offline_rl.environments.skirmish import ratings as ratings_lib

# Calibrated pool on the default map: every archetype at every level, plus random.
DEFAULT_POOL = tuple(bots.names())


def round_robin(env, names, games_per_pair: int, seed: int = 0,
                batch_size: int = 8192, progress=None, pairs=None):
  """Plays every pair of bots. Returns (wins [B, B], games [B, B], stats dict).

  wins[i, j] counts i's wins against j, draws as 0.5 each way. `pairs`: the (i, j)
  index pairs to play instead of all of them (e.g. a ladder's neighbours).
  """
  if games_per_pair < 2 or games_per_pair % 2:
    raise ValueError(f'games_per_pair must be an even number >= 2 (half the games '
                     f'with each seat); got {games_per_pair}.')
  policies = [bots.bot(n, env) for n in names]
  if pairs is None:
    pairs = itertools.combinations(range(len(names)), 2)
  seat0, seat1 = [], []
  for i, j in pairs:
    for g in range(games_per_pair):
      a, b = (i, j) if g % 2 == 0 else (j, i)
      seat0.append(a)
      seat1.append(b)
  seat0, seat1 = np.asarray(seat0), np.asarray(seat1)
  stacked = bots.stack_params(policies)
  play = arena.make_play(env, bots.bot_apply)
  keys = jax.random.split(jax.random.key(seed), len(seat0))
  outcomes, ticks = [], []
  start = time.time()
  for lo in range(0, len(seat0), batch_size):
    hi = min(lo + batch_size, len(seat0))
    idx = np.arange(lo, hi)
    # Pad the last batch to the batch size so that play compiles once.
    pad = np.resize(idx, min(batch_size, len(seat0)))
    take = lambda s, rows=pad: jax.tree.map(lambda x: x[s[rows]], stacked)
    out, t, _ = play(take(seat0), take(seat1), keys[pad])
    outcomes.append(np.asarray(out)[:hi - lo])
    ticks.append(np.asarray(t)[:hi - lo])
    if progress is not None:
      progress(hi, len(seat0))
  outcome = np.concatenate(outcomes)[:, 0]  # seat 0's result
  ticks = np.concatenate(ticks)
  B = len(names)
  wins, games = np.zeros((B, B)), np.zeros((B, B))
  score0 = (outcome + 1.0) / 2.0  # 1 win, 0.5 draw, 0 loss for seat 0
  np.add.at(wins, (seat0, seat1), score0)
  np.add.at(wins, (seat1, seat0), 1.0 - score0)
  np.add.at(games, (seat0, seat1), 1.0)
  np.add.at(games, (seat1, seat0), 1.0)
  elapsed = time.time() - start
  stats = {'games': int(len(outcome)), 'seconds': elapsed,
           'draw_fraction': float(np.mean(outcome == 0)),
           'mean_ticks': float(ticks.mean()),
           'seat0_score': float(score0.mean()),
           'ticks_per_second': float(ticks.sum() / max(elapsed, 1e-9))}
  return wins, games, stats


def select_ladder(names, rating, low: float = 0.6, high: float = 0.8,
                  target: float = 0.7):
  """A ladder of bots, weakest first, whose neighbours are predicted to win between
  `low` and `high` of their games: from the weakest bot, each next level is the bot
  whose predicted win rate against the current level is closest to `target`."""
  rating = np.asarray(rating)
  current = int(np.argmin(rating))
  chain = [current]
  while True:
    p = ratings_lib.win_probability(rating, rating[current])
    ok = (p >= low) & (p <= high)
    if not ok.any():
      break
    current = int(np.argmin(np.where(ok, np.abs(p - target), np.inf)))
    chain.append(current)
  return [names[i] for i in chain]


def calibrate(env, names=DEFAULT_POOL, games_per_pair: int = 16, seed: int = 0,
              bootstrap_samples: int = 200, progress=None) -> dict:
  """Round robin + ratings + ladder; returns the JSON-ready calibration record."""
  names = list(names)
  for n in names:
    bots._parse(n)  # pylint: disable=protected-access  (unknown names fail early)
  wins, games, stats = round_robin(env, names, games_per_pair, seed, progress=progress)
  record = summarize(names, wins, games, seed=seed, bootstrap_samples=bootstrap_samples)
  record.update({'env_id': env.spec.env_id, 'env_version': env.spec.version,
                 'games_per_pair': games_per_pair, 'seed': seed, 'stats': stats})
  return record


def summarize(names, wins, games, seed: int = 0, bootstrap_samples: int = 200) -> dict:
  """Ratings with bootstrap intervals, the ladder and its neighbours' win rates."""
  wins, games = np.asarray(wins, np.float64), np.asarray(games, np.float64)
  rating = ratings_lib.fit(wins, games)
  low, high = ratings_lib.bootstrap(wins, games, num_samples=bootstrap_samples,
                                    seed=seed)
  ladder = select_ladder(names, rating)
  index = {n: i for i, n in enumerate(names)}
  neighbours = []
  for a, b in zip(ladder, ladder[1:]):
    i, j = index[a], index[b]
    neighbours.append({
        'weaker': a, 'stronger': b,
        'predicted_win_rate': float(ratings_lib.win_probability(rating[j], rating[i])),
        'observed_win_rate': float(wins[j, i] / games[j, i]) if games[j, i] else None,
        'games': int(games[j, i])})
  return {
      'pool': list(names),
      'ratings': {n: {'rating': float(rating[i]), 'ci_low': float(low[i]),
                      'ci_high': float(high[i])} for i, n in enumerate(names)},
      'wins': wins.tolist(), 'games': games.tolist(),
      'ladder': ladder, 'neighbours': neighbours,
  }
