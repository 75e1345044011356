"""Training from an experiment config: what `offline-rl train` and the demo recipe run.

`train(config, workdir)` builds the data iterator, the agent and its optional periodic
evaluation from an ml_collections config (agents/<name>/config.py holds the defaults),
then trains with the generic `Learner`; an existing run in `workdir` is resumed.
"""
from __future__ import annotations

from absl import logging

from offline_rl import errors
from offline_rl.learner import rundir


def resolve_opponent(text: str, env=None):
  """A training run's evaluation opponent: a policy name of `env`, e.g. 'rush-3' or
  'offline_rl.environments.toy:bot(0.3)' (offline_rl.evaluation.players)."""
  from offline_rl.evaluation import players  # pylint: disable=g-import-not-at-top
  return players.resolve_policy(text, env)


def load_dataset(config):
  """`config.dataset`, its spec completed by `config.num_actions` when set (> 0).

  Logs the number of actions when it was inferred from the data (datasets/actions.py).
  """
  from offline_rl import datasets  # pylint: disable=g-import-not-at-top
  from offline_rl import specs  # pylint: disable=g-import-not-at-top
  dataset = datasets.load(config.dataset)
  num_actions = int(config.get('num_actions', 0) or 0)
  if num_actions > 0:
    dataset.override_num_values(num_actions)
  heads = specs.flatten(dataset.spec.action)
  for head, seen in dataset.action_ranges.items():
    if heads[head].num_values is None:
      continue  # Negative values: check_action_spec reports the head.
    source = ('set by --config.num_actions' if num_actions > 0 else
              f'inferred from the data (values {seen}); --config.num_actions overrides')
    logging.warning('Action %r has %d values, %s.', head, heads[head].num_values, source)
  return dataset


def make_iterator(config, split: str = 'train', dataset=None, seed: int | None = None):
  """The iterator of `split` ('train' or 'validation': the held-out
  `validation_fraction` of the episodes, filtered alike) of `config.dataset` through
  offline_rl.data; `dataset` is the loaded `config.dataset` when the caller has it;
  `seed` (None: `config.seed`) draws the windows."""
  from offline_rl import data  # pylint: disable=g-import-not-at-top
  iterator = data.make_iterator(
      load_dataset(config) if dataset is None else dataset, batch_size=int(config.batch_size),
      unroll_length=int(config.unroll_length),
      seed=int(config.seed if seed is None else seed), filters=config.filters or None,
      split=split,
      validation_fraction=float(config.validation_fraction),
      drop_nonfinite=bool(config.get('drop_nonfinite', False)),
      skip_no_choice=bool(config.get('skip_no_choice', False)),
      observation_keys=tuple(config.get('observation_keys', ()) or ()))
  if iterator.skipped_no_choice:
    total = iterator.num_windows + iterator.skipped_no_choice
    logging.warning('%d of %d windows carry no choice (no action head has two legal '
                    'values): skipped (skip_no_choice).', iterator.skipped_no_choice,
                    total)
  return iterator


def make_validation_iterator(config, dataset):
  """The held-out episodes the learner scores at every log step, or None when
  `validation_fraction` is 0. Their windows are drawn with seed 0 whatever
  `config.seed`, so that runs differing only in their seed score the same windows
  and their validation losses compare (docs/learner.md)."""
  if float(config.validation_fraction) <= 0:
    return None
  try:
    return make_iterator(config, 'validation', dataset, seed=0)
  except errors.UserError as error:
    raise errors.ConfigError(
        f'The validation split (validation_fraction={config.validation_fraction}, '
        f'filtered alike) gives no window: {errors.one_line(error)} Raise '
        'validation_fraction, or set it to 0 to train without a validation loss.'
    ) from error


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
      raise errors.ConfigError(
          f'{spec.env_id} is a two-player game: set --config.eval_opponent (a policy '
          'name, e.g. "bot:rush-3" or "python:package.module:factory(args)") or '
          '--config.eval_every=0.')
    opponents = [resolve_opponent(config.eval_opponent, env)]
  return learner_lib.make_eval_fn(env, agent, opponents, int(config.eval_episodes),
                                  seed=int(config.seed), top_rating=top_rating)


def check_config(config) -> None:
  """Raises ConfigError naming what a config lacks before anything is loaded (the
  agent's own checks run when it is built)."""
  if not config.dataset:
    raise errors.ConfigError('Set --config.dataset=PATH (an RLDS dataset directory, e.g. '
                             'one written by `offline-rl data record`).')
  for field in ('batch_size', 'num_steps', 'updates_per_call'):
    if int(config[field]) < 1:
      raise errors.ConfigError(f'{field} must be >= 1, got {config[field]}: set '
                               f'--config.{field}.')
  if int(config.unroll_length) < 0:
    raise errors.ConfigError(f'unroll_length must be >= 0, got {config.unroll_length}.')


def train(config, workdir: str, progress: bool = True):
  """Trains `config`'s agent on its dataset into `workdir`; returns the Learner."""
  # pylint: disable=g-import-not-at-top
  from offline_rl import agent as agent_lib
  from offline_rl import learner as learner_lib
  check_config(config)
  with rundir.RunLock(workdir):  # One writer per run directory.
    dataset = load_dataset(config)
    iterator = make_iterator(config, 'train', dataset)
    validation = make_validation_iterator(config, dataset)
    try:
      agent = agent_lib.make(config.agent, iterator.spec, config)
      holder = {}
      eval_fn = eval_fn_from_config(config, agent,
                                    lambda: holder['learner'].meta.get('top_rating'))
      learner = learner_lib.Learner(agent, iterator, config, workdir, eval_fn=eval_fn,
                                    validation=validation, progress=progress)
      holder['learner'] = learner
      try:
        learner.train()
      finally:
        learner.close()
    finally:
      iterator.close()
      if validation is not None:
        validation.close()
  return learner
