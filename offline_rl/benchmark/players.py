"""Players of a benchmark: bots, trained checkpoints and the random policy, by spec.

A player spec is a short string, usable on the command line and in configs:

* `bot:NAME`         one bot of the environment's ladder (`ladder` lists them);
* `ladder`           every bot of the environment's calibrated ladder;
* `random`           uniformly random legal actions;
* `checkpoint:DIR`   a trained agent's run directory (loaded with the learner);
* `NAME=SPEC`        any of the above under another name (`bc=checkpoint:runs/demo/bc`).

Bots come from the environment's own ladder: Skirmish's calibrated bot ladder, the toy
Corridor's graded bots; other environments have none (use agents and `random`).
"""
from __future__ import annotations

import os
from typing import Any

from offline_rl import types
from offline_rl.evaluation import policies as policies_lib

CORRIDOR_SKILLS = (0.2, 0.4, 0.6, 0.8, 1.0)


def ladder(env) -> list[types.Policy]:
  """The environment's bots, weak to strong, with calibrated `.rating` where known."""
  env_id = env.spec.env_id
  if env_id.startswith('skirmish'):
    from offline_rl.environments.skirmish import bots  # pylint: disable=g-import-not-at-top
    return list(bots.ladder(env))
  if env_id.startswith('toy/corridor'):
    from offline_rl.environments import toy  # pylint: disable=g-import-not-at-top
    return [toy.bot(s) for s in CORRIDOR_SKILLS]  # Uncalibrated: rating NaN.
  raise ValueError(f'{env_id} has no bot ladder; evaluate agents against each other or '
                   "against 'random' instead.")


def _load_checkpoint(path: str, env) -> types.Policy:
  if not os.path.isdir(path):
    raise FileNotFoundError(f'No run directory at {path!r}; pass the --workdir a training '
                            'run wrote (it holds the checkpoints).')
  from offline_rl import learner  # pylint: disable=g-import-not-at-top
  try:
    return learner.load_policy(path, env=env)
  except TypeError:
    return learner.load_policy(path)


def resolve(spec: str, env) -> list[tuple[str, types.Policy, dict[str, Any]]]:
  """Expands a player spec into (name, policy, info) triples; info goes to the store."""
  name, sep, body = spec.partition('=')
  if not sep:
    name, body = None, spec
  kind, _, arg = body.partition(':')
  if kind == 'ladder':
    out = [(p.policy_id, p, {'kind': 'bot'}) for p in ladder(env)]
  elif kind == 'bot':
    bots = {p.policy_id: p for p in ladder(env)}
    if arg not in bots:
      raise KeyError(f'Unknown bot {arg!r} for {env.spec.env_id}; known: {sorted(bots)}.')
    out = [(arg, bots[arg], {'kind': 'bot'})]
  elif kind == 'random':
    out = [('random', policies_lib.random_policy(env.spec), {'kind': 'random'})]
  elif kind == 'checkpoint':
    policy = _load_checkpoint(arg, env)
    out = [(os.path.basename(os.path.normpath(arg)), policy,
            {'kind': 'agent', 'workdir': os.path.abspath(arg)})]
  else:
    raise ValueError(f'Unknown player spec {spec!r}: use bot:NAME, ladder, random, '
                     'checkpoint:DIR, or NAME=SPEC.')
  if name is not None:
    if len(out) != 1:
      raise ValueError(f'{spec!r} names a group of players; a name fits one player only.')
    out = [(name, out[0][1]._replace(policy_id=name), out[0][2])]
  result = []
  for player_name, policy, info in out:
    rating = float(policy.rating)
    info = dict(info)
    if rating == rating:  # Not NaN.
      info['rating'] = rating
    result.append((player_name, policy, info))
  return result


def agent_record(name: str, env_id: str, info: dict[str, Any]) -> dict[str, Any]:
  """The store line describing one player."""
  return {'type': 'agent', 'name': name, 'env': env_id, **info}
