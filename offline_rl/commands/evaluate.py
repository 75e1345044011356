"""`offline-rl evaluate`: an agent (or a bot) against bots, or its return alone.

  offline-rl evaluate --env=skirmish/8x8 --agent=runs/demo/agents/bc --opponents=ladder --games=200
  offline-rl evaluate --env=toy/corridor-v0 --env_kwargs='{"num_players": 1}' --agent=random

--agent is a policy name (offline_rl.evaluation.players: NAME or bot:NAME, random,
checkpoint:DIR, ALIAS=NAME, ...) or a run directory. Two-player environments: the agent plays --games games against each
opponent per seed, seats alternating; prints win/draw/loss with intervals. Single-agent
environments: prints the mean return with its interval. Results go to --store (default:
a fresh file under runs/evaluate/), so a long evaluation can be resumed or split with
--process_index/--process_count.
"""
from __future__ import annotations

import os
import time

from absl import flags
from absl import logging

from offline_rl import errors
from offline_rl.commands import flags as common

AGENT = flags.DEFINE_string('agent', None, 'The player to evaluate: a run directory or a '
                            'policy name (NAME, random, checkpoint:DIR, ALIAS=NAME).')
OPPONENTS = flags.DEFINE_list('opponents', ['ladder'], 'Opponent policy names (two-player '
                              'environments): ladder, NAME, random, checkpoint:DIR.')


def _agent_spec(value: str) -> str:
  if value is None:
    raise SystemExit('offline-rl evaluate: --agent is required: a run directory or a '
                     'policy name.')
  if ':' in value or '=' in value:
    return value
  if os.path.isdir(value):
    return f'checkpoint:{value}'
  if os.sep in value or value.startswith('.') or os.path.exists(value):
    raise errors.ConfigError(f'--agent {value}: no such directory. Give the --workdir of '
                             'a training run, or a player spec (bot:NAME, random).')
  return value


def main(argv):
  logging.set_verbosity(logging.WARNING)  # Orbax and JAX info lines drown the bars.
  del argv
  common.start_processes()
  from offline_rl.evaluation import players as players_lib  # pylint: disable=g-import-not-at-top
  env = common.make_env_or_exit('evaluate')
  agent = common.resolve_players('evaluate', [_agent_spec(AGENT.value)], env)
  if len(agent) != 1:
    raise SystemExit('offline-rl evaluate: --agent must name one player (not a ladder).')
  agent = agent[0]
  if common.work_split()[1] > 1 and not common.STORE.value:
    raise errors.ConfigError('processes sharing an evaluation must share one results '
                             'file: give --store=PATH (the same on every process).')
  store = common.STORE.value or os.path.join(
      'runs', 'evaluate', f'{agent.name}-{time.strftime("%Y%m%d-%H%M%S")}.jsonl')
  if env.spec.num_players == 1:
    players, matchups = [agent], [(agent.name,)]
  else:
    opponents = [p for p in common.resolve_players('evaluate', OPPONENTS.value, env)
                 if p.name != agent.name]
    if not opponents:
      raise SystemExit('offline-rl evaluate: --opponents resolved to no opponent.')
    players = [agent] + opponents
    matchups = [(agent.name, o.name) for o in opponents]
  from offline_rl.evaluation import work  # pylint: disable=g-import-not-at-top
  from offline_rl.evaluation import store as store_lib  # pylint: disable=g-import-not-at-top
  results = store_lib.ResultsStore(store)
  env_id = env.spec.env_id
  index, count = common.work_split()
  if index == 0:
    results.append(*[players_lib.agent_record(p.name, env_id, p.info) for p in players])
  shards = work.plan(env_id, matchups, games_per_match=common.GAMES.value,
                     seeds=common.seeds(), shard_size=common.SHARD_SIZE.value)
  work.run_shards(shards, results, envs={env_id: env},
                  policies={env_id: {p.name: p.policy for p in players}},
                  process_index=index, process_count=count,
                  show_progress=common.PROGRESS.value, description=f'{agent.name} games')
  if not common.finished_together():
    return  # Process 0 reports on the whole store.
  print(f'Results: {store}')
  _print(results, agent.name, env.spec.num_players)


def _print(results, agent_name: str, num_players: int) -> None:
  from rich import console as rich_console  # pylint: disable=g-import-not-at-top
  from rich import table as rich_table  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from offline_rl import ratings  # pylint: disable=g-import-not-at-top
  from offline_rl.evaluation import analysis  # pylint: disable=g-import-not-at-top
  games = [g for g in results.games() if agent_name in g['players']]
  table = rich_table.Table(title=f'{agent_name}: {common.CONFIDENCE.value:.0%} intervals')
  if num_players == 1:
    for h in ('agent', 'mean return', 'interval', 'episodes', 'mean length'):
      table.add_column(h)
    returns = np.concatenate([np.asarray(g['returns'])[:, 0] for g in games])
    lengths = np.concatenate([g['lengths'] for g in games])
    e = ratings.mean_ci(returns, confidence=common.CONFIDENCE.value)
    table.add_row(agent_name, f'{e.value:.4g}', f'[{e.lower:.4g}, {e.upper:.4g}]',
                  str(e.count), f'{lengths.mean():.1f}')
  else:
    for h in ('opponent', 'win rate', 'interval', 'W / D / L', 'games', 'mean length'):
      table.add_column(h)
    by_opponent: dict[str, list] = {}
    for g in games:
      by_opponent.setdefault([n for n in g['players'] if n != agent_name][0], []).append(g)
    for opponent, records in by_opponent.items():
      scores = np.concatenate([
          analysis.game_scores(g) if g['players'][0] == agent_name
          else 1.0 - analysis.game_scores(g) for g in records])
      lengths = np.concatenate([g['lengths'] for g in records])
      n = len(scores)
      lo, hi = ratings.wilson_interval(float(scores.mean()), n, common.CONFIDENCE.value)
      table.add_row(opponent, f'{scores.mean():.1%}', f'[{lo:.1%}, {hi:.1%}]',
                    f'{(scores == 1).sum()} / {(scores == 0.5).sum()} / {(scores == 0).sum()}',
                    str(n), f'{lengths.mean():.1f}')
  rich_console.Console().print(table)
