"""The MuZero model built from the spec: representation, dynamics and prediction.

    model = make_model(spec, network_config)
    params = model.network.init(key, inputs)
    outputs, core = model.network.apply(params, inputs, core, key)  # h then f: [B, T]
    embedding, reward, continuation = model.dynamics(params, embedding, action)  # g: [N]
    logits, actions, value = model.predict(params, embedding, key)  # f on latents: [N]

h (representation) is the platform's torso and memory core (`networks.network.encode`)
read from the observation; g (dynamics) maps an embedding and the one-hot factorised
action to the next embedding, the reward of that action and the logit of its
discount (whether the episode goes on after it: the model's own episode end, which
the search uses as its discount); f (prediction) is the
autoregressive policy heads and a value head. `model.network` is h then f as a
`networks.Network` whose `NetworkOutputs` the loss terms of `offline_rl.losses`
(behaviour cloning, distillation) read unchanged, and which plays as the policy
without search. Embeddings are min-max scaled to [0, 1] per row, as MuZero's hidden
states, so that unrolled states stay on the scale of observed ones.

Letters: B batch, T time, N rows, D embedding width, V a head's values.
"""
from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from offline_rl import networks
from offline_rl import specs
from offline_rl.networks import dense
from offline_rl.networks import heads as heads_lib
from offline_rl.networks import network as network_lib


class Model(NamedTuple):
  """MuZero's three functions over one params tree (see the module docstring).

  Attributes:
    network: h then f on observations, the `networks.Network` interface.
    dynamics: (params, embedding [N, D], action dict of [N] int) ->
      (next embedding [N, D], reward [N], continuation logit [N]: sigmoid of it is
      the predicted discount after the action, 0 where it ends the episode).
    predict: (params, embedding [N, D], key, actions=None, greedy=False) ->
      (logits dict of [N, V] unmasked, actions dict of [N] int32, value [N]); with
      `actions` the heads are teacher-forced on them.
  """
  network: networks.Network
  dynamics: Callable
  predict: Callable


def scale_embedding(x):
  """Min-max scales each row of x [N, D] to [0, 1] (MuZero's hidden-state scaling)."""
  low, high = x.min(-1, keepdims=True), x.max(-1, keepdims=True)
  return (x - low) / jnp.maximum(high - low, 1e-5)


class _Representation(nn.Module):
  observation_shapes: tuple
  action_spec: tuple
  config: networks.NetworkConfig

  @nn.compact
  def __call__(self, inputs, core_state):
    # The latent state is one vector: the dynamics cannot carry per-unit or per-cell
    # features, so the prediction's heads are MLPs over it (no pointer/spatial heads).
    x, core_state, _, _ = network_lib.encode(self.observation_shapes, self.action_spec,
                                             self.config, inputs, core_state)
    return scale_embedding(x), core_state


class _Dynamics(nn.Module):
  """(embedding [N, D], action dict of [N]) ->
  (next embedding [N, D], reward [N], continuation logit [N])."""
  action_spec: tuple
  hidden_sizes: tuple
  reward_hidden: tuple

  @nn.compact
  def __call__(self, embedding, action):
    width = embedding.shape[-1]
    onehots = [jax.nn.one_hot(action[name], leaf.num_values)
               for name, leaf in self.action_spec]
    x = jnp.concatenate([embedding] + onehots, axis=-1)
    x = networks.MLP(self.hidden_sizes, name='hidden')(x)
    # Residual: a step changes the state a little, which keeps deep unrolls stable.
    following = scale_embedding(embedding + dense.Dense(width, name='delta')(x))
    reward = networks.MLP(self.reward_hidden + (1,), activate_final=False,
                          name='reward')(x)[:, 0]
    continuation = networks.MLP(self.reward_hidden + (1,), activate_final=False,
                                name='continuation')(x)[:, 0]
    return following, reward, continuation


class MuZeroNet(nn.Module):
  """The Flax model: `__call__` is h then f over [B, T]; `dynamics` is g and `predict`
  is f over rows [N]; `initialize` touches all three so that `init` makes every
  parameter.

  Attributes:
    observation_shapes: ((path, shape), ...) of the observation leaves.
    action_spec: ((name, ArraySpec), ...) heads in autoregressive order.
    config: NetworkConfig (torso, core, heads, value_hidden).
  """
  observation_shapes: tuple
  action_spec: tuple
  config: networks.NetworkConfig

  def setup(self):
    cfg = self.config
    self.representation = _Representation(self.observation_shapes, self.action_spec,
                                          cfg)
    self.dynamics_net = _Dynamics(self.action_spec, cfg.mlp_sizes, cfg.value_hidden)
    self.heads = networks.AutoregressiveHeads(dict(self.action_spec), cfg.head_hidden)
    self.value = networks.MLP(cfg.value_hidden + (1,), activate_final=False)

  def predict(self, embedding, legal_action_mask, key, actions=None, greedy=False):
    logits, chosen, _ = self.heads(embedding, legal_action_mask, key, actions, greedy)
    return logits, chosen, self.value(embedding)[:, 0]

  def dynamics(self, embedding, action):
    return self.dynamics_net(embedding, action)

  def __call__(self, inputs, core_state, key, actions=None, greedy=False):
    batch, time = inputs.is_first.shape
    flat = lambda x: x.reshape((batch * time,) + x.shape[2:])
    unflat = lambda x: x.reshape((batch, time) + x.shape[1:])
    embedding, core_state = self.representation(inputs, core_state)
    masks = (None if inputs.legal_action_mask is None else
             jax.tree.map(flat, inputs.legal_action_mask))
    logits, chosen, value = self.predict(
        embedding, masks, key, None if actions is None else jax.tree.map(flat, actions),
        greedy)
    outputs = networks.NetworkOutputs(
        jax.tree.map(unflat, logits), jax.tree.map(unflat, chosen), unflat(value),
        embedding=unflat(embedding))
    return outputs, core_state

  def initialize(self, inputs, core_state, key):
    outputs, _ = self(inputs, core_state, key)
    flat = lambda x: x.reshape((-1,) + x.shape[2:])
    return self.dynamics(flat(outputs.embedding), jax.tree.map(flat, outputs.action))


def make_model(spec: specs.EnvSpec, config: networks.NetworkConfig) -> Model:
  """The MuZero model for `spec` (see the module docstring); `config.core`, the torso
  and the heads are read as for the policy-value network; value_head and q_heads are
  not (f always has a value head, and no Q heads)."""
  action_spec = heads_lib.ordered_action_spec(spec.action, spec.legal_action_mask)
  heads_lib.check_action_spec(action_spec, spec.legal_action_mask)
  observation_shapes = tuple(
      (path, leaf.shape) for path, leaf in specs.flatten(spec.observation).items())
  module = MuZeroNet(observation_shapes, tuple(action_spec.items()), config)

  initial_state = functools.partial(network_lib.initial_core_state, config)

  @jax.jit
  def init(key, inputs):
    return module.init(key, inputs, initial_state(inputs.is_first.shape[0]),
                       jax.random.key(0), method=MuZeroNet.initialize)

  def apply(params, inputs, core_state, key, actions=None, greedy=False):
    return module.apply(params, inputs, core_state, key, actions, greedy)

  def dynamics(params, embedding, action):
    return module.apply(params, embedding, action, method=MuZeroNet.dynamics)

  def predict(params, embedding, key, actions=None, greedy=False, legal_action_mask=None):
    return module.apply(params, embedding, legal_action_mask, key, actions, greedy,
                        method=MuZeroNet.predict)

  return Model(networks.Network(init, apply, initial_state), dynamics, predict)
