"""CQL config: `base_config` plus the `cql` section.

Fields (beside offline_rl.configs'):
  cql.gamma: discount.
  cql.alpha: weight of the conservative penalty.
  cql.num_action_samples: K, continuous actions: uniform and policy actions each
    that estimate the penalty's logsumexp.
  cql.entropy_weight: continuous actions: the actor's entropy bonus α_H (SAC's
    temperature, fixed).
  cql.distillation_weight (0: no teacher), cql.distillation_direction,
    cql.distillation_decay_steps (the weight decays linearly to 0 over these updates;
    0: constant),
    cql.head_weights: the optional KL term towards a frozen BC teacher.
  cql.target_tau, cql.target_period: the target network's rule (see TargetRule).
"""
from ml_collections import config_dict

from offline_rl import configs


def get_config() -> config_dict.ConfigDict:
  """Discrete CQL (Kumar et al. 2020) with windows of 4 steps."""
  c = configs.base_config('cql')
  c.unroll_length = 4
  c.batch_size = 128
  c.optimizer.learning_rate = 3e-4
  c.cql = config_dict.ConfigDict(dict(
      gamma=0.99, alpha=1.0, num_action_samples=10, entropy_weight=0.2,
      distillation_weight=0.0, distillation_direction='forward',
      distillation_decay_steps=0, target_tau=0.005, target_period=0,
      head_weights=config_dict.ConfigDict({}, type_safe=False)))
  return c
