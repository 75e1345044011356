"""Behaviour cloning (BC) and fine-tuned BC (FT-BC), as in AlphaStar Unplugged."""
from __future__ import annotations

import functools
import math

from offline_rl import networks as networks_lib
from offline_rl import specs
from offline_rl.agents import registry
from offline_rl.agents.bc import config
from offline_rl.agents.bc import losses
from offline_rl.agents.bc import networks
from offline_rl.agents.bc import policy


def loss(network, action_spec, head_weights, params, frozen, batch, key):
  """The learner's `loss(params, frozen, batch, key)` once the first three are bound."""
  del frozen  # BC reads no frozen constants.
  return losses.bc_loss(network, action_spec, head_weights, params, batch, key)


def make_agent(spec: specs.EnvSpec, cfg) -> registry.Agent:
  """Builds BC (or FT-BC: the same agent, warm-started by the learner) for `spec`."""
  network = networks.make_networks(spec, cfg)
  head_weights = dict(cfg.bc.head_weights)
  unknown = set(head_weights) - set(spec.action)
  if unknown:
    raise ValueError(f'bc.head_weights names heads {sorted(unknown)} that the action '
                     f'spec lacks; its heads are {list(spec.action)}.')

  def init(key):
    return network.init(key, networks_lib.dummy_inputs(spec))

  def make_policy(params, *, greedy=None, rating=None, top_rating=None):
    """The policy; the rating input is `rating`, else `bc.eval_rating`, else the
    top rating seen in training (`top_rating`), else `network.rating_offset`."""
    if greedy is None:
      greedy = bool(cfg.eval_greedy)
    for candidate in (rating, cfg.bc.eval_rating, top_rating, cfg.network.rating_offset):
      if candidate is not None and not math.isnan(float(candidate)):
        rating = float(candidate)
        break
    return policy.make_policy(network, spec, params, greedy=greedy, rating=rating,
                              policy_id=str(cfg.agent))

  return registry.Agent(
      name=str(cfg.agent), spec=spec, config=cfg, network=network, init=init,
      loss=functools.partial(
          loss, network,
          networks_lib.heads.ordered_action_spec(spec.action, spec.legal_action_mask),
          head_weights),
      make_policy=make_policy)


__all__ = ['config', 'loss', 'losses', 'make_agent', 'networks', 'policy']
