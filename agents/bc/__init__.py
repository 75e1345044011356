"""Behaviour cloning (BC) and fine-tuned BC (FT-BC), as in AlphaStar Unplugged."""
from __future__ import annotations

import functools

from offline_rl import agent as agent_lib
from offline_rl import errors
from offline_rl import specs
from offline_rl.agents import common
from offline_rl.agents.bc import config
from offline_rl.agents.bc import losses
from offline_rl.networks import heads


def make_agent(spec: specs.EnvSpec, cfg) -> agent_lib.Agent:
  """Builds BC (or FT-BC: the same agent, warm-started by the learner) for `spec`."""
  if cfg.agent == 'ftbc' and not cfg.init_from:
    raise errors.ConfigError('FT-BC continues a BC run: set --config.init_from=RUN_DIR '
                             '(or RUN_DIR/checkpoints/STEP).')
  network = common.make_network(spec, cfg)
  action_spec = heads.ordered_action_spec(spec.action, spec.legal_action_mask)
  return agent_lib.Agent(
      name=str(cfg.agent), spec=spec, config=cfg, network=network,
      init=common.init_fn(network, spec),
      loss=functools.partial(losses.bc_loss, network, action_spec,
                             common.check_head_weights(spec, cfg.bc.head_weights)),
      make_policy=common.policy_maker(network, spec, cfg))


BC = agent_lib.Registration(make_agent, config.get_config)
FTBC = agent_lib.Registration(make_agent, config.get_ftbc_config)

__all__ = ['BC', 'FTBC', 'config', 'losses', 'make_agent']
