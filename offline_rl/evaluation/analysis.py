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
class AgentAcrossSeeds:
  """One agent over its training seeds (players NAME/sSEED, or NAME for one seed).

  Two kinds of interval: `elo_*` and `vs_*` pool the seeds' games into one player
  (their intervals are over games only); `mean_*` and the comparisons' `seed_*` are
  hierarchical bootstraps that resample the seeds, then each drawn seed's games, so
  they hold the spread across seeds as well.
  """
  name: str
  players: list[str]  # [S] one per training seed.
  elo: float  # Seeds pooled, with its interval over games.
  elo_lower: float
  elo_upper: float
  seed_elos: np.ndarray  # [S] each seed's Elo in the per-seed fit.
  mean_elo: float  # Mean of seed_elos, with the hierarchical interval.
  mean_lower: float
  mean_upper: float
  vs_reference: float  # Pooled win rate against the strongest bot, Wilson interval.
  vs_lower: float
  vs_upper: float
  vs_games: int
  seed_vs_reference: np.ndarray  # [S]
  robustness: float  # Pooled.
  games: int


@dataclasses.dataclass
class SeedComparison:
  """Does agent `a` beat agent `b`, seed against seed (see AgentAcrossSeeds)."""
  a: str
  b: str
  win_rate: float  # Seeds pooled, Wilson interval over games.
  win_lower: float
  win_upper: float
  games: int
  seed_rates: np.ndarray  # [S] a's win rate against b, per seed.
  seed_lower: float  # The mean of seed_rates: hierarchical interval (seeds, games).
  seed_upper: float
  elo_diff: float  # Pooled ratings, bootstrap interval over games.
  elo_lower: float
  elo_upper: float

  @property
  def mean_rate(self) -> float:
    return float(np.mean(self.seed_rates))

  @property
  def verdict(self) -> str:
    """On the hierarchical interval: a claim must hold across seeds, not one seed."""
    if self.games and self.seed_lower > 0.5:
      return f'{self.a} beats {self.b}'
    if self.games and self.seed_upper < 0.5:
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
  agents: list[AgentAcrossSeeds] = dataclasses.field(default_factory=list)
  seed_comparisons: list[SeedComparison] = dataclasses.field(default_factory=list)

  @property
  def seeds_text(self) -> str:
    """How many training seeds back the agents' numbers."""
    counts = sorted({len(g.players) for g in self.agents})
    if counts == [1]:
      return 'one training seed: the intervals hold no spread across seeds'
    span = str(counts[0]) if len(counts) == 1 else f'{counts[0]}-{counts[-1]}'
    return f'{span} training seeds an agent'

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
  groups = agent_groups(info, names)
  comps = []
  for a, b in comparisons:
    if a in groups or b in groups or a not in names or b not in names:
      continue
    w, lo, hi, n = ratings_lib.head_to_head(counts, a, b, confidence=confidence)
    d, dlo, dhi, p = rated.difference(a, b)
    comps.append(Comparison(a, b, w, lo, hi, n, d, dlo, dhi, p))
  agents, seed_comps = [], []
  if groups:
    seed_of = {n: info.get(n, {}).get('seed') for n in names}
    agents, seed_comps = across_seeds(
        counts, rated, groups, seed_of, reference, [(a, b) for a, b in comparisons
                                           if a in groups and b in groups],
        confidence=confidence, num_samples=num_samples, seed=seed)
  return TwoPlayerSummary(env_id, counts, rated, robust, reference or '', vs_reference,
                          comps, {n: info.get(n, {}) for n in names}, confidence,
                          agents, seed_comps)


def agent_groups(info: dict[str, dict[str, Any]], names: Sequence[str]
                 ) -> dict[str, list[str]]:
  """Agent name -> its players (one per training seed, by seed) from the players'
  `group` and `seed` records (the recipe writes them)."""
  groups: dict[str, list[str]] = {}
  for n in sorted(names, key=lambda n: info.get(n, {}).get('seed', 0)):
    group = info.get(n, {}).get('group')
    if group:
      groups.setdefault(group, []).append(n)
  return groups


