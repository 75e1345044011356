"""Players of a benchmark: bots, trained checkpoints and the random policy, by spec.

A player spec is a short string, usable on the command line and in configs:

* `bot:NAME`         one bot of the environment's ladder (`ladder` lists them);
* `ladder`           every bot of the environment's calibrated ladder;
* `random`           uniformly random legal actions;
* `checkpoint:DIR`   a trained agent's run directory (loaded with the learner);
* `NAME=SPEC`        any of the above under another name (`bc=checkpoint:runs/demo/agents/bc`).

Bots come from the environment's own ladder: Skirmish's calibrated bot ladder, the toy
Corridor's graded bots; other environments have none (use agents and `random`).
"""
from __future__ import annotations

import json
import os
from typing import Any

from offline_rl import types
from offline_rl import policies as policies_lib

CORRIDOR_SKILLS = (0.2, 0.4, 0.6, 0.8, 1.0)


def ladder(env) -> list[types.Policy]:
  """The environment's bots, weak to strong, with calibrated `.rating` where known."""
  env_id = env.spec.env_id
  if env_id.startswith('skirmish'):
    from offline_rl.environments.skirmish import bots  # pylint: disable=g-import-not-at-top
    return list(bots.ladder(env))
  if env_id.startswith('toy/corridor'):
    return corridor_ladder(env)
  # Adapted games (pgx, OpenSpiel) grade search bots; their error says when none exist.
  from offline_rl.environments.adapters import bots as adapter_bots  # pylint: disable=g-import-not-at-top
  return adapter_bots.ladder(env)


_CORRIDOR_RATINGS: dict = {}


def corridor_ladder(env, games_per_pair: int = 200) -> list[types.Policy]:
  """The toy Corridor's graded bots, rated by a round robin the first time it is asked.

  The ratings are Elo fitted to `games_per_pair` games per pair (weakest bot = 1000),
  cached per environment configuration.
  """
  from offline_rl.environments import toy  # pylint: disable=g-import-not-at-top
  bots = [toy.bot(s) for s in CORRIDOR_SKILLS]
  key = json.dumps(dict(env.spec.params), sort_keys=True)
  if key not in _CORRIDOR_RATINGS:
    if env.spec.num_players == 2:
      from offline_rl import ratings  # pylint: disable=g-import-not-at-top
      from offline_rl.evaluation import matches  # pylint: disable=g-import-not-at-top
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


def find_bot(env, name: str) -> types.Policy:
  """A bot by its ladder id ('bot/rush-3' or 'rush-3'), or any named Skirmish bot."""
  bots = {p.policy_id: p for p in ladder(env)}
  for candidate in (name, f'bot/{name}'):
    if candidate in bots:
      return bots[candidate]
  if env.spec.env_id.startswith('skirmish'):
    from offline_rl.environments.skirmish import bots as sk  # pylint: disable=g-import-not-at-top
    return sk.bot(name.removeprefix('bot/'), env)  # Its KeyError lists the names.
  raise KeyError(f'Unknown bot {name!r} for {env.spec.env_id}; known: {sorted(bots)}.')


def load_checkpoint(path: str, env) -> types.Policy:
  """A trained run as a Policy, after checking it was trained on `env`'s interface."""
  if not os.path.isdir(path):
    raise FileNotFoundError(f'No run directory at {path!r}; pass the --workdir a training '
                            'run wrote (it holds the checkpoints).')
  from offline_rl import learner  # pylint: disable=g-import-not-at-top
  policy = learner.load_policy(path)
  from offline_rl import specs  # pylint: disable=g-import-not-at-top
  from offline_rl.learner import checkpoints  # pylint: disable=g-import-not-at-top
  _, spec_json = checkpoints.read_run_files(checkpoints.resolve(path)[0])
  mismatches = specs.spec_mismatches(specs.EnvSpec.from_json(spec_json), env.spec)
  if mismatches:
    raise ValueError(f'The agent in {path} was trained on another interface than '
                     f'{env.spec.env_id}\'s:\n  ' + '\n  '.join(mismatches))
  return policy


def resolve(spec: str, env) -> list[tuple[str, types.Policy, dict[str, Any]]]:
  """Expands a player spec into (name, policy, info) triples; info goes to the store."""
  name, sep, body = spec.partition('=')
  if not sep:
    name, body = None, spec
  kind, _, arg = body.partition(':')
  if kind == 'ladder':
    out = [(p.policy_id, p, {'kind': 'bot'}) for p in ladder(env)]
  elif kind == 'bot':
    policy = find_bot(env, arg)
    out = [(policy.policy_id, policy, {'kind': 'bot'})]
  elif kind == 'random':
    out = [('random', policies_lib.random_policy(env.spec), {'kind': 'random'})]
  elif kind == 'checkpoint':
    policy = load_checkpoint(arg, env)
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
