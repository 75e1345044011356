"""From a results store to the numbers of a report.

Two-player environments: pairwise counts, Elo with bootstrap intervals anchored to a
named player, robustness, win rate against the reference bot, the win-rate matrix and
head-to-head comparisons. Single-agent environments: mean return with an interval per
player, scores normalised between `random` and a reference player, and the IQM with
stratified-bootstrap intervals across runs for players that share a `group`.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import numpy as np

from offline_rl import ratings as ratings_lib
from offline_rl.evaluation import store as store_lib
from offline_rl.ratings import scores as scores_lib


def game_scores(record: dict[str, Any]) -> np.ndarray:
  """[G] score of the record's first player per game: 1 win, 0.5 draw, 0 loss."""
  returns = np.asarray(record['returns'], np.float64)
  diff = returns[:, 0] - returns[:, 1]
  return np.where(diff > 0, 1.0, np.where(diff < 0, 0.0, 0.5))


def pair_counts(games: Sequence[dict[str, Any]], env_id: str,
                names: Sequence[str] | None = None) -> ratings_lib.PairCounts:
  """Win/draw counts between the players of one two-player environment."""
  games = [g for g in games if g['env'] == env_id and len(g['players']) == 2]
  if names is None:
    names = sorted({n for g in games for n in g['players']})
  names = list(names)
  where = {n: i for i, n in enumerate(names)}
  wins = np.zeros((len(names), len(names)), np.int64)
  draws = np.zeros_like(wins)
  for g in games:
    i, j = where[g['players'][0]], where[g['players'][1]]
    s = game_scores(g)
    wins[i, j] += int((s == 1).sum())
    wins[j, i] += int((s == 0).sum())
    d = int((s == 0.5).sum())
    draws[i, j] += d
    draws[j, i] += d
  return ratings_lib.PairCounts(names, wins, draws)


def episode_returns(games: Sequence[dict[str, Any]], env_id: str) -> dict[str, np.ndarray]:
  """Single-agent environments: player -> [E] returns, in store order."""
  out: dict[str, list[float]] = {}
  for g in games:
    if g['env'] == env_id and len(g['players']) == 1:
      out.setdefault(g['players'][0], []).extend(r[0] for r in g['returns'])
  return {k: np.asarray(v) for k, v in out.items()}


@dataclasses.dataclass
class Comparison:
  """Whether `a` beats `b`: head to head and by rating."""
  a: str
  b: str
  win_rate: float
  win_lower: float
  win_upper: float
  games: int
  elo_diff: float
  elo_lower: float
  elo_upper: float
  prob_better: float

  @property
  def verdict(self) -> str:
    if self.games and self.win_lower > 0.5:
      return f'{self.a} beats {self.b}'
    if self.games and self.win_upper < 0.5:
      return f'{self.b} beats {self.a}'
    return 'not separated at this confidence'


