"""The BC loss: teacher-forced cross-entropy on every action head (AlphaStar Unplugged).

A head's term at a step counts only where the step is trained (inside the window's
episode and not `is_last`), the head carries a choice (more than one legal value under
the mask conditioned on the logged function) and the logged value is legal (AlphaStar
drops those too); see `offline_rl.losses.behaviour_cloning`.
"""
from __future__ import annotations

from offline_rl import agent as agent_lib
from offline_rl import batch as batch_lib
from offline_rl import losses


def bc_loss(network, action_spec, head_weights, params,
            context: agent_lib.LossContext, batch: batch_lib.Batch, key):
  """The BC loss of `params` on `batch`: (loss [], metrics {name: []})."""
  del context  # BC reads no target and no teacher.
  outputs = losses.forward(network, params, batch, key)
  return losses.behaviour_cloning(action_spec, outputs.logits, batch, head_weights)
