"""A Gaussian action head for continuous (Box) actions, tanh-squashed within bounds.

An action spec is continuous when its one head is a float vector without
`num_values` (a gymnasium Box: shape [A] or ()). The head's distribution parameters
take the place of a discrete head's logits: `[N, 2A]`, the mean then the log standard
deviation of a Gaussian over u. With both bounds in the spec the action is
a = c + h tanh(u) (c the centre, h the half-width of [minimum, maximum]) and its
log-density carries the change of variables, log p(a) = log N(u) - Σ log(h (1 -
tanh² u)) (Haarnoja et al. 2018, SAC, appendix C); without bounds a = u.

The critic of the value agents, Q(s, a), reads the stream and the action; given
actions with an extra candidate axis ([N, K, A]) it scores each of them on one
pass of the torso (CQL's sampled actions).

Letters: N rows, A action dimensions, K candidate actions, D stream width.
"""
from __future__ import annotations

from typing import Mapping, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from offline_rl import specs
from offline_rl.networks import dense
from offline_rl.networks import torsos

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0
# Logged actions on a bound would need u = ±inf; they are read at |tanh u| = 1 - EDGE.
EDGE = 1e-4


def is_continuous(action_spec: Mapping[str, specs.ArraySpec]) -> bool:
  """Whether any head of the action spec is a float array without num_values."""
  return any(leaf.num_values is None and jnp.issubdtype(jnp.dtype(leaf.dtype),
                                                         jnp.floating)
             for leaf in action_spec.values())


def check_action_spec(action_spec: Mapping[str, specs.ArraySpec]) -> None:
  """Raises a clear error for continuous action specs the Gaussian head cannot serve."""
  if len(action_spec) != 1:
    raise ValueError(f'Continuous actions need exactly one action head (a Box); this '
                     f'spec has heads {list(action_spec)}. Concatenate them into one '
                     'float vector in the environment adapter.')
  (name, leaf), = action_spec.items()
  if len(leaf.shape) > 1:
    raise ValueError(f'Continuous action head {name!r} is {leaf.describe()}: the '
                     'Gaussian head takes a vector [A] or a scalar; flatten it.')


def size(leaf: specs.ArraySpec) -> int:
  """A, the number of action dimensions of a head [A] or []."""
  return int(leaf.shape[0]) if leaf.shape else 1


class Gaussian(NamedTuple):
  """A diagonal Gaussian over the pre-squash u: mean, log_std [..., A]."""
  mean: jax.Array
  log_std: jax.Array


def distribution(params) -> Gaussian:
  """The head's parameters [..., 2A] as a Gaussian over u."""
  mean, log_std = jnp.split(params.astype(jnp.float32), 2, axis=-1)
  return Gaussian(mean, log_std)


def _squash(leaf: specs.ArraySpec):
  """(centre, half-width) of a bounded head, or None for an unbounded one."""
  if leaf.minimum is None or leaf.maximum is None:
    return None
  return (leaf.maximum + leaf.minimum) / 2.0, (leaf.maximum - leaf.minimum) / 2.0


def _log_abs_det(u, half_width):
  """Σ log |da/du| [...] of a = c + h tanh(u), u [..., A]; log(1 - tanh² u) written
  as 2 (log 2 - u - softplus(-2u)) so that large |u| stays finite."""
  return jnp.sum(jnp.log(half_width) + 2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u)),
                 axis=-1)


def _gaussian_log_prob(dist: Gaussian, u):
  z = (u - dist.mean) * jnp.exp(-dist.log_std)
  return jnp.sum(-0.5 * jnp.square(z) - dist.log_std - 0.5 * jnp.log(2 * jnp.pi), -1)


def _to_action(leaf: specs.ArraySpec, u):
  """u [..., A] -> the action in the spec's shape [..., *shape]."""
  squash = _squash(leaf)
  a = u if squash is None else squash[0] + squash[1] * jnp.tanh(u)
  return a.reshape(a.shape[:-1] + leaf.shape)


def log_prob(leaf: specs.ArraySpec, params, action):
  """log p(a) [...] of actions [..., *shape] under parameters [..., 2A]."""
  dist = distribution(params)
  a = action.astype(jnp.float32).reshape(action.shape[:action.ndim - len(leaf.shape)]
                                         + (size(leaf),))
  squash = _squash(leaf)
  if squash is None:
    return _gaussian_log_prob(dist, a)
  centre, half_width = squash
  u = jnp.arctanh(jnp.clip((a - centre) / half_width, -1.0 + EDGE, 1.0 - EDGE))
  return _gaussian_log_prob(dist, u) - _log_abs_det(u, half_width)


def sample(leaf: specs.ArraySpec, params, key, shape: Sequence[int] = ()):
  """Reparameterised samples and their log-probabilities.

  Args:
    leaf: the action head's spec.
    params: [..., 2A].
    key: PRNG key.
    shape: extra sample axes placed after the leading axes of `params`: K gives
      actions [..., K, *leaf.shape].

  Returns:
    (actions [..., *shape, *leaf.shape], log_prob [..., *shape]); gradients flow into
    `params` through both.
  """
  dist = distribution(params)
  expand = lambda x: x.reshape(x.shape[:-1] + (1,) * len(shape) + x.shape[-1:])
  mean, log_std = expand(dist.mean), expand(dist.log_std)
  noise = jax.random.normal(key, mean.shape[:-len(shape) - 1] + tuple(shape)
                            + mean.shape[-1:])
  u = mean + jnp.exp(log_std) * noise
  logp = _gaussian_log_prob(Gaussian(mean, log_std), u)
  squash = _squash(leaf)
  if squash is not None:
    logp = logp - _log_abs_det(u, squash[1])
  return _to_action(leaf, u), logp


