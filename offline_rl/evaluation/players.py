"""Policies by name: one registry and one syntax for every command and config.

    [ALIAS=]FAMILY[:ARG][@RATING]

e.g. `rush-3@1400`, `bot:corridor-bot-0.8`, `ladder`, `bc=checkpoint:runs/demo/agents/bc`,
`python:offline_rl.environments.toy:bot(0.3)`. The families (`FAMILIES`):

* `bot:NAME`        a bot of the environment (`bot_names(env)` lists them); a bare
                    `NAME` means the same;
* `ladder`          every bot of the environment's graded ladder, weak to strong, rated;
* `random`          uniformly random legal actions (any environment);
* `checkpoint:DIR`  a trained run directory, checked against the environment's interface;
* `python:MODULE:ATTR[(ARGS)]`  a `Policy`, or a factory called with literal ARGS; a
                    dotted `MODULE:ATTR[(ARGS)]` without the prefix means the same.

`ALIAS=` renames one policy; `@RATING` sets its rating (the "MMR" a recorder writes).
Every name is read here: `offline-rl data record --matchup`, `evaluate --agent
--opponents`, `tournament --players`, a training run's `eval_opponent` and the demo
recipe's bot pool. An unknown name raises `PolicyNameError`, listing what exists.

Environments provide bots by the family of their env id (the part before '/') with
`register_bots`; built in: toy (the Corridor's corridor-bot-SKILL), skirmish (the
calibrated bot family) and the adapters (gym, pettingzoo, pgx, openspiel).
"""
from __future__ import annotations

import ast
import dataclasses
import importlib
import json
import os
import re
from typing import Any, Callable, NamedTuple

from offline_rl import policies as policies_lib
from offline_rl import types

SYNTAX = '[ALIAS=]FAMILY[:ARG][@RATING]'
FAMILIES = ('bot:NAME (or NAME)', 'ladder', 'random', 'checkpoint:DIR',
            'python:MODULE:ATTR[(ARGS)]')
CORRIDOR_SKILLS = (0.2, 0.4, 0.6, 0.8, 1.0)

_ALIAS = re.compile(r'^([\w.-]+)=(.+)$')
_PYTHON = re.compile(r'^([\w.]+):(\w+)(?:\((.*)\))?$')


class PolicyNameError(ValueError):
  """A policy name that the registry cannot read; the message lists what exists."""


@dataclasses.dataclass
class Player:
  """A named policy and what a results store should know of it (kind, rating, workdir)."""
  name: str
  policy: types.Policy
  info: dict[str, Any] = dataclasses.field(default_factory=dict)


class Name(NamedTuple):
  """A parsed policy name; `rating` is None unless the name ends in @RATING."""
  alias: str | None
  family: str
  arg: str
  rating: float | None


class Bots(NamedTuple):
  """An environment family's bots: `resolve(env, name)` (KeyError when unknown),
  `names(env)` and `ladder(env)` (ValueError when it has none)."""
  resolve: Callable[[Any, str], types.Policy]
  names: Callable[[Any], list[str]]
  ladder: Callable[[Any], list[types.Policy]]


_BOTS: dict[str, Bots] = {}


def register_bots(env_family: str, resolve, names, ladder) -> None:
  """Makes the bots of environments whose id starts with `env_family/` nameable."""
  _BOTS[env_family] = Bots(resolve, names, ladder)


def parse(text: str) -> Name:
  """Splits a policy name into its parts (see the module docstring)."""
  body, alias = text.strip(), None
  match = _ALIAS.match(body)
  if match:
    alias, body = match.groups()
  rating = None
  if '@' in body:
    body, _, rating_text = body.rpartition('@')
    try:
      rating = float(rating_text)
    except ValueError:
      raise PolicyNameError(f'{text!r}: the rating after "@" must be a number.') from None
  family, sep, arg = body.partition(':')
  if not sep:
    family, arg = (body, '') if body in ('ladder', 'random') else ('bot', body)
  elif family not in ('bot', 'checkpoint', 'python') and '.' in family:
    family, arg = 'python', body  # module.path:factory(args), as older configs wrote.
  if family not in ('bot', 'ladder', 'random', 'checkpoint', 'python') or (
      family in ('bot', 'checkpoint', 'python') and not arg):
    raise PolicyNameError(f'{text!r} is not a policy name: write {SYNTAX} with FAMILY '
                          f'one of {", ".join(FAMILIES)}.')
  return Name(alias, family, arg, rating)


