"""Graded bots of adapted environments, by name: for recorders, evaluators, ladders.

    ladder(env)                 -> [Policy], weak to strong (pgx and OpenSpiel games)
    policy_names(env)           -> ['random', 'mcts-4', ...]
    resolve_policy(env, name)   -> Policy; names: 'random', 'mcts-N' (search with N
                                   simulations), and for pgx 'mcts-N-zero' (zero leaf
                                   value instead of random rollouts)

Ladder grades: pgx mctx search with random-rollout values at 4, 16 and 64
simulations; OpenSpiel's MCTSBot at 8, 32 and 128 simulations (measured ladders in
docs/adapters.md). Ratings are not calibrated here (NaN): a tournament rates them.
"""
from __future__ import annotations

from offline_rl import types
from offline_rl import policies
from offline_rl.environments.adapters.openspiel_env import mcts_bot
from offline_rl.environments.adapters.openspiel_env import OpenSpielEnv
from offline_rl.environments.adapters.pgx_bots import search_bot
from offline_rl.environments.adapters.pgx_env import PgxEnv

PGX_LADDER = (4, 16, 64)
OPENSPIEL_LADDER = (8, 32, 128)


def _has_bots(env) -> bool:
  if isinstance(env, PgxEnv):
    return env.num_players == 2 and not env._stochastic  # pylint: disable=protected-access
  if isinstance(env, OpenSpielEnv):
    return env.perfect_information and env.deterministic and env.sequential
  return False


def policy_names(env) -> list[str]:
  """The names `resolve_policy` knows for `env`."""
  names = ['random']
  if isinstance(env, PgxEnv) and _has_bots(env):
    names += [f'mcts-{n}' for n in PGX_LADDER] + [f'mcts-{n}-zero' for n in PGX_LADDER]
  elif _has_bots(env):
    names += [f'mcts-{n}' for n in OPENSPIEL_LADDER]
  return names


def resolve_policy(env, name: str) -> types.Policy:
  """The policy called `name` (see the module docstring) for `env`."""
  if name == 'random':
    return policies.random_policy(env.spec)
  parts = name.split('-')
  if parts[0] == 'mcts' and len(parts) in (2, 3) and parts[1].isdigit() and _has_bots(env):
    simulations = int(parts[1])
    if isinstance(env, PgxEnv):
      if len(parts) == 3 and parts[2] != 'zero':
        raise KeyError(f'{name!r}: the only suffix is -zero (zero leaf value).')
      return search_bot(env, simulations, value='zero' if len(parts) == 3 else 'rollout')
    if len(parts) == 2:
      return mcts_bot(env, simulations)
  raise KeyError(f'{env.spec.env_id} has no policy {name!r}; known: {policy_names(env)} '
                 '(mcts-N takes any number of simulations N).')


def ladder(env) -> list[types.Policy]:
  """The environment's graded bots, weak to strong."""
  if not _has_bots(env):
    raise ValueError(f'{env.spec.env_id} has no bot ladder: search bots need a '
                     'deterministic two-player game of perfect information (pgx or '
                     "OpenSpiel); evaluate against 'random' or other agents instead.")
  grades = PGX_LADDER if isinstance(env, PgxEnv) else OPENSPIEL_LADDER
  return [resolve_policy(env, f'mcts-{n}') for n in grades]
