"""Large evaluations as shards: parallel over processes, resumable after a crash.

A `Shard` is a contiguous range of game indices of one match (environment, players in
policy order, seed). Because every game draws its randomness from its own index (see
`matches`), a shard's results do not depend on who plays it or when. `run_shards`
plays the shards that process `process_index` of `process_count` owns (round robin over
the plan), skipping those already in the store, and appends each finished shard as one
line. Start the same command in several processes (or again after a crash) and the
store converges to the same content.
"""
from __future__ import annotations

import dataclasses
import itertools
from typing import Callable, Mapping, Sequence

from offline_rl import types
from offline_rl.evaluation import matches
from offline_rl.evaluation import progress as progress_lib
from offline_rl.evaluation import store as store_lib


@dataclasses.dataclass(frozen=True)
class Shard:
  """Games `first_game .. first_game + num_games - 1` of one match."""
  env_id: str
  players: tuple[str, ...]
  seed: int
  first_game: int
  num_games: int

  @property
  def id(self) -> str:
    last = self.first_game + self.num_games - 1
    return (f'{self.env_id}|{"|".join(self.players)}|seed={self.seed}|'
            f'games={self.first_game}-{last}')


def round_robin(names: Sequence[str]) -> list[tuple[str, str]]:
  """Every unordered pair once, in a stable order (seats alternate inside a match)."""
  return list(itertools.combinations(names, 2))


def against_pool(agents: Sequence[str], pool: Sequence[str]) -> list[tuple[str, str]]:
  """Each agent against each member of a pool."""
  return [(a, b) for a in agents for b in pool if a != b]


def plan(env_id: str, matchups: Sequence[tuple[str, ...]], *, games_per_match: int,
         seeds: Sequence[int] = (0,), shard_size: int = 64) -> list[Shard]:
  """Splits `matchups x seeds` into shards of at most `shard_size` games.

  Args:
    env_id: the environment every match is played in.
    matchups: tuples of player names in policy order (one name for single-agent envs).
    games_per_match: games per matchup and seed; even for two-player matchups, so each
      map is played from both seats.
    seeds: evaluation seeds.
    shard_size: games per shard (even for two-player matchups).
  """
  if games_per_match < 1 or shard_size < 1:
    raise ValueError(f'games_per_match and shard_size must be >= 1; got '
                     f'{games_per_match} and {shard_size}.')
  shards = []
  for players in matchups:
    players = tuple(players)
    if len(set(players)) != len(players):
      raise ValueError(f'A matchup lists the same player twice: {players}.')
    if len(players) == 2 and (games_per_match % 2 or shard_size % 2):
      raise ValueError(
          f'Two-player matches play each map from both seats, so games_per_match '
          f'({games_per_match}) and shard_size ({shard_size}) must be even.')
    for seed in seeds:
      for first in range(0, games_per_match, shard_size):
        shards.append(Shard(env_id, players, int(seed), first,
                            min(shard_size, games_per_match - first)))
  return shards


def run_shards(shards: Sequence[Shard], store: store_lib.ResultsStore, *,
               envs: Mapping[str, object],
               policies: Mapping[str, Mapping[str, types.Policy]] | Callable,
               process_index: int = 0, process_count: int = 1,
               show_progress: bool = True, description: str = 'games',
               stop_after: int | None = None) -> int:
  """Plays this process's shards that the store does not hold yet.

  Args:
    shards: the whole plan (every process passes the same list).
    store: where finished shards are appended.
    envs: env_id -> environment.
    policies: env_id -> {name -> Policy}, or a callable (env_id, name) -> Policy.
    process_index: this process's index in [0, process_count).
    process_count: how many processes share the plan.
    show_progress: draw a rich progress bar (games played / to play).
    description: the progress bar's label.
    stop_after: play at most this many shards, then return (for tests and time boxes).

  Returns:
    The number of shards played by this call.
  """
  if not 0 <= process_index < process_count:
    raise ValueError(f'process_index must be in [0, {process_count}); got {process_index}.')
  ids = [s.id for s in shards]
  if len(set(ids)) != len(ids):
    raise ValueError('The plan holds the same shard twice; check matchups and seeds.')
  done = store.done_ids()
  mine = [s for i, s in enumerate(shards)
          if i % process_count == process_index and s.id not in done]
  lookup = policies if callable(policies) else (lambda e, n: _lookup(policies, e, n))
  for shard in mine:
    if shard.env_id not in envs:
      raise KeyError(f'No environment given for {shard.env_id!r}; known: {sorted(envs)}.')
    for name in shard.players:
      lookup(shard.env_id, name)  # Fail before playing anything.
  played = 0
  total = sum(s.num_games for s in mine)
  with progress_lib.bar(description, total, enabled=show_progress) as advance:
    for shard in mine:
      if stop_after is not None and played >= stop_after:
        break
      env = envs[shard.env_id]
      # Games are keyed by player names: a renamed checkpoint replays the same games.
      seat_policies = [lookup(shard.env_id, n)._replace(policy_id=n) for n in shard.players]
      results = matches.play(env, seat_policies, seed=shard.seed,
                             num_games=shard.num_games, first_game=shard.first_game)
      store.append(store_lib.games_record(shard.id, shard.env_id, list(shard.players),
                                          shard.seed, results))
      played += 1
      advance(shard.num_games)
  return played


def _lookup(policies, env_id, name):
  table = policies.get(env_id)
  if table is None:
    raise KeyError(f'No policies given for environment {env_id!r}.')
  if name not in table:
    raise KeyError(f'Unknown player {name!r} for {env_id}; known: {sorted(table)}.')
  return table[name]
