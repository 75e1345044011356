"""Training from an experiment config: what `offline-rl train` and the demo recipe run.

`train(config, workdir)` builds the data iterator, the agent and its optional periodic
evaluation from an ml_collections config (agents/<name>/config.py holds the defaults),
then trains with the generic `Learner`; an existing run in `workdir` is resumed.
"""
from __future__ import annotations

from absl import logging

def resolve_opponent(text: str, env=None):
  """A training run's evaluation opponent: a policy name of `env`, e.g. 'rush-3' or
  'offline_rl.environments.toy:bot(0.3)' (offline_rl.evaluation.players)."""
  from offline_rl.evaluation import players  # pylint: disable=g-import-not-at-top
  return players.resolve_policy(text, env)


def make_iterator(config):
  """The training iterator of `config.dataset` through offline_rl.data."""
  from offline_rl import data  # pylint: disable=g-import-not-at-top
  return data.make_iterator(
      config.dataset, batch_size=int(config.batch_size),
      unroll_length=int(config.unroll_length), seed=int(config.seed),
      filters=config.filters or None, split='train',
      validation_fraction=float(config.validation_fraction))


def eval_fn_from_config(config, agent, top_rating):
  """The periodic evaluation hook, or None when the config or environment lacks one."""
  if int(config.eval_every) <= 0:
    return None
  # pylint: disable=g-import-not-at-top
  from offline_rl import environments
  from offline_rl import learner as learner_lib
  from offline_rl import specs
  spec = agent.spec
  try:
    try:
      env = environments.make(spec.env_id, **dict(spec.params))
    except TypeError:  # The params hold descriptive fields too: use the defaults.
      env = environments.make(spec.env_id)
  except (KeyError, TypeError, ImportError) as error:
    logging.warning('No evaluation: cannot make %s from the dataset spec (%s).',
                    spec.env_id, error)
    return None
  mismatches = specs.spec_mismatches(spec, env.spec)
  if mismatches:
    logging.warning('No evaluation: %s differs from the dataset spec: %s',
                    spec.env_id, '; '.join(mismatches))
    return None
  opponents = []
  if spec.num_players == 2:
    if not config.eval_opponent:
      raise SystemExit(f'{spec.env_id} is a two-player game: set '
                       '--config.eval_opponent (a policy name, e.g. "bot:rush-3" or '
                       '"python:package.module:factory(args)") or '
                       '--config.eval_every=0.')
    opponents = [resolve_opponent(config.eval_opponent, env)]
  return learner_lib.make_eval_fn(env, agent, opponents, int(config.eval_episodes),
                                  seed=int(config.seed), top_rating=top_rating)


def check_config(config) -> None:
  """Raises ValueError naming what a config lacks before anything is loaded (the
  agent's own checks run when it is built)."""
  if not config.dataset:
    raise ValueError('Set --config.dataset=PATH (an RLDS dataset directory, e.g. one '
                     'written by `offline-rl data record`).')


def train(config, workdir: str, progress: bool = True):
  """Trains `config`'s agent on its dataset into `workdir`; returns the Learner."""
  # pylint: disable=g-import-not-at-top
  from offline_rl import agent as agent_lib
  from offline_rl import learner as learner_lib
  check_config(config)
  iterator = make_iterator(config)
  agent = agent_lib.make(config.agent, iterator.spec, config)
  holder = {}
  eval_fn = eval_fn_from_config(config, agent,
                         lambda: holder['learner'].meta.get('top_rating'))
  learner = learner_lib.Learner(agent, iterator, config, workdir, eval_fn=eval_fn,
                                progress=progress)
  holder['learner'] = learner
  try:
    learner.train()
  finally:
    learner.close()
  return learner