def across_seeds(counts: ratings_lib.PairCounts, rated: ratings_lib.Ratings,
                 groups: dict[str, list[str]], seed_of: dict[str, Any],
                 reference: str | None, comparisons: Sequence[tuple[str, str]], *,
                 confidence: float,
                 num_samples: int, seed: int
                 ) -> tuple[list[AgentAcrossSeeds], list[SeedComparison]]:
  """Each agent's numbers over its seeds, and the comparisons of agents seed by seed.

  A comparison A:B pairs each seed of A with the same seed of B (`seed_of`: player ->
  training seed; the recipe trains B's seed s from A's seed s where one starts from
  the other).
  """
  pooled_counts = ratings_lib.merge_players(
      counts, {p: g for g, players in groups.items() for p in players})
  pooled = ratings_lib.rate(pooled_counts, rated.anchor, anchor_rating=rated.anchor_rating,
                            confidence=confidence, num_samples=num_samples, seed=seed)
  robust = ratings_lib.robustness(pooled_counts)
  rng = np.random.default_rng(seed)
  tail = 50 * (1 - confidence)
  agents = []
  for name, players in groups.items():
    where = [rated.names.index(p) for p in players]
    seeds = rng.integers(0, len(players), size=(len(rated.samples), len(players)))
    means = rated.samples[:, where][np.arange(len(rated.samples))[:, None], seeds].mean(1)
    lo, hi = np.percentile(means, [tail, 100 - tail])
    vs = (ratings_lib.head_to_head(pooled_counts, name, reference, confidence=confidence)
          if reference else (math.nan,) * 3 + (0,))
    seed_vs = np.array([ratings_lib.head_to_head(counts, p, reference)[0]
                        if reference else math.nan for p in players])
    i = pooled.names.index(name)
    agents.append(AgentAcrossSeeds(
        name, list(players), float(pooled.rating[i]), float(pooled.lower[i]),
        float(pooled.upper[i]), rated.rating[where], float(rated.rating[where].mean()),
        float(lo), float(hi), *vs, seed_vs, float(robust[i]),
        int(pooled_counts.games[i].sum())))
  comps = []
  for a, b in comparisons:
    pairs = [(pa, pb) for pa in groups[a] for pb in groups[b]
             if seed_of.get(pa) == seed_of.get(pb)]
    if not pairs:
      continue
    w, lo, hi, n = ratings_lib.head_to_head(pooled_counts, a, b, confidence=confidence)
    per_seed = [seed_win_rates(counts, pa, pb, num_samples, rng) for pa, pb in pairs]
    rates = np.array([r for r, _ in per_seed])
    slo, shi = hierarchical_interval(np.stack([s for _, s in per_seed]), confidence, rng)
    d, dlo, dhi, _ = pooled.difference(a, b)
    comps.append(SeedComparison(a, b, w, lo, hi, n, rates, slo, shi, d, dlo, dhi))
  return agents, comps


def seed_win_rates(counts: ratings_lib.PairCounts, a: str, b: str, num_samples: int,
                   rng: np.random.Generator) -> tuple[float, np.ndarray]:
  """(a's win rate against b, [num_samples] rates of its games resampled); NaN if none."""
  i, j = counts.index(a), counts.index(b)
  n = int(counts.games[i, j])
  if n == 0:
    return math.nan, np.full(num_samples, math.nan)
  p = np.array([counts.wins[i, j], counts.draws[i, j], counts.wins[j, i]]) / n
  draws = rng.multinomial(n, p, size=num_samples)  # [N, 3]
  return float(counts.score[i, j] / n), (draws[:, 0] + 0.5 * draws[:, 1]) / n


def hierarchical_interval(resampled: np.ndarray, confidence: float,
                          rng: np.random.Generator) -> tuple[float, float]:
  """Percentile interval of the mean over seeds of [S, N] per-seed resampled values:
  each of the N draws picks S seeds with replacement (the seed level) and reads their
  n-th resample (the game level). S = 1 reduces to the game-level bootstrap."""
  s, n = resampled.shape
  picks = rng.integers(0, s, size=(n, s))
  means = resampled[picks, np.arange(n)[:, None]].mean(1)
  if np.isnan(means).all():
    return math.nan, math.nan
  tail = 50 * (1 - confidence)
  lo, hi = np.nanpercentile(means, [tail, 100 - tail])
  return float(lo), float(hi)


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
