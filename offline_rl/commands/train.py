"""`offline-rl train`: train an agent from a config in experiments/.

  offline-rl train --config experiments/bc.py:bc --config.dataset=PATH \\
      --config.num_steps=20000 --workdir=runs/bc
  offline-rl train --config experiments/bc.py:ftbc --config.dataset=PATH \\
      --config.init_from=runs/bc --workdir=runs/ftbc

Every hyperparameter lives in the config; override any field with --config.FIELD.
--cpu_cores=1 computes on one core (faster for small networks on a 2-core machine).
Running again with the same --workdir resumes from its latest checkpoint.
"""
from __future__ import annotations

import sys

from absl import flags
from absl import logging
from ml_collections import config_flags

from offline_rl import cores
from offline_rl.commands import flags as common
from offline_rl.learner import experiment

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Experiment config file, e.g. experiments/bc.py:bc.',
    lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Run directory: checkpoints, logs, '
                               'config. An existing run there is resumed.')
_CPU_CORES = flags.DEFINE_integer(
    'cpu_cores', 0, 'CPU cores to compute on (0: all). One core trains small networks '
    'faster on a 2-core machine; see docs/learner.md.')


def main(argv):
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)  # Orbax logs every save at INFO.
  if len(argv) > 1:
    raise SystemExit(f'offline-rl train: unexpected arguments {argv[1:]}.')
  config = _CONFIG.value
  if config is None:
    raise SystemExit('offline-rl train: give --config, e.g. '
                     '--config experiments/bc.py:bc --config.dataset=PATH.')
  if not _WORKDIR.value:
    raise SystemExit('offline-rl train: give --workdir, the run directory.')
  try:
    cores.limit_cores(_CPU_CORES.value)
    experiment.check_config(config)
  except ValueError as error:
    raise SystemExit(f'offline-rl train: {error}') from error
  learner = experiment.train(config, _WORKDIR.value, common.PROGRESS.value)
  print(f'Trained {config.agent} to step {int(learner.state.step)}; run in '
        f'{learner.workdir}.', file=sys.stderr)
