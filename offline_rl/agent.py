"""The Agent joint: what an agent gives the learner and the evaluator, and its registry.

An agent is a config + networks built from the spec + a pure module-level loss + a
policy; it owns no training loop (the generic `offline_rl.learner` trains them all).
The learner reads only this contract, so it names no agent:

  * `init(key) -> params`: the trainable parameters (one pytree; an agent with a
    policy and a critic keeps both in it).
  * `loss(params, context, batch, key) -> (loss, metrics)`: `context` is a
    `LossContext` holding what the learner keeps beside the params: the target
    network (when `target` is set), the frozen teacher (when `teacher` is set) and the
    step.
  * `target`: `TargetRule | None`. The learner then keeps a target copy of the params,
    updates it after every gradient step by the rule and checkpoints it.
  * `teacher`: `key -> params` of the frozen teacher's structure, or None. The learner
    loads the run named by `config.teacher` into it (a BC run: the distillation anchor
    and the behaviour estimate of OAC).

Agents are found by name: `register()` in-process, or an entry point in the group
`offline_rl.agents` (setup.py declares the shipped ones; a separate package declares
its own the same way) whose value is a `Registration`.
"""
from __future__ import annotations

import importlib
import importlib.metadata
from typing import Any, Callable, NamedTuple

from offline_rl import specs
from offline_rl import types

PyTree = Any
Array = Any
ENTRY_POINT_GROUP = 'offline_rl.agents'


class TargetRule(NamedTuple):
  """How the learner moves the target network towards the online one.

  Attributes:
    tau: Polyak step: target <- (1 - tau) target + tau online, after every update
      (tau = 1: a copy).
    period: copy the online params every `period` updates instead (period > 0 wins
      over tau).
  """
  tau: float = 0.005
  period: int = 0


class LossContext(NamedTuple):
  """What a loss reads besides its params and batch.

  Attributes:
    target: the target network's params (None when the agent has no `target`).
    teacher: the frozen teacher's params (None when the agent has no `teacher`).
    step: [] int32, updates done before this one (for schedules).
  """
  target: PyTree
  teacher: PyTree
  step: Array


class Agent(NamedTuple):
  """What the learner and the evaluator need from an agent (see the module docstring).

  Attributes:
    name: the registry name ('bc', 'oac', ...).
    spec: the environment spec the networks were built from.
    config: the experiment ConfigDict.
    network: the `offline_rl.networks.Network` its policy runs.
    init: key -> params.
    loss: `loss(params, context, batch, key) -> (loss [], metrics {name: []})`, pure.
    make_policy: `(params, *, greedy=None, rating=None) -> types.Policy`; `rating`
      is the rating input of rating-conditioned networks (None: the network's
      rating offset); greedy None means the config's `eval_greedy`.
    target: a `TargetRule`, or None for no target network.
    teacher: key -> the frozen teacher's params structure, or None for no teacher.
  """
  name: str
  spec: specs.EnvSpec
  config: Any
  network: Any
  init: Callable[[Any], PyTree]
  loss: Callable[..., tuple[Any, dict]]
  make_policy: Callable[..., types.Policy]
  target: TargetRule | None = None
  teacher: Callable[[Any], PyTree] | None = None


def eval_rating(config, top_rating: float | None, rating: float | None = None
                ) -> float | None:
  """The rating input at evaluation: `rating`, else `config.eval_rating`, else the top
  rating seen in training (AlphaStar Unplugged), else None (the network's offset)."""
  import math  # pylint: disable=g-import-not-at-top
  for candidate in (rating, config.get('eval_rating'), top_rating):
    if candidate is not None and not math.isnan(float(candidate)):
      return float(candidate)
  return None


class Registration(NamedTuple):
  """An agent's builder `(spec, config) -> Agent` and its `default_config()`, each a
  callable or a 'module:attribute' string (imported when first used)."""
  builder: Callable[..., Agent] | str
  default_config: Callable[[], Any] | str


# name -> Registration, or the entry point that loads one when first used.
_AGENTS: dict[str, Any] = {}
_DISCOVERED = [False]


def register(name: str, builder: Callable[..., Agent] | str,
             default_config: Callable[[], Any] | str) -> None:
  """Registers `builder(spec, config) -> Agent` and its `default_config()` as `name`."""
  _discover()
  if name in _AGENTS:
    raise ValueError(f'Agent {name!r} is already registered.')
  _AGENTS[name] = Registration(builder, default_config)


def _discover() -> None:
  """Adds the agents that installed packages declare as entry points (once)."""
  if _DISCOVERED[0]:
    return
  _DISCOVERED[0] = True
  for point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
    _AGENTS.setdefault(point.name, point)


def registered() -> list[str]:
  """The sorted names of the known agents."""
  _discover()
  return sorted(_AGENTS)


def _resolve(target):
  if not isinstance(target, str):
    return target
  module, _, attribute = target.partition(':')
  return getattr(importlib.import_module(module), attribute)


def default_config(name: str):
  """The default experiment config of agent `name`."""
  return _resolve(_registration(name).default_config)()


def make(name: str, spec: specs.EnvSpec, config=None) -> Agent:
  """Builds agent `name` for `spec`; `config` defaults to `default_config(name)`."""
  registration = _registration(name)
  if config is None:
    config = _resolve(registration.default_config)()
  return _resolve(registration.builder)(spec, config)


def _registration(name: str) -> Registration:
  _discover()
  if name not in _AGENTS:
    raise KeyError(f'Unknown agent {name!r}. Known agents: {", ".join(registered())}. '
                   'Register your own with offline_rl.agents.register(), or declare an '
                   f'entry point in the group {ENTRY_POINT_GROUP!r}.')
  if isinstance(_AGENTS[name], importlib.metadata.EntryPoint):
    registration = _AGENTS[name].load()
    if not isinstance(registration, Registration):
      raise TypeError(f'The entry point of agent {name!r} ({_AGENTS[name].value}) is a '
                      f'{type(registration).__name__}, not an offline_rl.agent.'
                      'Registration.')
    _AGENTS[name] = registration
  return _AGENTS[name]
