"""The offline actor-critic loss (OAC; E-OAC with `emphatic`), AlphaStar Unplugged.

One forward pass of the actor-critic gives the policy logits and V; the frozen BC
teacher (and the target network, when there is one) runs once, without gradient. On the steps
t = 0..T-2 of a window (those with a successor, see `offline_rl.losses`):

  G_t     = TD(λ) return of the logged rewards, bootstrapped with V̄ (the target's
            V^μ, or the online V^μ without gradient)
  L_V     = ½ (V(s_t) - G_t)²                          behaviour value, no correction
  ρ_t     = min(c, π(a_t|s_t) / π_BC(a_t|s_t))          joint over the used heads
  A_t     = G_t - V̄(s_t)      (with normalize_advantage: (A_t - mean) / std over
                               the batch's choice steps, as PPO does)
  L_PG    = - M_t ρ_t A_t log π(a_t|s_t)                M_t = 1, or the emphatic trace,
            averaged over the choice steps (some head has two legal values: log π
            of a forced step is 0), and 0 for the first policy_delay_steps updates
  L_KL    = KL(π_BC || π) (or the reverse) per head on the trained steps

  loss = value_weight L_V + policy_weight L_PG + distillation_weight L_KL.

With advantage='q' the critic also learns Q^μ per factorised head (the network's
q_heads, read after the earlier heads' logged values as IQL does), and the policy
gradient weighs each head by a learned advantage instead of one sampled return:

  L_Q     = Σ_h ½ (q_h(s_t, a_≤h) − G_t)²              SARSA-style: the logged
            action's TD(λ) return, no max, no expectile
  A_h,t   = q̄_h(s_t, a_≤h) − Σ_v π_BC,h(v | s_t, a_<h) q̄_h(s_t, a_<h, v)
  L_PG    = − M_t ρ_t Σ_h [h used] A_h,t log π_h(a_h,t | s_t, a_<h)
  loss   += q_weight L_Q

q̄ is the target network's Q (or the online one's, without gradient). The baseline
of head h is its own Q's expectation under the BC head, so it does not depend on the
value head h chose and each head is credited with what its own choice added.

The value is the behaviour policy's (V^μ): bootstrapping the improved policy's value
diverged in the paper, so OAC takes a single step of policy improvement.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from offline_rl import agent as agent_lib
from offline_rl import batch as batch_lib
from offline_rl import losses
from offline_rl.networks import heads as heads_lib

ADVANTAGES = ('return', 'q')


def normalized(x, where):
  """(x − mean) / std of x [B, T-1] over the True entries of `where`.

  On Skirmish a ±1 reward at the end of games of ~180 steps leaves advantages of
  order 0.1; dividing by their spread makes the policy-gradient weight comparable
  across tasks and through training (the std has a floor of 1e-3)."""
  mean = losses.masked_mean(x, where)
  std = jnp.sqrt(losses.masked_mean(jnp.square(x - mean), where))
  return (x - mean) / jnp.maximum(std, 1e-3)


def choice_steps(terms: losses.HeadTerms):
  """[B, T] bool: trained steps where some head carries a choice (`HeadTerms.used`)."""
  return functools.reduce(jnp.logical_or, terms.used.values())


def q_advantages(action_spec, q, teacher_logits, terms: losses.HeadTerms,
                 batch: batch_lib.Batch) -> dict:
  """dict head -> [B, T]: A_h = q_h(s, a_≤h) − E_{v ~ π_BC,h}[q_h(s, a_<h, v)].

  q: dict head -> [B, T, V] Q-values (without gradient); teacher_logits: dict head ->
  [B, T, V]; the expectation runs over the legal values given the logged first head
  (`terms.legal`)."""
  logged = losses.q_of_logged(q, batch)
  advantages = {}
  for name in action_spec:
    legal = terms.legal[name]
    probs = jax.nn.softmax(jnp.where(legal, teacher_logits[name].astype(jnp.float32),
                                     heads_lib.ILLEGAL_LOGIT))
    baseline = jnp.where(legal, probs * q[name], 0.0).sum(-1)
    advantages[name] = logged[name] - baseline
  return advantages


def oac_loss(network, teacher_network, action_spec, cfg, params,
             context: agent_lib.LossContext, batch: batch_lib.Batch, key):
  """(loss [], metrics {name: []}); `cfg` is the config's `oac` section as a dict."""
  out = losses.forward(network, params, batch, key)
  teacher = losses.forward(teacher_network, context.teacher, batch, key)
  # V̄ (and q̄): the target network's, or the online one's without gradient; one pass.
  target_out = jax.lax.stop_gradient(
      out if context.target is None else
      losses.forward(network, context.target, batch, key))
  v_target = target_out.value
  where = losses.value_steps(batch)  # [B, T-1]
  returns = losses.lambda_returns(
      batch.reward[:, 1:], batch.discount[:, 1:], v_target, batch.is_last[:, 1:],
      gamma=cfg['gamma'], lambda_=cfg['lambda_'])
  value_loss = losses.value_regression(out.value[:, :-1], returns, where)
  use_q = cfg.get('advantage', 'return') == 'q'  # Runs saved before the field lack it.
  if use_q:
    q_logged = losses.q_of_logged(out.q, batch)
    q_loss = sum(losses.value_regression(q_logged[n][:, :-1], returns, where)
                 for n in action_spec)

  terms = losses.head_terms(action_spec, out.logits, batch)
  log_pi = losses.joint_log_prob(terms)
  # Only steps with a choice carry a policy gradient; on Skirmish about half are forced
  # (the seat is not due), and a mean over them would halve the step against the KL,
  # whose heads average over their used steps.
  choice = where & choice_steps(terms)[:, :-1]  # [B, T-1]
  teacher_terms = losses.head_terms(action_spec, teacher.logits, batch)
  # The teacher's log-probability over the heads the policy's own mask uses.
  log_bc = sum(jnp.where(terms.used[n], teacher_terms.log_prob[n], 0.0)
               for n in action_spec)
  rho = jnp.minimum(cfg['ratio_clip'], jnp.exp(jax.lax.stop_gradient(log_pi - log_bc)))
  step_weight = rho[:, :-1]
  if cfg['emphatic']:
    emphasis = losses.emphatic_trace(rho, losses.trained_steps(batch),
                                     batch.discount[:, 1:], gamma=cfg['gamma'],
                                     lambda_e=cfg['emphatic_lambda'],
                                     steps=cfg['emphatic_steps'])
    step_weight = step_weight * emphasis[:, :-1]
  normalize = cfg.get('normalize_advantage', False)  # Runs saved before lack it.
  if use_q:
    per_head = q_advantages(action_spec, target_out.q, teacher.logits, terms, batch)
    per_head = {n: a[:, :-1] for n, a in per_head.items()}
    if normalize:  # Each head over the value steps where it carries a choice.
      per_head = {n: normalized(a, where & terms.used[n][:, :-1])
                  for n, a in per_head.items()}
    used = {n: terms.used[n][:, :-1] for n in action_spec}
    advantage = sum(jnp.where(used[n], per_head[n], 0.0) for n in action_spec)
    weighted_log_pi = sum(
        jnp.where(used[n], jax.lax.stop_gradient(per_head[n]) * terms.log_prob[n][:, :-1],
                  0.0) for n in action_spec)
  else:
    advantage = returns - v_target[:, :-1]
    if normalize:
      advantage = normalized(advantage, choice)
    weighted_log_pi = jax.lax.stop_gradient(advantage) * log_pi[:, :-1]
  pg_loss = losses.masked_mean(-jax.lax.stop_gradient(step_weight) * weighted_log_pi,
                               choice)
  # The improvement step waits for V^μ: before it, A_t is the untrained critic's error.
  policy_weight = jnp.where(context.step < cfg.get('policy_delay_steps', 0), 0.0,
                            cfg['policy_weight'])
  kl_loss, kl_metrics = losses.configured_distillation(
      teacher_network, action_spec, cfg, out.logits, context, batch, key,
      teacher_logits=teacher.logits)
  loss = cfg['value_weight'] * value_loss + policy_weight * pg_loss + kl_loss
  metrics = dict(kl_metrics)
  if use_q:
    loss = loss + cfg['q_weight'] * q_loss
    metrics['q/loss'] = q_loss
    metrics['q/advantage_rms'] = jnp.sqrt(losses.masked_mean(jnp.square(advantage), choice))
  metrics.update({
      'value/loss': value_loss,
      'value/mean': losses.masked_mean(out.value[:, :-1], where),
      'value/return': losses.masked_mean(returns, where),
      'policy/pg_loss': pg_loss,
      'policy/advantage': losses.masked_mean(advantage, choice),
      'policy/ratio': losses.masked_mean(rho[:, :-1], choice),
      'policy/choice_fraction': losses.masked_mean(choice, where),
      'policy/log_prob': losses.masked_mean(log_pi, losses.trained_steps(batch)),
  })
  return loss, metrics
