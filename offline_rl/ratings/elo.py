"""Bradley-Terry / Elo ratings by maximum likelihood, with bootstrap intervals.

Letters: K players, S bootstrap samples.

Model: player i beats player j with probability sigma((r_i - r_j) / ELO_SCALE), where
ELO_SCALE = 400 / ln 10, so 400 Elo points are 10:1 odds. A draw counts as half a win
for each side. Ratings are fitted by Newton's method on the log-likelihood of all games
at once (not the sequential Elo update, which depends on game order), with one named
player held at a fixed rating (the anchor: AlphaStar Unplugged holds its very_hard bot at
1000), or with no anchor the mean rating held there (a calibration of a bot pool), and a
weak Gaussian prior (default sd 800 Elo around the anchor rating) that keeps a player
who won or lost every game finite without moving well-measured ratings. A pool measured
by few games a pair (a bot calibration) can instead add `prior_games` virtual games,
half won, between every pair that met, the usual pseudo-count of Bradley-Terry fits.

Intervals come from a bootstrap stratified by pairing: for each pair of players, their
games are resampled with replacement (a multinomial draw over win/draw/loss with the
pair's observed frequencies and number of games), the ratings are refitted, and the
percentiles of the refitted ratings give the interval. A named anchor has no interval:
the others' intervals are relative to it.
"""
from __future__ import annotations

import math
from typing import Iterable, NamedTuple, Sequence

import numpy as np

ELO_SCALE = 400.0 / math.log(10.0)


class PairCounts(NamedTuple):
  """Game counts between K players.

  Attributes:
    names: the K player names.
    wins: [K, K] int, wins[i, j] = games i won against j.
    draws: [K, K] int, symmetric, drawn games between i and j.
  """
  names: list[str]
  wins: np.ndarray
  draws: np.ndarray

  @property
  def games(self) -> np.ndarray:
    """[K, K] games played between i and j."""
    return self.wins + self.wins.T + self.draws

  @property
  def score(self) -> np.ndarray:
    """[K, K] points i took from j (wins + draws / 2)."""
    return self.wins + 0.5 * self.draws

  def index(self, name: str) -> int:
    if name not in self.names:
      raise KeyError(f'Unknown player {name!r}; players: {self.names}.')
    return self.names.index(name)


def counts_from_outcomes(outcomes: Iterable[tuple[str, str, float]],
                         names: Sequence[str] | None = None) -> PairCounts:
  """Counts from (player_a, player_b, score of a in {1, 0.5, 0}) triples."""
  outcomes = list(outcomes)
  if names is None:
    names = sorted({n for a, b, _ in outcomes for n in (a, b)})
  names = list(names)
  where = {n: i for i, n in enumerate(names)}
  k = len(names)
  wins = np.zeros((k, k), np.int64)
  draws = np.zeros((k, k), np.int64)
  for a, b, s in outcomes:
    if a == b:
      raise ValueError(f'A game of {a!r} against itself cannot be rated.')
    for n in (a, b):
      if n not in where:
        raise KeyError(f'Player {n!r} is not in the list of names {names}.')
    i, j = where[a], where[b]
    if s == 1:
      wins[i, j] += 1
    elif s == 0:
      wins[j, i] += 1
    elif s == 0.5:
      draws[i, j] += 1
      draws[j, i] += 1
    else:
      raise ValueError(f'A game score must be 1, 0.5 or 0; got {s!r} for {a} vs {b}.')
  return PairCounts(names, wins, draws)


def merge_players(counts: PairCounts, group: dict[str, str]) -> PairCounts:
  """Counts with the players that `group` maps to one name pooled into one player.

  E.g. {'bc/s0': 'bc', 'bc/s1': 'bc'}: the training seeds of one agent as one player.
  Players not in `group` keep their names; games between members of one group are
  dropped (a player cannot be rated against itself).
  """
  names = list(dict.fromkeys(group.get(n, n) for n in counts.names))
  where = np.array([names.index(group.get(n, n)) for n in counts.names])
  k = len(names)
  wins = np.zeros((k, k), np.int64)
  draws = np.zeros((k, k), np.int64)
  np.add.at(wins, (where[:, None], where[None, :]), counts.wins)
  np.add.at(draws, (where[:, None], where[None, :]), counts.draws)
  np.fill_diagonal(wins, 0)
  np.fill_diagonal(draws, 0)
  return PairCounts(names, wins, draws)