def mode(leaf: specs.ArraySpec, params):
  """The most likely action's image, squash(mean): [..., *leaf.shape]."""
  return _to_action(leaf, distribution(params).mean)


def entropy(leaf: specs.ArraySpec, params, key):
  """The entropy [...]: the Gaussian's, plus a one-sample estimate of E log |da/du|
  where the action is squashed (it has no closed form)."""
  dist = distribution(params)
  value = jnp.sum(dist.log_std + 0.5 * jnp.log(2 * jnp.pi * jnp.e), axis=-1)
  squash = _squash(leaf)
  if squash is None:
    return value
  u = dist.mean + jnp.exp(dist.log_std) * jax.random.normal(key, dist.mean.shape)
  return value + _log_abs_det(u, squash[1])


def kl(params_p, params_q):
  """KL(p || q) [...] of two heads' distributions [..., 2A]: the Gaussians' KL, which
  a squash (the same bijection for both) leaves unchanged."""
  p, q = distribution(params_p), distribution(params_q)
  ratio = jnp.exp(2.0 * (p.log_std - q.log_std))
  return jnp.sum(0.5 * (ratio + jnp.square(p.mean - q.mean) * jnp.exp(-2.0 * q.log_std)
                        - 1.0) + q.log_std - p.log_std, axis=-1)


def uniform(leaf: specs.ArraySpec, key, shape: Sequence[int]):
  """Actions [*shape, *leaf.shape] uniform within the bounds ([-1, 1] unbounded),
  and their log-density [*shape]."""
  low = -1.0 if leaf.minimum is None else leaf.minimum
  high = 1.0 if leaf.maximum is None else leaf.maximum
  actions = jax.random.uniform(key, tuple(shape) + leaf.shape, jnp.float32, low, high)
  return actions, jnp.full(tuple(shape), -size(leaf) * jnp.log(high - low))


class GaussianHeads(nn.Module):
  """The continuous counterpart of `heads.AutoregressiveHeads`, same call and returns.

  Attributes:
    action_spec: {name: ArraySpec}, one float head [A] or [].
    hidden_sizes: hidden layers of the parameter MLP (empty: linear).
    q_heads: also give Q(s, a) of the teacher-forced (or chosen) action, from an MLP
      on the stream and the action.
    policy_from_q: unsupported (no Boltzmann policy over a continuum); kept for the
      shared signature.
  """
  action_spec: Mapping[str, specs.ArraySpec]
  hidden_sizes: Sequence[int] = ()
  q_heads: bool = False
  policy_from_q: bool = False

  @nn.compact
  def __call__(self, stream, legal_action_mask, key, actions=None,
               greedy: bool = False):
    """Distribution parameters, actions and Q of the one head.

    Args:
      stream: [N, D].
      legal_action_mask: unused (every action within the bounds is legal).
      key: PRNG key for sampling.
      actions: {name: [N, *shape]} to teacher-force, or [N, K, *shape] candidates
        for Q; None to choose.
      greedy: take the mode instead of sampling.

    Returns:
      ({name: [N, 2A]} parameters, {name: [N, *shape]} actions (the given ones when
      teacher-forced), {name: Q [N] (or [N, K] for candidates)} or None).
    """
    del legal_action_mask
    if self.policy_from_q:
      raise ValueError('policy_from_q needs discrete actions: a continuous action '
                       'has no Boltzmann policy over Q.')
    (name, leaf), = self.action_spec.items()
    x = stream
    for width in self.hidden_sizes:
      x = nn.relu(dense.Dense(width)(x))
    raw = dense.Dense(2 * size(leaf), name=f'{name}_gaussian')(x)
    mean, raw_std = jnp.split(raw, 2, axis=-1)
    log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (jnp.tanh(raw_std) + 1)
    params = jnp.concatenate([mean, log_std], axis=-1)
    if actions is not None:
      action = actions[name].astype(jnp.float32)
    elif greedy:
      action = mode(leaf, params)
    else:
      action, _ = sample(leaf, params, key)
    q = None
    if self.q_heads:
      flat_action = action.reshape(action.shape[:action.ndim - len(leaf.shape)] + (-1,))
      context = jnp.broadcast_to(
          stream.reshape(stream.shape[:1] + (1,) * (flat_action.ndim - 2) + stream.shape[1:]),
          flat_action.shape[:-1] + stream.shape[-1:])
      critic = torsos.MLP(tuple(self.hidden_sizes) or (stream.shape[-1],),
                          name=f'{name}_q_torso')
      q = {name: dense.Dense(1, name=f'{name}_q')(
          critic(jnp.concatenate([context, flat_action], axis=-1)))[..., 0]}
    return {name: params}, {name: action}, q
