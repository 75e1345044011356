"""MuZero Supervised (MZS) and MZS-MCTS, as in AlphaStar Unplugged (see README.md)."""
from __future__ import annotations

import functools

import jax

from offline_rl import agent as agent_lib
from offline_rl import errors
from offline_rl import networks
from offline_rl import specs
from offline_rl import types
from offline_rl.agents import common
from offline_rl.agents.muzero import config
from offline_rl.agents.muzero import losses
from offline_rl.agents.muzero import model as model_lib
from offline_rl.agents.muzero import search


def search_settings(spec: specs.EnvSpec, section: dict) -> search.SearchSettings:
  """The search knobs of the `muzero` section, checked against the action spec."""
  unroll_steps = int(section['unroll_steps'])
  # Runs saved before a field existed searched as deep as the unroll, at mctx's weight.
  depth = int(section.get('search_depth', 0)) or unroll_steps
  if unroll_steps < 1 or not 1 <= depth <= unroll_steps:
    raise errors.ConfigError(
        f'muzero.unroll_steps must be >= 1 (the model unroll), and muzero.search_depth '
        f'between 1 and it (0: the unroll; the model is untrained deeper), got '
        f'{unroll_steps} and {section.get("search_depth", 0)}.')
  settings = search.SearchSettings(
      int(section['num_simulations']), str(section['search']),
      int(section['num_samples']), float(section['gamma']), depth,
      bool(section['rescale_values']),
      float(section.get('value_scale', 0.1)))
  if settings.search not in ('muzero', 'gumbel'):
    raise errors.ConfigError(f"muzero.search must be 'muzero' or 'gumbel', got "
                             f'{settings.search!r}.')
  if settings.num_simulations < 0 or settings.num_samples < 0:
    raise errors.ConfigError('muzero.num_simulations and muzero.num_samples must be '
                             '>= 0.')
  fraction = float(section['reanalyse_fraction'])
  if not 0.0 <= fraction <= 1.0:
    raise errors.ConfigError(f'muzero.reanalyse_fraction must lie in [0, 1], got '
                             f'{fraction}.')
  if fraction and not settings.num_simulations:
    raise errors.ConfigError('muzero.reanalyse_fraction > 0 searches for its targets: '
                             'set muzero.num_simulations > 0.')
  if settings.num_simulations and not settings.num_samples and len(spec.action) > 1:
    raise errors.ConfigError(
        f'The action has {len(spec.action)} heads ({", ".join(spec.action)}): its '
        'joint actions cannot be enumerated; set muzero.num_samples > 0 to search over '
        'actions sampled from the prior.')
  return settings


def search_policy(model: model_lib.Model, spec: specs.EnvSpec,
                  settings: search.SearchSettings, params, *, greedy: bool,
                  rating: float, policy_id: str) -> types.Policy:
  """A `types.Policy` that searches with the model at every step (MZS-MCTS).

  Its params and state are `common.network_policy`'s; `apply` takes one seat's
  unbatched time step (callers vmap).
  """
  def apply(policy_params, timestep: types.TimeStep, state, key):
    core, prev = state
    inputs = common.step_inputs(timestep, prev, policy_params['rating'])
    core = jax.tree.map(lambda s: s[None], core)
    outputs, core = model.network.apply(policy_params['network'], inputs, core, key)
    masks = (None if inputs.legal_action_mask is None else
             jax.tree.map(lambda x: x[:, 0], inputs.legal_action_mask))
    chosen, _, _ = search.search(model, settings, policy_params['network'],
                                 outputs.embedding[:, 0], masks, key, greedy)
    action = {name: chosen[name][0].astype(leaf.dtype)
              for name, leaf in spec.action.items()}
    return action, (jax.tree.map(lambda s: s[0], core), action)

  policy = common.network_policy(model.network, spec, params, greedy=greedy,
                                 rating=rating, policy_id=policy_id)
  return policy._replace(apply=apply)


def make_agent(spec: specs.EnvSpec, cfg) -> agent_lib.Agent:
  """Builds MZS for `spec`: the model, a target network for the value's bootstrap, a
  frozen BC teacher when `muzero.distillation_weight` > 0, and a policy that searches
  when `muzero.num_simulations` > 0."""
  values = common.section(cfg, 'muzero', spec)
  settings = search_settings(spec, values)
  network_config = networks.NetworkConfig.from_mapping(cfg.network.to_dict())
  model = model_lib.make_model(spec, network_config)
  teacher_network = common.make_network(spec, cfg, value_head=False, q_heads=False,
                                        policy_from_q=False)
  action_spec = networks.heads.ordered_action_spec(spec.action, spec.legal_action_mask)
  prior_policy = common.policy_maker(model.network, spec, cfg)

  def make_policy(params, *, greedy=None, rating=None):
    if not settings.num_simulations:
      return prior_policy(params, greedy=greedy, rating=rating)
    return search_policy(
        model, spec, settings, params,
        greedy=bool(cfg.eval_greedy) if greedy is None else greedy,
        rating=float(cfg.network.rating_offset if rating is None else rating),
        policy_id=str(cfg.agent))

  return agent_lib.Agent(
      name=str(cfg.agent), spec=spec, config=cfg, network=model.network,
      init=common.init_fn(model.network, spec),
      loss=functools.partial(losses.mzs_loss, model, settings, teacher_network,
                             action_spec, values),
      make_policy=make_policy,
      target=agent_lib.TargetRule(float(values['target_tau']),
                                  int(values['target_period'])),
      teacher=(common.init_fn(teacher_network, spec)
               if values['distillation_weight'] > 0 else None))


MZS = agent_lib.Registration(make_agent, config.get_config)
MZS_MCTS = agent_lib.Registration(make_agent, config.get_mcts_config)

__all__ = ['MZS', 'MZS_MCTS', 'config', 'losses', 'make_agent', 'search',
           'search_policy', 'search_settings']
