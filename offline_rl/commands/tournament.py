"""`offline-rl tournament`: players against each other; Elo with intervals.

  offline-rl tournament --env=skirmish/8x8 --players=ladder,bc=checkpoint:runs/demo/agents/bc \
      --games=100 --store=runs/t/results.jsonl

--env may list several environments (comma-separated): players x environments x
seeds go into one store, and the report has a section per environment. Plays every
scheduled pair (--schedule=round_robin, or agents_vs_all: bots do not
replay each other) --games games per seed, seats alternating, maps varied, and appends
each finished shard to --store. Run it again after an interruption and it plays only
what is missing; start it in N processes with --process_index=i --process_count=N to
share the work. Prints the ratings (Elo anchored at --anchor) at the end.
"""
from __future__ import annotations

from absl import flags
from absl import logging

from offline_rl.commands import flags as common

PLAYERS = flags.DEFINE_list('players', ['ladder'], 'Policy names: ladder, NAME, '
                            'random, checkpoint:DIR, ALIAS=NAME.')
SCHEDULE = flags.DEFINE_enum('schedule', 'round_robin', ['round_robin', 'agents_vs_all'],
                             'Which pairs play.')


def main(argv):
  logging.set_verbosity(logging.WARNING)  # Orbax and JAX info lines drown the bars.
  del argv
  common.start_processes()
  if not common.STORE.value:
    raise SystemExit('offline-rl tournament: --store is required: the results file to '
                     'append to.')
  from offline_rl.evaluation import runner  # pylint: disable=g-import-not-at-top
  from offline_rl.evaluation import analysis  # pylint: disable=g-import-not-at-top
  from offline_rl.evaluation import report  # pylint: disable=g-import-not-at-top
  env_ids = [e for e in (common.ENV.value or '').split(',') if e]
  if not env_ids:
    common.make_env_or_exit('tournament')  # Says which environments exist.
  if len(set(env_ids)) != len(env_ids):
    raise SystemExit(f'offline-rl tournament: --env lists an environment twice: {env_ids}.')
  envs = [(env_id, common.make_env_or_exit('tournament', env_id)) for env_id in env_ids]
  for env_id, env in envs:
    players = common.resolve_players('tournament', PLAYERS.value, env)
    if len(players) < 2 and env.spec.num_players == 2:
      raise SystemExit(f'offline-rl tournament: a tournament in {env_id} needs at least '
                       'two players.')
  index, count = common.work_split()
  runner.run_all(common.STORE.value, envs, PLAYERS.value,
                    games_per_match=common.GAMES.value, seeds=common.seeds(),
                    shard_size=common.SHARD_SIZE.value, schedule=SCHEDULE.value,
                    process_index=index, process_count=count,
                    show_progress=common.PROGRESS.value)
  if not common.finished_together():
    return  # Process 0 reports on the whole store.
  print(f'Results: {common.STORE.value}')
  report.print_summaries(analysis.summarize(
      common.STORE.value, anchor=common.ANCHOR.value,
      anchor_rating=common.ANCHOR_RATING.value, comparisons=common.comparisons(),
      confidence=common.CONFIDENCE.value, num_samples=common.BOOTSTRAP.value))