def _connected_to(games: np.ndarray, start: int) -> np.ndarray:
  reached = np.zeros(len(games), bool)
  reached[start] = True
  frontier = [start]
  while frontier:
    i = frontier.pop()
    for j in np.nonzero(games[i] > 0)[0]:
      if not reached[j]:
        reached[j] = True
        frontier.append(j)
  return reached


def _newton(score: np.ndarray, games: np.ndarray, anchor: int | None,
            anchor_rating: float, prior_sd: float, prior_games: float,
            iterations: int = 100,
            tol: float = 1e-7) -> np.ndarray:
  """Batched MAP fit. score, games [S, K, K] -> ratings [S, K] in Elo.

  `anchor` is the index of the player held at `anchor_rating`; None holds the mean
  (the first player is held while fitting, then all are shifted).
  """
  num_samples, k, _ = score.shape
  held = 0 if anchor is None else anchor
  free = np.array([i for i in range(k) if i != held])
  x = np.zeros((num_samples, k))  # In natural units (log-odds), relative to the anchor.
  prior_precision = (ELO_SCALE / prior_sd) ** 2
  met = games > 0
  score = score + 0.5 * prior_games * met
  games = games + prior_games * met
  for _ in range(iterations):
    p = 1.0 / (1.0 + np.exp(-(x[:, :, None] - x[:, None, :])))  # [S, K, K]
    grad = (score - games * p).sum(-1) - prior_precision * x  # [S, K]
    w = games * p * (1.0 - p)
    hess = w - np.eye(k) * (w.sum(-1)[:, :, None] + prior_precision)  # [S, K, K]
    g = grad[:, free]
    h = hess[:, free][:, :, free]
    step = np.linalg.solve(-h, g[..., None])[..., 0]
    step = np.clip(step, -3.0, 3.0)  # At most ~520 Elo per iteration: stays stable.
    x[:, free] += step
    if np.max(np.abs(step)) < tol:
      break
  if anchor is None:
    x = x - x.mean(-1, keepdims=True)
  return anchor_rating + ELO_SCALE * x


def fit(counts: PairCounts, anchor: str | None, anchor_rating: float = 1000.0,
        prior_sd: float = 800.0, prior_games: float = 0.0) -> np.ndarray:
  """[K] maximum a posteriori Elo ratings.

  Args:
    counts: the games.
    anchor: the player held at `anchor_rating`; None holds the mean rating there.
    anchor_rating: the anchor's (or the mean) rating.
    prior_sd: the Gaussian prior's sd in Elo (see the module docstring); inf: none.
    prior_games: virtual games, half won, added between every pair that met.

  Raises:
    ValueError: when a player who played has no chain of games to the anchor (to the
      first player when there is no anchor).
  """
  a = None if anchor is None else counts.index(anchor)
  games = counts.games
  reached = _connected_to(games, 0 if a is None else a)
  played = games.sum(1) > 0
  cut = [n for n, r, p in zip(counts.names, reached, played) if p and not r]
  if cut:
    raise ValueError(f'Players {cut} have no chain of games to '
                     f'{counts.names[0] if a is None else anchor!r}, so their ratings are '
                     'not comparable; play them against players connected to it.')
  return _newton(counts.score[None].astype(float), games[None].astype(float), a,
                 anchor_rating, prior_sd, prior_games)[0]