@dataclasses.dataclass
class TwoPlayerSummary:
  env_id: str
  counts: ratings_lib.PairCounts
  ratings: ratings_lib.Ratings
  robustness: np.ndarray  # [K]
  reference: str  # The strongest bot: the "vs very_hard" column.
  vs_reference: np.ndarray  # [K] win rate against `reference`, NaN where none.
  comparisons: list[Comparison]
  info: dict[str, dict[str, Any]]
  confidence: float

  @property
  def total_games(self) -> int:
    return int(self.counts.games.sum() // 2)


@dataclasses.dataclass
class SingleAgentSummary:
  env_id: str
  returns: dict[str, scores_lib.Estimate]
  normalized: dict[str, float] | None  # vs random (0) and the reference player (100).
  reference: str | None
  groups: dict[str, scores_lib.Estimate]  # IQM of per-run scores, by group.
  info: dict[str, dict[str, Any]]
  confidence: float


def strongest_bot(info: dict[str, dict[str, Any]], names: Sequence[str]) -> str | None:
  """The bot with the highest calibrated rating; the last bot listed if none is rated."""
  bots = [n for n in info if info[n].get('kind') == 'bot' and n in names]
  if not bots:
    return None
  rated = [n for n in bots if not math.isnan(float(info[n].get('rating', math.nan)))]
  if rated:
    return max(rated, key=lambda n: float(info[n]['rating']))
  return bots[-1]


def summarize_two_player(games, info, env_id, *, anchor: str | None = None,
                         anchor_rating: float = 1000.0,
                         comparisons: Sequence[tuple[str, str]] = (),
                         confidence: float = 0.95, num_samples: int = 1000,
                         seed: int = 0) -> TwoPlayerSummary:
  counts = pair_counts(games, env_id)
  names = counts.names
  reference = strongest_bot(info, names)
  anchor = anchor or reference or names[0]
  if anchor not in names:
    raise KeyError(f'The anchor {anchor!r} played no game in {env_id}; players: {names}.')
  rated = ratings_lib.rate(counts, anchor, anchor_rating=anchor_rating,
                           confidence=confidence, num_samples=num_samples, seed=seed)
  rates = ratings_lib.win_rate_matrix(counts)
  vs_reference = (rates[:, counts.index(reference)] if reference
                  else np.full(len(names), np.nan))
  robust = ratings_lib.robustness(counts)
  comps = []
  for a, b in comparisons:
    if a not in names or b not in names:
      continue
    w, lo, hi, n = ratings_lib.head_to_head(counts, a, b, confidence=confidence)
    d, dlo, dhi, p = rated.difference(a, b)
    comps.append(Comparison(a, b, w, lo, hi, n, d, dlo, dhi, p))
  return TwoPlayerSummary(env_id, counts, rated, robust, reference or '', vs_reference,
                          comps, {n: info.get(n, {}) for n in names}, confidence)


def summarize_single_agent(games, info, env_id, *, reference: str | None = None,
                           confidence: float = 0.95, num_samples: int = 2000,
                           seed: int = 0) -> SingleAgentSummary:
  returns = episode_returns(games, env_id)
  estimates = {n: scores_lib.mean_ci(r, confidence=confidence, num_samples=num_samples,
                                     seed=seed) for n, r in returns.items()}
  if reference is None:
    candidates = [n for n in returns if info.get(n, {}).get('kind') in ('bot', 'reference')]
    if candidates:
      reference = max(candidates, key=lambda n: estimates[n].value)
  normalized = None
  if 'random' in estimates and reference in estimates and reference != 'random':
    lo, hi = estimates['random'].value, estimates[reference].value
    if hi != lo:
      normalized = {n: float(scores_lib.normalize(e.value, lo, hi))
                    for n, e in estimates.items()}
  groups: dict[str, list[float]] = {}
  for n, e in estimates.items():
    group = info.get(n, {}).get('group')
    if group:
      groups.setdefault(group, []).append(normalized[n] if normalized else e.value)
  group_estimates = {
      g: scores_lib.stratified_bootstrap(np.asarray(v)[:, None], confidence=confidence,
                                         num_samples=num_samples, seed=seed)
      for g, v in groups.items()}
  return SingleAgentSummary(env_id, estimates, normalized, reference, group_estimates,
                            {n: info.get(n, {}) for n in returns}, confidence)


def summarize(store: store_lib.ResultsStore | str, *, anchor: str | None = None,
              anchor_rating: float = 1000.0,
              comparisons: Sequence[tuple[str, str]] = (), confidence: float = 0.95,
              num_samples: int = 1000, seed: int = 0, reference: str | None = None):
  """One summary per environment in the store, in first-seen order."""
  if isinstance(store, str):
    store = store_lib.ResultsStore(store)
  if not store.exists():
    raise FileNotFoundError(f'No results store at {store.path}; run `offline-rl tournament` '
                            'or `offline-rl evaluate` first.')
  games = store.games()
  if not games:
    raise ValueError(f'The results store {store.path} holds no games yet.')
  agents = list(store.records('agent'))
  out = []
  for env_id in dict.fromkeys(g['env'] for g in games):
    info = {r['name']: r for r in agents if r.get('env') in (env_id, None)}
    if len(games_of(games, env_id)[0]['players']) == 2:
      out.append(summarize_two_player(
          games, info, env_id, anchor=anchor, anchor_rating=anchor_rating,
          comparisons=comparisons, confidence=confidence, num_samples=num_samples,
          seed=seed))
    else:
      out.append(summarize_single_agent(games, info, env_id, reference=reference,
                                        confidence=confidence, seed=seed))
  return out


def games_of(games, env_id):
  return [g for g in games if g['env'] == env_id]