def resolve(text: str, env) -> list[Player]:
  """The players a policy name stands for in `env` (several for `ladder`).

  Raises:
    PolicyNameError: the name is malformed or names nothing in `env` (the message
      lists the families and the environment's bots).
    FileNotFoundError: a checkpoint directory does not exist.
  """
  name = parse(text)
  if env is None and name.family != 'python':
    raise PolicyNameError(f'{text!r} names a policy of an environment, but none was '
                          'given; only python:MODULE:ATTR[(ARGS)] needs none.')
  try:
    players = _FAMILIES[name.family](env, name.arg)
  except KeyError as error:
    raise PolicyNameError(_unknown(text, env, error.args[0] if error.args else error)
                          ) from None
  if name.alias is not None:
    if len(players) != 1:
      raise PolicyNameError(f'{text!r} names a group of players; an alias fits one only.')
    players = [dataclasses.replace(players[0], name=name.alias)]
  out = []
  for player in players:
    policy = player.policy._replace(policy_id=player.name)
    if name.rating is not None:
      policy = policy._replace(rating=name.rating)
    info = dict(player.info)
    if policy.rating == policy.rating:  # Not NaN.
      info['rating'] = float(policy.rating)
    out.append(Player(player.name, policy, info))
  return out


def resolve_policy(text: str, env) -> types.Policy:
  """The one policy a name stands for (a group such as `ladder` is an error)."""
  players = resolve(text, env)
  if len(players) != 1:
    raise PolicyNameError(f'{text!r} names {len(players)} policies; name one.')
  return players[0].policy


def bot_names(env) -> list[str]:
  """The bot names `env`'s family lists (empty when it has none)."""
  bots = _BOTS.get(_env_family(env))
  return list(bots.names(env)) if bots else []


def ladder(env) -> list[types.Policy]:
  """The environment's graded bots, weak to strong, with calibrated `.rating` where known."""
  return [p.policy for p in _ladder(env, '')]


def agent_record(name: str, env_id: str, info: dict[str, Any]) -> dict[str, Any]:
  """The store line describing one player."""
  return {'type': 'agent', 'name': name, 'env': env_id, **info}


def _unknown(text: str, env, reason) -> str:
  message = (f'Unknown policy {text!r}: {reason}. Write {SYNTAX} with FAMILY one of '
             f'{", ".join(FAMILIES)}.')
  if env is not None:
    known = ', '.join(bot_names(env)) or '(none)'
    message += f' Bots of {env.spec.env_id}: {known}.'
  return message


def _env_family(env) -> str:
  return env.spec.env_id.split('/')[0]


def _env_bots(env) -> Bots:
  family = _env_family(env)
  if family not in _BOTS:
    raise KeyError(f'no bots are registered for environments {family}/...; register '
                   'them with offline_rl.evaluation.players.register_bots')
  return _BOTS[family]


# The families: (env, arg) -> [Player] --------------------------------------------------


def _bot(env, arg: str) -> list[Player]:
  policy = _env_bots(env).resolve(env, arg)
  return [Player(policy.policy_id, policy, {'kind': 'bot'})]


def _ladder(env, arg: str) -> list[Player]:
  del arg
  try:
    policies = _env_bots(env).ladder(env)
  except KeyError as error:  # No bots at all: say so as the ladder's absence.
    raise ValueError(f'{env.spec.env_id} has no bot ladder ({error.args[0]}).') from None
  return [Player(p.policy_id, p, {'kind': 'bot'}) for p in policies]


def _random(env, arg: str) -> list[Player]:
  del arg
  return [Player('random', policies_lib.random_policy(env.spec), {'kind': 'random'})]


def _checkpoint(env, arg: str) -> list[Player]:
  policy = load_checkpoint(arg, env)
  return [Player(os.path.basename(os.path.normpath(arg)), policy,
                 {'kind': 'agent', 'workdir': os.path.abspath(arg)})]


def _python(env, arg: str) -> list[Player]:
  del env
  match = _PYTHON.match(arg)
  if not match:
    raise KeyError(f'write python:package.module:policy or '
                   f'python:package.module:factory(arg, ...); got {arg!r}')
  module, attribute, args = match.groups()
  try:
    target = getattr(importlib.import_module(module), attribute)
  except (ImportError, AttributeError) as error:
    raise KeyError(f'cannot import {module}:{attribute} ({error})') from None
  if args is not None:
    target = target(*(ast.literal_eval(f'({args},)') if args.strip() else ()))
  elif not isinstance(target, types.Policy) and callable(target):
    target = target()
  if not isinstance(target, types.Policy):
    raise KeyError(f'{arg} is a {type(target).__name__}, not an offline_rl.types.Policy')
  return [Player(target.policy_id, target, {'kind': 'policy'})]


