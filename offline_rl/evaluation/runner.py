"""The tournament runner: players x environments x seeds into one results store.

Two-player environments hold a tournament: every scheduled pair plays
`games_per_match` games per seed (seats alternate, maps vary). Single-agent
environments play `games_per_match` episodes per player and seed. Everything lands in
one JSON Lines store (`offline_rl.evaluation.store`), shard by shard, so a run that is
stopped and started again, or split over processes, ends with the same store.
"""
from __future__ import annotations

from typing import Any, Sequence

from offline_rl.evaluation import players as players_lib
from offline_rl.evaluation import store as store_lib
from offline_rl.evaluation import work

SCHEDULES = ('round_robin', 'agents_vs_all')


def players_from_specs(specs: Sequence[str], env) -> list[players_lib.Player]:
  """Resolves policy names (see `players`) for one environment; names must be unique."""
  out, seen = [], set()
  for spec in specs:
    for player in players_lib.resolve(spec, env):
      if player.name in seen:
        raise ValueError(f'Two players are named {player.name!r}; name one with '
                         'ALIAS=NAME.')
      seen.add(player.name)
      out.append(player)
  return out


def matchups(players: Sequence[players_lib.Player], num_players: int,
             schedule: str = 'round_robin') -> list[tuple[str, ...]]:
  """The scheduled matchups among players.

  Args:
    players: the players.
    num_players: seats of the environment (1: each player alone).
    schedule: 'round_robin' (every pair) or 'agents_vs_all' (every pair that includes
      at least one non-bot; bots do not replay each other).
  """
  names = [p.name for p in players]
  if num_players == 1:
    return [(n,) for n in names]
  if schedule not in SCHEDULES:
    raise ValueError(f'Unknown schedule {schedule!r}; choose one of {SCHEDULES}.')
  pairs = work.round_robin(names)
  if schedule == 'agents_vs_all':
    kind = {p.name: p.info.get('kind') for p in players}
    pairs = [pair for pair in pairs if any(kind[n] != 'bot' for n in pair)]
  return pairs


def run(store: store_lib.ResultsStore | str, env, players: Sequence[players_lib.Player], *,
        games_per_match: int, seeds: Sequence[int] = (0,), shard_size: int = 64,
        schedule: str = 'round_robin', process_index: int = 0, process_count: int = 1,
        show_progress: bool = True, stop_after: int | None = None,
        env_name: str | None = None) -> int:
  """Plays one environment's schedule into the store; returns shards played now.

  Player descriptions are written once (process 0) before any game. `env_name` labels
  the environment in the store (default: its spec's env_id); give two configurations
  of one environment id different names.
  """
  if isinstance(store, str):
    store = store_lib.ResultsStore(store)
  env_id = env_name or env.spec.env_id
  if process_index == 0:
    known = {(r.get('env'), r['name']): r for r in store.records('agent')}
    new = [players_lib.agent_record(p.name, env_id, p.info) for p in players]
    new = [r for r in new if known.get((env_id, r['name'])) != r]
    if new:
      store.append(*new)
  shards = work.plan(env_id, matchups(players, env.spec.num_players, schedule),
                     games_per_match=games_per_match, seeds=seeds, shard_size=shard_size)
  table = {env_id: {p.name: p.policy for p in players}}
  return work.run_shards(shards, store, envs={env_id: env}, policies=table,
                         process_index=process_index, process_count=process_count,
                         show_progress=show_progress, description=f'{env_id} games',
                         stop_after=stop_after)


def run_all(store: store_lib.ResultsStore | str, envs: Sequence[tuple[str, object]],
            player_specs: Sequence[str], **kwargs) -> int:
  """Players x environments x seeds: `run` for each (name, environment) in turn.

  Player specs are resolved per environment (each has its own bots and interface);
  keyword arguments go to `run`. Returns the shards played now.
  """
  names = [name for name, _ in envs]
  if len(set(names)) != len(names):
    raise ValueError(f'Environment names must be unique; got {names}.')
  played = 0
  for name, env in envs:
    played += run(store, env, players_from_specs(player_specs, env), env_name=name,
                  **kwargs)
  return played
