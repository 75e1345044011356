"""Flags shared by `offline-rl evaluate`, `tournament` and `report` (defined once here,
so the commands can be imported side by side), and the helpers that read them.

Other commands define some of the same names (`--env`, `--env_kwargs`, `--progress`
in `offline-rl data` and `train`) with the same types. A flag that another module has
already defined is reused rather than defined again, so several commands can be
imported into one process (tests do) without absl's DuplicateFlagError.
"""
from __future__ import annotations

import json

from absl import flags


class _Flag:
  """Reads a flag by name (a FlagHolder only exists for the module that defined it)."""

  def __init__(self, name: str):
    self.name = name

  @property
  def value(self):
    return flags.FLAGS[self.name].value


def _define(kind: str, name: str, default, help_text: str, **kwargs) -> _Flag:
  if name not in flags.FLAGS:
    getattr(flags, f'DEFINE_{kind}')(name, default, help_text, **kwargs)
  return _Flag(name)

ENV = _define('string', 'env', 'skirmish/8x8', 'Environment id (see the registry).')
ENV_KWARGS = _define('string', 'env_kwargs', '{}',
                     'JSON object of keyword arguments for the environment.')
STORE = _define('string', 'store', None, 'Results store (JSON Lines) to append to.')
SEEDS = _define('list', 'seeds', ['0'], 'Evaluation seeds.')
GAMES = _define('integer', 'games', 100, 'Games per matchup and seed (even for two '
                'players: each map is played from both seats).', lower_bound=1)
SHARD_SIZE = _define('integer', 'shard_size', 64, 'Games per shard: the unit of work, '
                     'of parallelism and of resumption.')
PROCESS_INDEX = _define('integer', 'process_index', 0, 'This process among '
                        '--process_count sharing the same plan and store.')
PROCESS_COUNT = _define('integer', 'process_count', 1, 'Processes sharing the work.')
ANCHOR = _define('string', 'anchor', None, 'Player held at --anchor_rating '
                 '(default: the strongest bot).')
ANCHOR_RATING = _define('float', 'anchor_rating', 1000.0, 'The anchor\'s Elo.')
COMPARE = _define('list', 'compare', [], 'Head-to-head comparisons A:B, e.g. ftbc:bc.')
CONFIDENCE = _define('float', 'confidence', 0.95, 'Nominal coverage of intervals.')
BOOTSTRAP = _define('integer', 'bootstrap', 1000, 'Bootstrap resamples for intervals.')
PROGRESS = _define('bool', 'progress', True, 'Show progress bars.')


def make_env(env_id: str | None = None):
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
    raise ValueError('Give --env, an environment id such as skirmish/8x8.')
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
  """Players from specs; bad specs end the command with the reason, no traceback."""
  from offline_rl import benchmark  # pylint: disable=g-import-not-at-top
  try:
    return benchmark.players_from_specs(specs, env)
  except (ValueError, KeyError, FileNotFoundError) as error:
    message = error.args[0] if error.args else str(error)
    raise SystemExit(f'offline-rl {command}: {message}') from error


def make_env_or_exit(command: str, env_id: str | None = None):
  try:
    return make_env(env_id)
  except (ValueError, KeyError, TypeError) as error:
    message = error.args[0] if error.args else str(error)
    raise SystemExit(f'offline-rl {command}: {message}') from error
