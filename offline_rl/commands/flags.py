"""Flags used by more than one command, defined here once, and the helpers that read them.

Every flag name is defined in exactly one module: a name two commands share lives here
(one type, one default), a name only one command uses lives in that command's module.
So any set of commands can be imported into one process (tests do) with no
DuplicateFlagError and no flag whose default depends on which module came first.
"""
from __future__ import annotations

import json

from absl import flags

ENV = flags.DEFINE_string('env', None, 'Environment id (see offline_rl.environments); '
                          'tournament: several, comma-separated.')
ENV_KWARGS = flags.DEFINE_string('env_kwargs', '{}', 'JSON object of keyword arguments '
                                 'for the environment, e.g. \'{"length": 8}\'.')
PROGRESS = flags.DEFINE_bool('progress', True, 'Show progress bars.')
SEED = flags.DEFINE_integer('seed', 0, 'data record: the recording seed; skirmish: the '
                            'games\' seed.')
BOOTSTRAP = flags.DEFINE_integer('bootstrap', 1000, 'Bootstrap resamples for rating '
                                 'intervals.')
STORE = flags.DEFINE_string('store', None, 'Results store (JSON Lines) to append to.')
SEEDS = flags.DEFINE_list('seeds', ['0'], 'Evaluation seeds.')
GAMES = flags.DEFINE_integer('games', 100, 'Games per matchup and seed (even for two '
                             'players: each map is played from both seats).',
                             lower_bound=1)
SHARD_SIZE = flags.DEFINE_integer('shard_size', 64, 'Games per shard: the unit of work, '
                                  'of parallelism and of resumption.')
PROCESS_INDEX = flags.DEFINE_integer('process_index', None, 'This process among '
                                     '--process_count sharing the same plan and store '
                                     '(default: its JAX process index, else 0).')
PROCESS_COUNT = flags.DEFINE_integer('process_count', None, 'Processes sharing the '
                                     'work (default: the JAX process count, else 1).')
COORDINATOR_ADDRESS = flags.DEFINE_string(
    'coordinator_address', '', 'Multi-process runs (docs/scaling.md): HOST:PORT of '
    'process 0, the same on every process; or set JAX_COORDINATOR_ADDRESS.')
NUM_PROCESSES = flags.DEFINE_integer('num_processes', 0, 'Multi-process runs: how many '
                                     'processes join (0: JAX_NUM_PROCESSES or detected).')
PROCESS_ID = flags.DEFINE_integer('process_id', -1, 'Multi-process runs: this '
                                  'process\'s id in [0, --num_processes) (-1: '
                                  'JAX_PROCESS_ID or detected).')
DISTRIBUTED = flags.DEFINE_bool('distributed', False, 'Join a multi-process run whose '
                                'settings JAX detects (SLURM, Kubernetes, Cloud TPU).')
ANCHOR = flags.DEFINE_string('anchor', None, 'Player held at --anchor_rating '
                             '(default: the strongest bot).')
ANCHOR_RATING = flags.DEFINE_float('anchor_rating', 1000.0, 'The anchor\'s Elo.')
COMPARE = flags.DEFINE_list('compare', [], 'Head-to-head comparisons A:B, e.g. ftbc:bc.')
CONFIDENCE = flags.DEFINE_float('confidence', 0.95, 'Nominal coverage of intervals.')


def start_processes() -> tuple[int, int]:
  """Joins JAX's multi-process runtime as the flags ask (`cores.start_processes`);
  (process index, process count). Call first in a command's main."""
  from offline_rl import cores  # pylint: disable=g-import-not-at-top
  from offline_rl import errors  # pylint: disable=g-import-not-at-top
  try:
    return cores.start_processes(COORDINATOR_ADDRESS.value, NUM_PROCESSES.value,
                                 PROCESS_ID.value, DISTRIBUTED.value)
  except (ValueError, RuntimeError) as error:
    raise errors.ConfigError(str(error)) from error


def work_split() -> tuple[int, int]:
  """(index, count) of this process among those sharing a plan: --process_index and
  --process_count when given, else JAX's process index and count."""
  import jax  # pylint: disable=g-import-not-at-top
  index, count = PROCESS_INDEX.value, PROCESS_COUNT.value
  return (jax.process_index() if index is None else index,
          jax.process_count() if count is None else count)


def finished_together() -> bool:
  """Waits for every process of a JAX multi-process run to reach this point; True on
  the process that reports (process 0, or the only one)."""
  import jax  # pylint: disable=g-import-not-at-top
  from offline_rl import cores  # pylint: disable=g-import-not-at-top
  cores.wait_for_processes('offline_rl: work done')
  return jax.process_index() == 0


def make_env(env_id: str | None = None):
  """The environment of --env (or `env_id`) with --env_kwargs; ValueError says what is wrong."""
  from offline_rl import environments  # pylint: disable=g-import-not-at-top
  try:
    kwargs = json.loads(ENV_KWARGS.value)
  except json.JSONDecodeError as e:
    raise ValueError(f'--env_kwargs is not valid JSON ({e}); write e.g. '
                     '--env_kwargs=\'{"length": 8}\'.') from e
  if not isinstance(kwargs, dict):
    raise ValueError('--env_kwargs must be a JSON object.')
  env_id = env_id or ENV.value
  if not env_id:
    raise ValueError(f'Give --env, one of: {", ".join(environments.registered())}.')
  return environments.make(env_id, **kwargs)


def seeds() -> list[int]:
  try:
    return [int(s) for s in SEEDS.value]
  except ValueError as e:
    raise SystemExit(f'--seeds must be integers; got {SEEDS.value}.') from e


def comparisons() -> list[tuple[str, str]]:
  out = []
  for item in COMPARE.value:
    a, sep, b = item.partition(':')
    if not sep or not a or not b:
      raise SystemExit(f'--compare takes A:B pairs; got {item!r}.')
    out.append((a, b))
  return out


def resolve_players(command: str, specs, env):
  """Players from policy names; a bad name ends the command with the reason."""
  from offline_rl.evaluation import runner  # pylint: disable=g-import-not-at-top
  try:
    return runner.players_from_specs(specs, env)
  except (ValueError, KeyError, FileNotFoundError) as error:
    message = error.args[0] if error.args else str(error)
    raise SystemExit(f'offline-rl {command}: {message}') from error


def make_env_or_exit(command: str, env_id: str | None = None):
  try:
    return make_env(env_id)
  except (ValueError, KeyError, TypeError) as error:
    message = error.args[0] if error.args else str(error)
    raise SystemExit(f'offline-rl {command}: {message}') from error
DROP_NONFINITE = flags.DEFINE_bool(
    'drop_nonfinite', False, 'Skip episodes holding NaN or inf instead of stopping: '
    'train (sets config.drop_nonfinite) and data convert --from=minari|d4rl (default: '
    'refuse to import them).')
