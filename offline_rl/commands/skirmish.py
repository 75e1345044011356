"""`offline-rl skirmish ACTION`: the built-in strategy game.

Actions:
  calibrate   play a round robin of bots, fit Bradley-Terry ratings with bootstrap
              intervals, choose the smooth ladder and write the calibration JSON.
  ladder      print the ladder shipped for the map (--size) with its ratings.
  replay      write a self-contained HTML replay viewer (alias: view): of a recorded
              game (--record=game.npz: seed + actions) or of a live game between two
              bots (--bot0, --bot1), which is also saved as a record (--save_record).

Examples:
  offline-rl skirmish calibrate --size=8 --games_per_pair=16 \
      --output=environments/skirmish/ladder-8x8.json
  offline-rl skirmish ladder --size=8
  offline-rl skirmish replay --bot0=rush-6 --bot1=economic-5 --seed=3 --output=game.html
  offline-rl skirmish replay --record=game.npz --output=game.html
"""
from __future__ import annotations

import json
import sys

from absl import flags

from offline_rl.commands import flags as common

FLAGS = flags.FLAGS
flags.DEFINE_integer('size', 16, 'Map size: 8, 16 or 32.')
flags.DEFINE_integer('games_per_pair', 16, 'calibrate: games per pair of bots (even).')
flags.DEFINE_list('pool', [], 'calibrate: bot names (default: every bot).')
flags.DEFINE_string('output', None, 'calibrate: JSON path; replay: HTML path.')
flags.DEFINE_string('bot0', 'rush-6', 'replay: bot of seat 0 (live game).')
flags.DEFINE_string('bot1', 'economic-5', 'replay: bot of seat 1 (live game).')
flags.DEFINE_string('record', None, 'replay: a game record (.npz with seed + actions).')
flags.DEFINE_string('save_record', None, 'replay: where to save the live game record.')
flags.DEFINE_integer('max_ticks', None, 'Tick limit (default: the map size default).')

ACTIONS = ('calibrate', 'ladder', 'replay', 'view')


def _print_ratings(record: dict) -> None:
  from rich.console import Console  # pylint: disable=g-import-not-at-top
  from rich.table import Table  # pylint: disable=g-import-not-at-top
  ladder = record['ladder']
  table = Table(title=f"Skirmish ratings ({record['env_id']}, "
                f"{record['games_per_pair']} games per pair)")
  for col in ('bot', 'rating', '95% CI', 'ladder level'):
    table.add_column(col)
  for name, r in sorted(record['ratings'].items(), key=lambda x: -x[1]['rating']):
    level = str(ladder.index(name)) if name in ladder else ''
    table.add_row(name, f"{r['rating']:.0f}", f"[{r['ci_low']:.0f}, {r['ci_high']:.0f}]",
                  level)
  console = Console()
  console.print(table)
  console.print('Ladder (weak to strong): ' + ' < '.join(ladder))
  for n in record['neighbours']:
    observed = n['observed_win_rate']
    console.print(f"  {n['stronger']:>13} vs {n['weaker']:<13} step "
                  f"{n['step_win_rate']:.0%}: observed "
                  f"{'n/a' if observed is None else f'{observed:.0%}'} "
                  f"over {n['games']} games, ratings predict "
                  f"{n['predicted_win_rate']:.0%}")


def _calibrate() -> None:
  from rich.progress import Progress  # pylint: disable=g-import-not-at-top
  from offline_rl.evaluation import calibration  # pylint: disable=g-import-not-at-top
  from offline_rl.environments.skirmish import game  # pylint: disable=g-import-not-at-top
  env = game.Skirmish(FLAGS.size, max_ticks=FLAGS.max_ticks)
  pool = FLAGS.pool or list(calibration.DEFAULT_POOL)
  with Progress() as progress:
    task = progress.add_task('round robin', total=None)
    record = calibration.calibrate(
        env, pool, games_per_pair=FLAGS.games_per_pair, seed=common.SEED.value,
        bootstrap_samples=common.BOOTSTRAP.value,
        progress=lambda done, total: progress.update(task, completed=done, total=total))
  _print_ratings(record)
  stats = record['stats']
  print(f"{stats['games']} games in {stats['seconds']:.0f} s; draws "
        f"{stats['draw_fraction']:.1%}; mean length {stats['mean_ticks']:.0f} ticks.")
  if FLAGS.output:
    with open(FLAGS.output, 'w') as f:
      json.dump(record, f, indent=1)
    print(f'Wrote {FLAGS.output}')


def _ladder() -> None:
  from offline_rl.environments.skirmish import bots  # pylint: disable=g-import-not-at-top
  from offline_rl.environments.skirmish import game  # pylint: disable=g-import-not-at-top
  env = game.Skirmish(FLAGS.size)
  bots.ladder(env)  # A map without a shipped calibration fails here, saying how to make one.
  _print_ratings(bots.calibration_record(env))


def _replay() -> None:
  from offline_rl.environments.skirmish import bots  # pylint: disable=g-import-not-at-top
  from offline_rl.environments.skirmish import game  # pylint: disable=g-import-not-at-top
  from offline_rl.environments.skirmish import render  # pylint: disable=g-import-not-at-top
  if not FLAGS.output:
    raise SystemExit('replay needs --output=PATH.html')
  if FLAGS.record:
    seed, actions, meta = render.load_record(FLAGS.record)
    env = game.Skirmish(meta.get('size', FLAGS.size), max_ticks=meta.get('max_ticks'))
    states = render.replay(env, seed, actions)
    title = (f"Skirmish: {meta.get('bot0', '?')} (blue) vs {meta.get('bot1', '?')} (red), "
             f'seed {seed}')
  else:
    env = game.Skirmish(FLAGS.size, max_ticks=FLAGS.max_ticks)
    policies = [bots.bot(FLAGS.bot0, env), bots.bot(FLAGS.bot1, env)]
    actions, states = render.record(env, policies, common.SEED.value)
    meta = {'size': env.size, 'max_ticks': env.max_ticks, 'bot0': FLAGS.bot0,
            'bot1': FLAGS.bot1, 'seed': common.SEED.value}
    if FLAGS.save_record:
      render.save_record(FLAGS.save_record, common.SEED.value, actions, meta)
      print(f'Wrote the game record {FLAGS.save_record}')
    title = f'Skirmish: {FLAGS.bot0} (blue) vs {FLAGS.bot1} (red), seed {common.SEED.value}'
  render.write_html(FLAGS.output, env, states, title=title, meta=meta)
  outcome = states.outcome[-1]
  print(f'{len(states.tick) - 1} ticks; outcome {outcome.tolist()}; wrote {FLAGS.output}')


def main(argv):
  if len(argv) < 2 or argv[1] not in ACTIONS:
    print(__doc__, file=sys.stderr)
    got = argv[1] if len(argv) > 1 else 'nothing'
    raise SystemExit(f'offline-rl skirmish: unknown action {got!r}; known actions: '
                     f'{", ".join(ACTIONS)}.')
  {'calibrate': _calibrate, 'ladder': _ladder, 'replay': _replay,
   'view': _replay}[argv[1]]()
