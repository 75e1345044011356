"""The joints: time steps, the functional environment protocol and the policy.

Letters used in shapes: P players (seats; 1 for single-agent), N parallel
environments, T time steps.

Environment protocol (JAX-native, pgx style). An environment object holds its static
configuration (map size, tick limit) and exposes pure functions:

    state, timestep = env.reset(key)
    state, timestep = env.step(state, action)   # action: pytree [P, ...], all seats

Both are jittable and vmappable; randomness enters only through `reset`'s key and the
policies' keys. Stepping a finished state returns it unchanged. Host environments
(gymnasium, PettingZoo, OpenSpiel) cannot be jitted; they set `jittable = False` and
offer the batched, stateful pair `reset_batch(seed, num_envs)` and `step_batch(action)`,
returning NumPy `TimeStep`s with a leading [N] axis and resetting each finished
environment on the following `step_batch` call (gymnasium's NEXT_STEP autoreset).
`offline_rl.rollout` drives both kinds the same way.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Protocol

from offline_rl import specs

PyTree = Any
Array = Any


class TimeStep(NamedTuple):
  """What an environment returns after `reset` and each `step`.

  dm_env alignment: `observation` is the observation at this step and `reward` is what
  the *previous* action earned (zero on the first step). Datasets use the RLDS
  alignment instead (step t holds the reward for a_t); the recorder shifts it.

  Attributes:
    observation: pytree [P, ...], each seat's (fogged) observation.
    legal_action_mask: pytree [P, ...] of bool keyed like the action, True = legal;
      None when the environment has no masks.
    reward: [P] float32, each seat's reward for the previous action.
    discount: [] float32, 0 after a terminal step, else 1.
    is_first: [] bool, first step of an episode.
    is_last: [] bool, last step (terminal or truncated); no action follows.
    is_terminal: [] bool, the episode ended by the rules (not by truncation).
  """
  observation: PyTree
  legal_action_mask: PyTree | None
  reward: Array
  discount: Array
  is_first: Array
  is_last: Array
  is_terminal: Array


def seat(timestep: TimeStep, player: int) -> TimeStep:
  """One seat's view: per-seat fields lose their leading [P] axis."""
  import jax  # pylint: disable=g-import-not-at-top
  take = lambda x: x[player]
  return timestep._replace(
      observation=jax.tree.map(take, timestep.observation),
      legal_action_mask=(None if timestep.legal_action_mask is None else
                         jax.tree.map(take, timestep.legal_action_mask)),
      reward=timestep.reward[player])


class Environment(Protocol):
  """A JAX-native environment (see the module docstring).

  It may also have `step_or_reset(state, action, key, reset) -> (state, TimeStep)`,
  returning bit for bit what `reset(key)` would where `reset` ([] bool) and
  `step(state, action)` elsewhere; `offline_rl.rollout.step_autoreset` uses it when
  present (Skirmish: one time-step computation instead of two and a select).
  """
  spec: specs.EnvSpec
  jittable: bool  # True

  def reset(self, key: Array) -> tuple[PyTree, TimeStep]:
    ...

  def step(self, state: PyTree, action: PyTree) -> tuple[PyTree, TimeStep]:
    ...


class HostEnvironment(Protocol):
  """A batched, stateful environment that runs outside JAX (see the module docstring)."""
  spec: specs.EnvSpec
  jittable: bool  # False

  def reset_batch(self, seed: int, num_envs: int) -> TimeStep:
    ...

  def step_batch(self, action: PyTree) -> TimeStep:
    ...


# policy_fn(params, timestep, state, key) -> (action, state). `timestep` is one seat's
# view (see `seat`); `action` is a pytree keyed like the action spec; `state` is the
# policy's recurrent state (an empty tuple when it has none). Unbatched: callers vmap.
PolicyFn = Callable[[PyTree, TimeStep, PyTree, Array], tuple[PyTree, PyTree]]


class Policy(NamedTuple):
  """A bot or a trained agent; recorder, evaluator and tournament treat both alike.

  Attributes:
    policy_id: a stable name, recorded in datasets and results ('bot/rush-3', 'bc').
    apply: the pure `PolicyFn`.
    params: its parameters (network weights, bot knobs); passed in, never captured.
    init_state: key -> the policy's initial recurrent state for one environment.
    rating: the policy's calibrated rating ("MMR"); NaN when unknown.
  """
  policy_id: str
  apply: PolicyFn
  params: PyTree
  init_state: Callable[[Array], PyTree] = lambda key: ()
  rating: float = float('nan')
