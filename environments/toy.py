"""Corridor: a tiny functional game for tests and examples (1 or 2 players).

Each seat walks a corridor of `length` cells from cell 0; actions are 0 = left,
1 = stay, 2 = right ("left" is illegal at cell 0). Reaching the last cell wins (+1; the
other seat gets -1; both arriving together is a draw, 0). Single-player: +1 on arrival.
Episodes are truncated after `max_steps`. A scripted bot moves right with probability
`skill` and otherwise acts uniformly among legal actions, giving a graded ladder.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from offline_rl import specs
from offline_rl import types


@struct.dataclass
class State:
  position: jax.Array  # [P] int32
  steps: jax.Array  # [] int32
  done: jax.Array  # [] bool


class Corridor:
  """Functional Corridor environment (see the module docstring)."""
  jittable = True

  def __init__(self, length: int = 6, num_players: int = 2, max_steps: int = 20):
    if length < 2 or num_players not in (1, 2) or max_steps < 1:
      raise ValueError(f'Corridor needs length >= 2, num_players in (1, 2) and '
                       f'max_steps >= 1; got {length}, {num_players}, {max_steps}.')
    self.length, self.num_players, self.max_steps = length, num_players, max_steps
    self.spec = specs.EnvSpec(
        env_id='toy/corridor-v0', version='0', num_players=num_players,
        observation={'position': specs.ArraySpec((num_players * length,), 'float32')},
        action={'action': specs.ArraySpec((), 'int32', num_values=3)},
        legal_action_mask={'action': specs.ArraySpec((3,), 'bool')},
        max_episode_steps=max_steps,
        params={'length': length, 'num_players': num_players, 'max_steps': max_steps})

  def _timestep(self, state: State, reward, first) -> types.TimeStep:
    eye = jax.nn.one_hot(state.position, self.length)  # [P, L]
    # Each seat sees itself first, then the others.
    obs = jnp.stack([jnp.roll(eye, -p, axis=0).reshape(-1)
                     for p in range(self.num_players)])
    mask = jnp.stack([state.position > 0, jnp.ones_like(state.done).repeat(
        self.num_players), jnp.ones_like(state.done).repeat(self.num_players)], -1)
    terminal = jnp.any(state.position == self.length - 1)
    return types.TimeStep(
        observation={'position': obs},
        legal_action_mask={'action': mask},
        reward=reward.astype(jnp.float32),
        discount=jnp.where(terminal, 0.0, 1.0).astype(jnp.float32),
        is_first=jnp.asarray(first),
        is_last=state.done,
        is_terminal=terminal)

  def reset(self, key):
    del key  # Deterministic start.
    state = State(jnp.zeros(self.num_players, jnp.int32), jnp.int32(0), jnp.bool_(False))
    return state, self._timestep(state, jnp.zeros(self.num_players), True)

  def step(self, state: State, action):
    move = action['action'].astype(jnp.int32) - 1  # [P]
    position = jnp.clip(state.position + move, 0, self.length - 1)
    arrived = (position == self.length - 1).astype(jnp.float32)
    if self.num_players == 2:
      reward = arrived - arrived[::-1]
    else:
      reward = arrived
    steps = state.steps + 1
    done = jnp.any(arrived > 0) | (steps >= self.max_steps)
    new = State(position, steps, done)
    # A finished game does not move.
    new = jax.tree.map(lambda n, o: jnp.where(state.done, o, n), new, state)
    reward = jnp.where(state.done, 0.0, reward)
    return new, self._timestep(new, reward, False)


def bot_apply(skill, timestep: types.TimeStep, state, key):
  """Moves right with probability `skill`, else a uniformly random legal action."""
  k_choice, k_random = jax.random.split(key)
  legal = timestep.legal_action_mask['action']
  random_action = jax.random.categorical(k_random, jnp.where(legal, 0.0, -jnp.inf))
  action = jnp.where(jax.random.uniform(k_choice) < skill, 2, random_action)
  return {'action': action.astype(jnp.int32)}, state


def bot(skill: float, rating: float = float('nan')) -> types.Policy:
  """A Corridor bot of the given skill in [0, 1]."""
  return types.Policy(f'corridor-bot-{skill:g}', bot_apply, jnp.float32(skill),
                      rating=rating)
