"""Policies by name, so that `offline-rl data record` can be told which bots to run.

Each environment family (the part of the env id before '/': 'toy', 'skirmish', ...)
provides a resolver `resolver(env, name) -> Policy` and optionally a listing
`names(env) -> list[str]`. A family registers itself with `register_policies`, or simply
defines the module-level functions `resolve_policy(env, name)` (and `policy_names(env)`)
in `offline_rl.environments.<family>`; they are found on first use.

A name may end in '@RATING' to set the policy's rating ("MMR") recorded in the
dataset, e.g. 'corridor-bot-0.9@1400'.
"""
from __future__ import annotations


import importlib
from typing import Callable

from offline_rl import types

_RESOLVERS: dict[str, tuple[Callable, Callable | None]] = {}


def register_policies(family: str, resolver: Callable, names: Callable | None = None):
  """Registers `resolver(env, name) -> Policy` (and `names(env)`) for an env family."""
  _RESOLVERS[family] = (resolver, names)


def _family(env) -> str:
  return env.spec.env_id.split('/')[0]


def _lookup(env):
  family = _family(env)
  if family not in _RESOLVERS:
    try:
      module = importlib.import_module(f'offline_rl.environments.{family}')
    except ImportError:
      module = None
    resolver = getattr(module, 'resolve_policy', None)
    if resolver is not None:
      _RESOLVERS[family] = (resolver, getattr(module, 'policy_names', None))
  if family not in _RESOLVERS:
    raise KeyError(
        f'No policies are known by name for {env.spec.env_id}. The environment '
        f'package offline_rl.environments.{family} can define resolve_policy(env, '
        'name), or call offline_rl.datasets.register_policies().')
  return _RESOLVERS[family]


def policy_names(env) -> list[str]:
  """The policy names an environment's family lists (may be empty)."""
  _, names = _lookup(env)
  return list(names(env)) if names else []


def resolve_policy(env, name: str) -> types.Policy:
  """The `Policy` called `name` in `env`'s family; 'NAME@RATING' sets its rating."""
  base, _, rating = name.partition('@')
  resolver, names = _lookup(env)
  try:
    policy = resolver(env, base)
  except KeyError as e:
    known = ', '.join(names(env)) if names else '(no listing)'
    raise KeyError(f'Unknown policy {base!r} for {env.spec.env_id}: {e}. Known: '
                   f'{known}.') from None
  if rating:
    try:
      value = float(rating)
    except ValueError:
      raise ValueError(f'{name!r}: the rating after "@" must be a number.') from None
    policy = policy._replace(rating=value)
  return policy


# ----------------------------------------------------------------- toy family


def _toy_resolver(env, name: str) -> types.Policy:
  from offline_rl.environments import toy  # pylint: disable=g-import-not-at-top
  prefix = 'corridor-bot-'
  if name.startswith(prefix):
    try:
      skill = float(name[len(prefix):])
    except ValueError:
      skill = -1.0
    if 0.0 <= skill <= 1.0:
      return toy.bot(skill)
  raise KeyError(f'toy bots are named corridor-bot-SKILL with SKILL in [0, 1], '
                 f'e.g. corridor-bot-0.8; got {name!r}')


def _toy_names(env) -> list[str]:
  del env
  return [f'corridor-bot-{s:g}' for s in (0.0, 0.25, 0.5, 0.75, 1.0)]


register_policies('toy', _toy_resolver, _toy_names)




# ----------------------------------------------------------------- skirmish family


def _skirmish_resolver(env, name: str) -> types.Policy:
  """Skirmish bots: 'rush-3', 'bot/rush-3' or 'random' (calibrated ratings)."""
  from offline_rl.environments.skirmish import bots  # pylint: disable=g-import-not-at-top
  return bots.bot(name[len('bot/'):] if name.startswith('bot/') else name, env)


def _skirmish_names(env) -> list[str]:
  del env
  from offline_rl.environments.skirmish import bots  # pylint: disable=g-import-not-at-top
  return bots.names()


register_policies('skirmish', _skirmish_resolver, _skirmish_names)


# ------------------------------------------------------- adapted environments


def _adapter_resolver(env, name: str) -> types.Policy:
  from offline_rl.environments.adapters import bots  # pylint: disable=g-import-not-at-top
  return bots.resolve_policy(env, name)


def _adapter_names(env) -> list[str]:
  from offline_rl.environments.adapters import bots  # pylint: disable=g-import-not-at-top
  return bots.policy_names(env)


for _family_name in ('gym', 'pettingzoo', 'pgx', 'openspiel'):
  register_policies(_family_name, _adapter_resolver, _adapter_names)
