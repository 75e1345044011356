"""OAC and E-OAC configs: `base_config` plus the `oac` section.

Fields (beside offline_rl.configs'):
  oac.gamma, oac.lambda_: discount and TD(λ) trace of the behaviour value V^μ.
  oac.ratio_clip: c in min(c, π/π_BC), the policy gradient's importance weight.
  oac.value_weight, oac.policy_weight: the value and policy-gradient terms' weights.
  oac.distillation_weight, oac.distillation_direction ('forward': KL(π_BC || π),
    'reverse': KL(π || π_BC)): the KL term towards the frozen BC teacher;
    oac.distillation_decay_steps: its weight decays linearly to 0 over these updates
    (0: constant).
  oac.normalize_advantage: standardise the advantages over each batch's choice
    steps (mean 0, std 1) before they weight the policy gradient.
  oac.policy_delay_steps: the policy gradient is off for this many updates, so the
    behaviour value learns before its advantages move the policy (the paper's order:
    V^μ first, then one improvement step); the KL holds the policy at BC meanwhile.
  oac.emphatic: weight the policy gradient by the N-step emphatic trace (E-OAC).
  oac.emphatic_steps, oac.emphatic_lambda: its n and λ_e (interest 1).
  oac.target_network: bootstrap V̄ from a target network moved by oac.target_tau /
    oac.target_period (see TargetRule); False (the default, as IMPALA's V-trace does)
    bootstraps the online value without gradient and saves a forward pass.
  oac.head_weights: {head: weight} of the distillation term per head (default 1).
  oac.advantage: 'return' (default), A_t = G_t − V̄(s_t), one sampled return of the
    logged action; 'q': the critic also learns Q^μ per action head (q_heads) by
    regression on G_t, and each head's policy gradient is weighted by
    q_h(s, a_≤h) − E_{π_BC,h}[q_h] (agents/oac/losses.py).
  oac.q_weight: the weight of the Q regression (advantage 'q' only).
"""
from ml_collections import config_dict

from offline_rl import configs


def get_config() -> config_dict.ConfigDict:
  """OAC: windows of 8 steps (TD(λ) needs successors), actor and teacher from BC."""
  c = configs.base_config('oac')
  c.unroll_length = 8
  c.batch_size = 64
  c.optimizer.learning_rate = 1e-4
  c.oac = config_dict.ConfigDict(dict(
      gamma=0.99, lambda_=0.8, ratio_clip=1.0, value_weight=1.0, policy_weight=1.0,
      normalize_advantage=False, policy_delay_steps=0,
      distillation_weight=1.0, distillation_direction='forward',
      distillation_decay_steps=0, emphatic=False,
      emphatic_steps=8, emphatic_lambda=0.5, target_network=False, target_tau=0.01,
      target_period=0, advantage='return', q_weight=1.0,
      head_weights=config_dict.ConfigDict({}, type_safe=False)))
  return c


def get_eoac_config() -> config_dict.ConfigDict:
  """E-OAC: OAC with the emphatic trace on the policy gradient."""
  c = get_config()
  c.agent = 'eoac'
  c.oac.emphatic = True
  return c
