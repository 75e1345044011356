"""One registry of environments: `make(id, **kwargs)`, `register()`, `registered()`.

Factories are registered by id and imported lazily, so an environment whose optional
dependency is missing fails only when it is made, with the package to install named.
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


def make(env_id: str, **kwargs):
  """Builds the environment registered as `env_id` with its keyword arguments."""
  if env_id not in _FACTORIES:
    known = '\n  '.join(registered())
    raise KeyError(f'Unknown environment id {env_id!r}. Known ids:\n  {known}\n'
                   'Register your own with offline_rl.environments.register().')
  factory = _FACTORIES[env_id]
  if isinstance(factory, str):
    module, _, attribute = factory.partition(':')
    factory = getattr(importlib.import_module(module), attribute)
  return factory(**kwargs)


register('toy/corridor-v0', 'offline_rl.environments.toy:Corridor')
