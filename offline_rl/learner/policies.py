"""Reading a trained agent back as a `types.Policy`, for evaluation and play."""
from __future__ import annotations

import json

import jax
from ml_collections import config_dict

from offline_rl import agent as agent_lib
from offline_rl import specs
from offline_rl import types
from offline_rl.learner import checkpoints


def load_agent(run_dir_or_checkpoint: str):
  """(agent, params, run meta) of a run directory or one of its checkpoints."""
  run_dir, _, _ = checkpoints.resolve(run_dir_or_checkpoint)
  config_json, spec_json = checkpoints.read_run_files(run_dir)
  config = config_dict.ConfigDict(json.loads(config_json))
  spec = specs.EnvSpec.from_json(spec_json)
  agent = agent_lib.make(config.agent, spec, config)
  target = agent.init(jax.random.PRNGKey(0))
  params, meta, _ = checkpoints.load_params(run_dir_or_checkpoint, target)
  return agent, params, meta.get('run', {})


def load_policy(run_dir_or_checkpoint: str, *, greedy: bool | None = None,
                rating: float | None = None) -> types.Policy:
  """A trained agent as a jittable, vmappable `types.Policy`.

  Args:
    run_dir_or_checkpoint: a run directory (its latest checkpoint) or
      `<run>/checkpoints/<step>`.
    greedy: take the most likely action instead of sampling (None: the config's
      `eval_greedy`).
    rating: the rating input of rating-conditioned agents; None means the config's
      `eval_rating`, else the top rating seen in training (AlphaStar Unplugged).
  """
  agent, params, run_meta = load_agent(run_dir_or_checkpoint)
  rating = agent_lib.eval_rating(agent.config, run_meta.get('top_rating'), rating)
  return agent.make_policy(params, greedy=greedy, rating=rating)
