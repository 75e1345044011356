"""One registry of agents: `make(name, spec, config)`, `register()`, `registered()`.

An agent is a config + networks built from the spec + a pure module-level loss + a
policy; it owns no training loop (the generic `offline_rl.learner` trains them all).
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, NamedTuple

from offline_rl import specs
from offline_rl import types

PyTree = Any


class Agent(NamedTuple):
  """What the learner and the evaluator need from an agent.

  Attributes:
    name: the registry name ('bc', 'ftbc', ...).
    spec: the environment spec the networks were built from.
    config: the experiment ConfigDict.
    network: the `offline_rl.networks.Network`.
    init: key -> params.
    loss: `loss(params, frozen, batch, key) -> (loss, metrics)`, pure.
    make_policy: `(params, *, greedy=False, rating=None) -> types.Policy`; `rating`
      is the rating input of rating-conditioned agents (None: the config's choice).
    frozen: constants the loss reads (a frozen behaviour policy, ...); () if none.
  """
  name: str
  spec: specs.EnvSpec
  config: Any
  network: Any
  init: Callable[[Any], PyTree]
  loss: Callable[..., tuple[Any, dict]]
  make_policy: Callable[..., types.Policy]
  frozen: PyTree = ()


# name -> (builder, default-config factory), each a callable or 'module:attribute'.
_AGENTS: dict[str, tuple[Any, Any]] = {}


def register(name: str, builder: Callable[..., Agent] | str,
             default_config: Callable[[], Any] | str) -> None:
  """Registers `builder(spec, config) -> Agent` and its `default_config()` under `name`."""
  if name in _AGENTS:
    raise ValueError(f'Agent {name!r} is already registered.')
  _AGENTS[name] = (builder, default_config)


def registered() -> list[str]:
  """The sorted names of the known agents."""
  return sorted(_AGENTS)


def _resolve(target):
  if isinstance(target, str):
    module, _, attribute = target.partition(':')
    return getattr(importlib.import_module(module), attribute)
  return target


def default_config(name: str):
  """The default experiment config of agent `name`."""
  _check(name)
  return _resolve(_AGENTS[name][1])()


def make(name: str, spec: specs.EnvSpec, config=None) -> Agent:
  """Builds agent `name` for `spec`; `config` defaults to `default_config(name)`."""
  _check(name)
  if config is None:
    config = default_config(name)
  return _resolve(_AGENTS[name][0])(spec, config)


def _check(name):
  if name not in _AGENTS:
    known = ', '.join(registered())
    raise KeyError(f'Unknown agent {name!r}. Known agents: {known}. Register your own '
                   'with offline_rl.agents.register().')


register('bc', 'offline_rl.agents.bc:make_agent', 'offline_rl.agents.bc.config:get_config')
register('ftbc', 'offline_rl.agents.bc:make_agent',
         'offline_rl.agents.bc.config:get_ftbc_config')
