"""One registry of environments: `make(id, **kwargs)`, `register()`, `registered()`.

Factories are registered by id and imported lazily, so an environment whose optional
dependency is missing fails only when it is made, with the package to install named.

Adapted ecosystems are families of ids sharing a prefix: `make('gym/CartPole-v1')`
calls the 'gym/' family's factory as `factory('CartPole-v1', **kwargs)`. Built in:

  gym/<gymnasium id>                 gym/CartPole-v1, gym/MinAtar/Breakout-v1
  pettingzoo/<module path>           pettingzoo/classic/connect_four_v3 (api='parallel')
  pgx/<pgx game>                     pgx/connect_four, pgx/othello, pgx/go_9x9
  openspiel/<game string>            openspiel/connect_four, openspiel/phantom_ttt
  minari/<local Minari dataset id>   the gymnasium env the dataset records

Extension point: `register(id, factory)` adds one environment (e.g. your gymnasium
class through the gymnasium adapter); `register_family(prefix, factory)` adds a whole
ecosystem behind your own adapter.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

_FACTORIES: dict[str, Callable[..., Any] | str] = {}


def register(env_id: str, factory: Callable[..., Any] | str) -> None:
  """Registers `factory(**kwargs) -> environment` under `env_id`.

  Args:
    env_id: a new id such as 'mygame/v0'.
    factory: a callable, or 'package.module:attribute' imported on first `make`.
  """
  if env_id in _FACTORIES:
    raise ValueError(f'Environment id {env_id!r} is already registered.')
  _FACTORIES[env_id] = factory


def registered() -> list[str]:
  """The sorted list of known environment ids."""
  return sorted(_FACTORIES)


_FAMILIES: dict[str, tuple[Callable[..., Any] | str, str]] = {}


def register_family(prefix: str, factory: Callable[..., Any] | str,
                    description: str = '') -> None:
  """Registers a family of ids: `make(prefix + name, **kw)` -> `factory(name, **kw)`.

  Args:
    prefix: ends with '/', e.g. 'myframework/'.
    factory: a callable, or 'package.module:attribute' imported on first `make`.
    description: one line for the listing, e.g. "myframework/<task>, e.g. ...".
  """
  if not prefix.endswith('/') or len(prefix) < 2:
    raise ValueError(f"A family prefix ends with '/', e.g. 'mine/'; got {prefix!r}.")
  if prefix in _FAMILIES:
    raise ValueError(f'Environment family {prefix!r} is already registered.')
  _FAMILIES[prefix] = (factory, description)


def registered_families() -> dict[str, str]:
  """Family prefix -> description."""
  return {prefix: text for prefix, (_, text) in sorted(_FAMILIES.items())}


def _resolve(factory):
  if isinstance(factory, str):
    module, _, attribute = factory.partition(':')
    factory = getattr(importlib.import_module(module), attribute)
  return factory


def make(env_id: str, **kwargs):
  """Builds the environment registered as `env_id` with its keyword arguments."""
  if env_id in _FACTORIES:
    return _resolve(_FACTORIES[env_id])(**kwargs)
  for prefix in sorted(_FAMILIES, key=len, reverse=True):
    if env_id.startswith(prefix) and len(env_id) > len(prefix):
      return _resolve(_FAMILIES[prefix][0])(env_id[len(prefix):], **kwargs)
  known = '\n  '.join(registered())
  families = '\n  '.join(f'{p}<name>  {t}' for p, t in registered_families().items())
  raise KeyError(f'Unknown environment id {env_id!r}. Known ids:\n  {known}\n'
                 f'Adapted families:\n  {families}\n'
                 'Register your own with offline_rl.environments.register() or '
                 'register_family().')


register('toy/corridor-v0', 'offline_rl.environments.toy:Corridor')
register_family('gym/', 'offline_rl.environments.adapters.gymnasium_env:GymnasiumEnv',
                'any gymnasium id, e.g. gym/CartPole-v1, gym/MinAtar/Breakout-v1')
register_family('pettingzoo/', 'offline_rl.environments.adapters.pettingzoo_env:PettingZooEnv',
                "a PettingZoo module path, e.g. pettingzoo/classic/connect_four_v3 "
                "(api='aec' or 'parallel')")
register_family('pgx/', 'offline_rl.environments.adapters.pgx_env:PgxEnv',
                'a pgx game, e.g. pgx/connect_four, pgx/othello, pgx/go_9x9')
register_family('openspiel/', 'offline_rl.environments.adapters.openspiel_env:OpenSpielEnv',
                'an OpenSpiel game string, e.g. openspiel/connect_four, openspiel/phantom_ttt')
register_family('minari/', 'offline_rl.environments.adapters.minari_env:make',
                'the environment a local Minari dataset records, e.g. '
                'minari/D4RL/door/human-v2 (also the env id of its imported dataset)')
register('skirmish/8x8', 'offline_rl.environments.skirmish.game:make_8x8')
register('skirmish/16x16', 'offline_rl.environments.skirmish.game:make_16x16')
register('skirmish/32x32', 'offline_rl.environments.skirmish.game:make_32x32')
