"""`offline-rl train`: train an agent from a config in experiments/.

  offline-rl train --config experiments/bc.py:bc --config.dataset=PATH \\
      --config.num_steps=20000 --workdir=runs/bc
  offline-rl train --config experiments/bc.py:ftbc --config.dataset=PATH \\
      --config.init_from=runs/bc --workdir=runs/ftbc

Every hyperparameter lives in the config; override any field with --config.FIELD.
--cpu_cores=1 computes on one core (faster for small networks on a 2-core machine).
Running again with the same --workdir resumes from its latest checkpoint; one command
at a time writes a run directory (a second one refuses while the first runs).
--drop_nonfinite skips episodes holding NaN or inf (recorded in the run's config.json).
Several processes train one run with --coordinator_address=HOST:PORT --num_processes=N
--process_id=I (or --distributed under SLURM, Kubernetes, Cloud TPU): docs/scaling.md.
"""
from __future__ import annotations

import sys

from absl import flags
from absl import logging
from ml_collections import config_flags

from offline_rl import cores
from offline_rl import errors
from offline_rl.commands import flags as common
from offline_rl.learner import experiment

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Experiment config file, e.g. experiments/bc.py:bc.',
    lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Run directory: checkpoints, logs, '
                               'config. An existing run there is resumed.')
_CPU_CORES = flags.DEFINE_integer(
    'cpu_cores', 0, 'CPU cores to compute on (0: all): the least busy ones, so runs '
    'started side by side take different cores. One core trains small networks faster '
    'on a 2-core machine; see docs/learner.md.')


def _config():
  """The --config ConfigDict, with --drop_nonfinite applied; ConfigError if it fails."""
  config = _CONFIG.value
  if config is None:
    raise errors.ConfigError('give --config, e.g. --config experiments/bc.py:bc '
                             '--config.dataset=PATH.')
  try:
    config.get('agent')  # A config file that failed to load raises on first use.
  except OSError as error:
    raise errors.ConfigError(
        f'--config {flags.FLAGS["config"].serialize().split("=", 1)[-1]}: the file does '
        'not exist or does not load. Give a file in experiments/, e.g. '
        '--config experiments/bc.py:bc.') from error
  if common.DROP_NONFINITE.value:
    with config.unlocked():
      config.drop_nonfinite = True
  return config


def main(argv):
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)  # Orbax logs every save at INFO.
  if len(argv) > 1:
    raise errors.ConfigError(f'unexpected arguments {argv[1:]}.')
  config = _config()
  if not _WORKDIR.value:
    raise errors.ConfigError('give --workdir, the run directory.')
  try:
    cores.limit_cores(_CPU_CORES.value)
  except ValueError as error:
    raise errors.ConfigError(str(error)) from error
  common.start_processes()  # After limit_cores: it reads JAX's process index.
  experiment.check_config(config)
  learner = experiment.train(config, _WORKDIR.value, common.PROGRESS.value)
  print(f'Trained {config.agent} to step {learner.step}; run in '
        f'{learner.workdir}.', file=sys.stderr)