_FAMILIES = {'bot': _bot, 'ladder': _ladder, 'random': _random,
             'checkpoint': _checkpoint, 'python': _python}


def load_checkpoint(path: str, env) -> types.Policy:
  """A trained run as a Policy, after checking it was trained on `env`'s interface."""
  if not os.path.isdir(path):
    raise FileNotFoundError(f'No run directory at {path!r}; pass the --workdir a training '
                            'run wrote (it holds the checkpoints).')
  # pylint: disable=g-import-not-at-top
  from offline_rl import learner
  from offline_rl import specs
  from offline_rl.learner import checkpoints
  policy = learner.load_policy(path)
  _, spec_json = checkpoints.read_run_files(checkpoints.resolve(path)[0])
  mismatches = specs.spec_mismatches(specs.EnvSpec.from_json(spec_json), env.spec)
  if mismatches:
    raise ValueError(f'The agent in {path} was trained on another interface than '
                     f'{env.spec.env_id}\'s:\n  ' + '\n  '.join(mismatches))
  return policy


# The built-in environments' bots --------------------------------------------------------


def _toy_bot(env, name: str) -> types.Policy:
  del env
  from offline_rl.environments import toy  # pylint: disable=g-import-not-at-top
  prefix = 'corridor-bot-'
  try:
    skill = float(name[len(prefix):]) if name.startswith(prefix) else -1.0
  except ValueError:
    skill = -1.0
  if not 0.0 <= skill <= 1.0:
    raise KeyError(f'toy bots are named corridor-bot-SKILL with SKILL in [0, 1], e.g. '
                   f'corridor-bot-0.8; got {name!r}')
  return toy.bot(skill)


def _toy_names(env) -> list[str]:
  del env
  return [f'corridor-bot-{s:g}' for s in CORRIDOR_SKILLS]


_CORRIDOR_RATINGS: dict = {}


def corridor_ladder(env, games_per_pair: int = 200) -> list[types.Policy]:
  """The toy Corridor's graded bots, rated by a round robin the first time it is asked.

  The ratings are Elo fitted to `games_per_pair` games per pair (weakest bot = 1000),
  kept per environment configuration for the process's life (a handful of entries).
  """
  from offline_rl.environments import toy  # pylint: disable=g-import-not-at-top
  bots = [toy.bot(s) for s in CORRIDOR_SKILLS]
  key = json.dumps(dict(env.spec.params), sort_keys=True)
  if key not in _CORRIDOR_RATINGS:
    if env.spec.num_players == 2:
      # pylint: disable=g-import-not-at-top
      from offline_rl import ratings
      from offline_rl.evaluation import matches
      outcomes = []
      for i, a in enumerate(bots):
        for b in bots[i + 1:]:
          scores = matches.outcome(matches.play(env, [a, b], seed=12345,
                                                num_games=games_per_pair))
          outcomes += [(a.policy_id, b.policy_id, float(s)) for s in scores]
      counts = ratings.counts_from_outcomes(outcomes, [b.policy_id for b in bots])
      _CORRIDOR_RATINGS[key] = list(ratings.fit(counts, bots[0].policy_id))
    else:
      _CORRIDOR_RATINGS[key] = [float('nan')] * len(bots)
  return [b._replace(rating=float(r)) for b, r in zip(bots, _CORRIDOR_RATINGS[key])]


def _skirmish_bot(env, name: str) -> types.Policy:
  from offline_rl.environments.skirmish import bots  # pylint: disable=g-import-not-at-top
  return bots.bot(name.removeprefix('bot/'), env)


def _skirmish_names(env) -> list[str]:
  del env
  from offline_rl.environments.skirmish import bots  # pylint: disable=g-import-not-at-top
  return bots.names()


def _skirmish_ladder(env) -> list[types.Policy]:
  from offline_rl.environments.skirmish import bots  # pylint: disable=g-import-not-at-top
  return list(bots.ladder(env))


def _adapter(function: str):
  def call(*args):
    from offline_rl.environments.adapters import bots  # pylint: disable=g-import-not-at-top
    return getattr(bots, function)(*args)
  return call


register_bots('toy', _toy_bot, _toy_names, corridor_ladder)
register_bots('skirmish', _skirmish_bot, _skirmish_names, _skirmish_ladder)
for _family in ('gym', 'pettingzoo', 'pgx', 'openspiel'):
  register_bots(_family, _adapter('resolve_policy'), _adapter('policy_names'),
                _adapter('ladder'))
