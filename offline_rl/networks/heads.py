"""Autoregressive, factorised action heads that respect the legal-action masks.

Heads follow the action spec's order (function -> unit -> target -> delay ...). Each
head reads the stream, produces logits, masks the illegal values, picks a value
(the logged one when teacher-forcing, else sampled or greedy) and embeds it back into
the stream for the heads after it. A head given items (one feature vector per value:
the units a pointer head chooses among, the map cells a spatial head chooses among)
scores each item against the stream instead, and feeds back the chosen item's
features. A head's mask is `[num_values]`, or
`[n_first, num_values]` conditioned on the first head's value: it is then indexed by
the chosen first-head value.

The mask helpers are plain JAX so that networks written with any library (Haiku
included) and the losses share them.

Letters: N rows, V a head's number of values, D stream width, E item width.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from offline_rl import specs
from offline_rl.networks import dense

# Added to illegal logits: large enough to zero their probability, small enough that a
# row with no legal value stays finite (uniform) instead of NaN.
ILLEGAL_LOGIT = -1e9


def ordered_action_spec(action_spec: Mapping[str, specs.ArraySpec],
                        mask_spec: Mapping[str, specs.ArraySpec] | None
                        ) -> dict[str, specs.ArraySpec]:
  """The heads in autoregressive order: the head that conditions the others first.

  A spec that went through JSON may have its heads sorted by name; when some masks
  are conditional ([n_first, V]), the conditioning head is the one head without a
  conditional mask whose num_values is n_first, and it moves to the front. The other
  heads keep their order.
  """
  action_spec = dict(action_spec)
  firsts = {leaf.shape[0] for leaf in (mask_spec or {}).values() if len(leaf.shape) == 2}
  if not firsts:
    return action_spec
  if len(firsts) > 1:
    raise ValueError(f'Conditional legal_action_masks disagree on the conditioning '
                     f'head size: {sorted(firsts)}; all must be [n_first, V].')
  n_first, = firsts
  conditional = {n for n, leaf in (mask_spec or {}).items() if len(leaf.shape) == 2}
  candidates = [n for n, leaf in action_spec.items()
                if leaf.num_values == n_first and n not in conditional]
  names = list(action_spec)
  if names and names[0] in candidates:
    return action_spec
  if len(candidates) != 1:
    raise ValueError(
        f'Cannot tell which action head conditions the masks: heads {candidates} all '
        f'have {n_first} values. List the conditioning head first in the action spec.')
  first = candidates[0]
  return {first: action_spec[first], **{n: v for n, v in action_spec.items()
                                        if n != first}}


def check_action_spec(action_spec: Mapping[str, specs.ArraySpec],
                      mask_spec: Mapping[str, specs.ArraySpec] | None) -> None:
  """Raises a clear error for action specs the factorised heads cannot serve.

  `action_spec` is in autoregressive order (see `ordered_action_spec`).
  """
  if not action_spec:
    raise ValueError('The action spec has no heads; give at least one discrete head.')
  names = list(action_spec)
  for name, leaf in action_spec.items():
    if leaf.num_values is None or leaf.shape != ():
      raise ValueError(
          f'Action head {name!r} is {leaf.describe()}: the networks support scalar '
          'discrete heads only (num_values set, shape ()). Discretise continuous '
          'actions or split a multi-discrete action into one head per component.')
  for name, leaf in (mask_spec or {}).items():
    if name not in action_spec:
      raise ValueError(f'legal_action_mask has a head {name!r} that the action spec '
                       f'lacks; action heads are {names}.')
    num_values = action_spec[name].num_values
    first = action_spec[names[0]].num_values
    if leaf.shape not in ((num_values,), (first, num_values)):
      raise ValueError(
          f'legal_action_mask[{name!r}] has shape {leaf.shape}; expected '
          f'({num_values},) or, conditioned on head {names[0]!r}, ({first}, '
          f'{num_values}).')


def head_mask(mask, first_action, num_values: int):
  """The legal values of one head given the first head's value.

  Args:
    mask: [N, V] or conditional [N, n_first, V] bool, or None (all legal).
    first_action: [N] int, the chosen value of the first head.
    num_values: V.

  Returns:
    [N, V] bool, True = legal.
  """
  if mask is None:
    return jnp.ones(first_action.shape + (num_values,), bool)
  if mask.ndim == first_action.ndim + 2:
    index = first_action.astype(jnp.int32)[..., None, None]
    return jnp.take_along_axis(mask, index, axis=-2)[..., 0, :]
  return mask


def head_masks(action_spec, legal_action_mask, actions):
  """Every head's legal values given the (logged or chosen) first-head values.

  Args:
    action_spec: dict of ArraySpec, heads in order.
    legal_action_mask: dict of [..., V] / [..., n_first, V] bool, or None.
    actions: dict of [...] int; only the first head's value is read.

  Returns:
    dict of [..., V] bool.
  """
  names = list(action_spec)
  first = actions[names[0]]
  masks = legal_action_mask or {}
  return {name: head_mask(masks.get(name), first, leaf.num_values)
          for name, leaf in action_spec.items()}


def apply_mask(logits, legal):
  """Illegal values get ILLEGAL_LOGIT. logits [N, V], legal [N, V] bool."""
  return jnp.where(legal, logits, ILLEGAL_LOGIT)


def choose(logits, key, greedy: bool):
  """Samples (or takes the argmax of) masked logits [N, V] -> [N] int32."""
  if greedy:
    return jnp.argmax(logits, axis=-1).astype(jnp.int32)
  return jax.random.categorical(key, logits).astype(jnp.int32)


class AutoregressiveHeads(nn.Module):
  """The factorised action heads (see the module docstring).

  Attributes:
    action_spec: dict of ArraySpec, heads in autoregressive order.
    hidden_sizes: hidden layers of each head's logit MLP (empty: a linear head).
    q_heads: also give each head Q-values read from the same stream as its logits:
      head h's q[v] estimates the return of choosing v after the earlier heads'
      values (the agents that learn Q say how they train them).
    policy_from_q: the logits are the Q-values (a Boltzmann policy over Q; greedy
      takes the argmax of Q): Q-learning agents act on what they learn (CQL).
  """
  action_spec: Mapping[str, specs.ArraySpec]
  hidden_sizes: Sequence[int] = ()
  q_heads: bool = False
  policy_from_q: bool = False

  @nn.compact
  def __call__(self, stream, legal_action_mask, key, actions=None,
               greedy: bool = False, items=None):
    """Logits and chosen values of every head.

    Args:
      stream: [N, D] the core's output.
      legal_action_mask: dict of [N, V] / [N, n_first, V] bool, or None.
      key: PRNG key for sampling (unused when teacher-forcing or greedy).
      actions: dict of [N] int, the logged actions to teacher-force, or None.
      greedy: take the most likely legal value instead of sampling.
      items: dict of [N, V, E], one feature vector per value of the heads that
        choose among items (pointer and spatial heads), or None.

    Returns:
      (logits dict of [N, V] masked, actions dict of [N] int32, q dict of [N, V]
      unmasked or None without q_heads).
    """
    names = list(self.action_spec)
    masks = legal_action_mask or {}
    items = items or {}
    width = stream.shape[-1]
    keys = jax.random.split(key, len(names))
    logits_out, chosen, q_out = {}, {}, {}
    first_action = None
    for i, name in enumerate(names):
      num_values = self.action_spec[name].num_values
      if self.q_heads:
        # At least one hidden layer: a linear Q head would be additive in the earlier
        # heads' embeddings, unable to express how their value depends on the state.
        if name in items:
          q_out[name] = ItemLogits(name=f'{name}_q')(items[name], stream)
        else:
          q_out[name] = MLPLogits(tuple(self.hidden_sizes) or (width,), num_values,
                                  name=f'{name}_q')(stream)
      if self.policy_from_q:
        logits = q_out[name]
      elif name in items:
        logits = ItemLogits(name=f'{name}_logits')(items[name], stream)
      else:
        logits = MLPLogits(tuple(self.hidden_sizes), num_values,
                           name=f'{name}_logits')(stream)
      if i == 0:
        first_action = jnp.zeros(stream.shape[:-1], jnp.int32)
      legal = head_mask(masks.get(name), first_action, num_values)
      logits = apply_mask(logits, legal)
      if actions is not None:
        value = actions[name].astype(jnp.int32)
      else:
        value = choose(logits, keys[i], greedy)
      if i == 0:
        first_action = value
      logits_out[name], chosen[name] = logits, value
      if i < len(names) - 1 and name in items:
        chosen_item = jnp.take_along_axis(items[name], value[:, None, None], axis=1)
        stream = stream + dense.Dense(width, name=f'{name}_embed')(chosen_item[:, 0])
      elif i < len(names) - 1:
        stream = stream + nn.Embed(num_values, width, name=f'{name}_embed')(value)
    return logits_out, chosen, (q_out if self.q_heads else None)


class MLPLogits(nn.Module):
  """[N, D] -> [N, V]: an optional hidden MLP then a linear layer."""
  hidden_sizes: tuple[int, ...]
  num_values: int

  @nn.compact
  def __call__(self, x):
    for size in self.hidden_sizes:
      x = nn.relu(dense.Dense(size)(x))
    return dense.Dense(self.num_values)(x)


class ItemLogits(nn.Module):
  """Scores each item against the stream: items [N, V, E], stream [N, D] -> [N, V].

  Additive attention, as in pointer networks (Vinyals et al., 2015): a hidden layer
  of width E reads the item and the stream together, so the score of an item can
  depend on the state, and a spatial head's hidden layer is the stream broadcast
  onto the map.
  """

  @nn.compact
  def __call__(self, items, stream):
    width = items.shape[-1]
    hidden = nn.relu(dense.Dense(width)(items) + dense.Dense(width)(stream)[:, None])
    return dense.Dense(1)(hidden)[..., 0]
