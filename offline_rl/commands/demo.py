"""`offline-rl demo` (what `make demo` runs): the Unplugged recipe, end to end.

  offline-rl demo                                          # 'small': experiments/unplugged.py
  offline-rl demo --config=experiments/unplugged.py:tiny   # the seconds-long version
  offline-rl demo --config=experiments/unplugged.py:table  # the README's table, 3 seeds
  offline-rl demo --config.tournament.games_per_match=200  # any field, from the command line

Records a skill-stratified Skirmish dataset from the calibrated bot ladder, trains every
agent of the recipe (BC, FT-BC, OAC, E-OAC, MZS, MZS-MCTS, IQL, CQL) once per training
seed, plays a tournament among them and the bot pool, and writes the report (Markdown,
PNG plots, HTML, and table.md for the README) under the workdir (runs/demo). Running it
again reuses every finished stage; an interrupted stage resumes.
"""
from __future__ import annotations

import os
import time

from absl import flags
from absl import logging
from ml_collections import config_flags

from offline_rl.evaluation import recipe

_DEFAULT = os.path.join(recipe.experiments_dir(), 'unplugged.py')

_CONFIG = config_flags.DEFINE_config_file(
    'config', _DEFAULT, 'The recipe: experiments/unplugged.py[:tiny|small|table|full], '
    'fields overridable with --config.FIELD=VALUE.', lock_config=True)


def main(argv):
  logging.set_verbosity(logging.WARNING)  # Orbax and JAX info lines drown the bars.
  if len(argv) > 1:
    raise flags.ValidationError(f'offline-rl demo: unexpected arguments {argv[1:]}.')
  start = time.perf_counter()
  try:
    outcome = recipe.run(_CONFIG.value)
  except recipe.RecipeError as error:
    raise SystemExit(f'offline-rl demo: {error}') from error
  print(f'Done in {time.perf_counter() - start:.0f} s. Open {outcome.report["html"]}')