def bootstrap_counts(counts: PairCounts, num_samples: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
  """Resamples each pair's games: (score [S, K, K], games [S, K, K])."""
  k = len(counts.names)
  games = counts.games
  score = np.zeros((num_samples, k, k))
  for i in range(k):
    for j in range(i + 1, k):
      n = int(games[i, j])
      if n == 0:
        continue
      p = np.array([counts.wins[i, j], counts.draws[i, j], counts.wins[j, i]]) / n
      draw = rng.multinomial(n, p, size=num_samples)  # [S, 3]
      score[:, i, j] = draw[:, 0] + 0.5 * draw[:, 1]
      score[:, j, i] = draw[:, 2] + 0.5 * draw[:, 1]
  return score, np.broadcast_to(games, (num_samples, k, k)).astype(float)


class Ratings(NamedTuple):
  """Fitted ratings with intervals.

  Attributes:
    names: K player names.
    rating: [K] Elo, maximum likelihood (with the weak prior).
    lower, upper: [K] the bootstrap percentile interval at `confidence`.
    samples: [S, K] bootstrap ratings (for intervals of differences).
    games: [K] games each player played.
    anchor: the player held fixed (None: the mean), and `anchor_rating` its rating.
    confidence: the intervals' nominal coverage.
  """
  names: list[str]
  rating: np.ndarray
  lower: np.ndarray
  upper: np.ndarray
  samples: np.ndarray
  games: np.ndarray
  anchor: str | None
  anchor_rating: float
  confidence: float

  def of(self, name: str) -> tuple[float, float, float]:
    i = self.names.index(name)
    return float(self.rating[i]), float(self.lower[i]), float(self.upper[i])

  def difference(self, a: str, b: str) -> tuple[float, float, float, float]:
    """(rating_a - rating_b, its interval lower, upper, bootstrap P(a > b))."""
    i, j = self.names.index(a), self.names.index(b)
    d = self.samples[:, i] - self.samples[:, j]
    lo, hi = np.percentile(d, [50 * (1 - self.confidence), 50 * (1 + self.confidence)])
    return (float(self.rating[i] - self.rating[j]), float(lo), float(hi),
            float(np.mean(d > 0)))


def rate(counts: PairCounts, anchor: str | None, *, anchor_rating: float = 1000.0,
         confidence: float = 0.95, num_samples: int = 1000, seed: int = 0,
         prior_sd: float = 800.0, prior_games: float = 0.0) -> Ratings:
  """Fits Elo ratings and their bootstrap intervals (see the module docstring)."""
  if not 0 < confidence < 1:
    raise ValueError(f'confidence must be in (0, 1); got {confidence}.')
  rating = fit(counts, anchor, anchor_rating, prior_sd, prior_games)
  score, games = bootstrap_counts(counts, num_samples, np.random.default_rng(seed))
  samples = _newton(score, games, None if anchor is None else counts.index(anchor),
                    anchor_rating, prior_sd, prior_games)
  tail = 50 * (1 - confidence)
  lower, upper = np.percentile(samples, [tail, 100 - tail], axis=0)
  return Ratings(list(counts.names), rating, lower, upper, samples,
                 counts.games.sum(1), anchor, anchor_rating, confidence)


def expected_score(rating_a, rating_b):
  """Bradley-Terry probability that a beats b (draws as half) from Elo ratings."""
  return 1.0 / (1.0 + np.exp(-(np.asarray(rating_a) - np.asarray(rating_b)) / ELO_SCALE))


def win_rate_matrix(counts: PairCounts) -> np.ndarray:
  """[K, K] share of points row i took from column j (draws half); NaN where none."""
  games = counts.games
  with np.errstate(invalid='ignore', divide='ignore'):
    return np.where(games > 0, counts.score / np.maximum(games, 1), np.nan)


def robustness(counts: PairCounts, references: Sequence[str] | None = None) -> np.ndarray:
  """[K] one minus the best win rate any reference player achieves against each player.

  This is AlphaStar Unplugged's robustness (its table's numbers imply this definition).
  A player is never its own reference; NaN where no reference played the player.
  """
  names = counts.names
  refs = [counts.index(r) for r in (references if references is not None else names)]
  rates = win_rate_matrix(counts)  # rates[r, i]: r's win rate against i.
  out = np.full(len(names), np.nan)
  for i in range(len(names)):
    against = [rates[r, i] for r in refs if r != i and not np.isnan(rates[r, i])]
    if against:
      out[i] = 1.0 - max(against)
  return out


def wilson_interval(score: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
  """Wilson score interval of a win rate from n games (draws as half wins).

  With draws the score's variance is below p (1 - p) / n, so the interval errs wide.
  Unlike a bootstrap, it stays honest at 0% and 100%.
  """
  if n <= 0:
    return float('nan'), float('nan')
  z = _normal_quantile(0.5 + confidence / 2)
  denom = 1 + z * z / n
  centre = (score + z * z / (2 * n)) / denom
  half = z * math.sqrt(score * (1 - score) / n + z * z / (4 * n * n)) / denom
  return max(0.0, centre - half), min(1.0, centre + half)


def _normal_quantile(q: float) -> float:
  """Inverse standard normal CDF by bisection on erf (no SciPy needed)."""
  lo, hi = -10.0, 10.0
  for _ in range(100):
    mid = (lo + hi) / 2
    if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < q:
      lo = mid
    else:
      hi = mid
  return (lo + hi) / 2


def head_to_head(counts: PairCounts, a: str, b: str, *,
                 confidence: float = 0.95) -> tuple[float, float, float, int]:
  """(a's win rate against b, Wilson interval lower, upper, games); draws count half."""
  i, j = counts.index(a), counts.index(b)
  n = int(counts.games[i, j])
  if n == 0:
    return float('nan'), float('nan'), float('nan'), 0
  score = float(counts.score[i, j] / n)
  lo, hi = wilson_interval(score, n, confidence)
  return score, lo, hi, n
