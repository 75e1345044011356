"""IQL config: `base_config` plus the `iql` section.

Fields (beside offline_rl.configs'):
  iql.gamma: discount.
  iql.expectile: τ of the value's expectile regression (0.5: the mean, SARSA).
  iql.temperature: β of the advantage weights exp(β (Q - V)), clipped at
    iql.max_weight.
  iql.value_weight, iql.q_weight, iql.policy_weight: the three terms' weights.
  iql.distillation_weight (0: no teacher), iql.distillation_direction,
    iql.distillation_decay_steps (the weight decays linearly to 0 over these updates;
    0: constant).
  iql.target_tau, iql.target_period: the target network's rule (see TargetRule).
  iql.head_weights: {head: weight} of the policy and distillation terms per head.
"""
from ml_collections import config_dict

from offline_rl import configs


def get_config() -> config_dict.ConfigDict:
  """IQL (Kostrikov et al. 2022) with windows of 4 steps."""
  c = configs.base_config('iql')
  c.unroll_length = 4
  c.batch_size = 128
  c.optimizer.learning_rate = 3e-4
  c.iql = config_dict.ConfigDict(dict(
      gamma=0.99, expectile=0.7, temperature=3.0, max_weight=100.0, value_weight=1.0,
      q_weight=1.0, policy_weight=1.0, distillation_weight=0.0,
      distillation_direction='forward', distillation_decay_steps=0, target_tau=0.005,
      target_period=0,
      head_weights=config_dict.ConfigDict({}, type_safe=False)))
  return c
