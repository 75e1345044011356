"""Encoders for the three observation kinds: vectors, spatial planes and unit lists.

Letters: N rows (batch and time flattened), H, W, C planes, U units, F unit features,
D embedding width.
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from offline_rl.networks import dense


class MLP(nn.Module):
  """Dense layers with ReLU. [N, X] -> [N, sizes[-1]].

  Attributes:
    sizes: widths of the hidden layers, in order.
    activate_final: apply the activation after the last layer too.
  """
  sizes: Sequence[int]
  activate_final: bool = True

  @nn.compact
  def __call__(self, x):
    for i, size in enumerate(self.sizes):
      x = dense.Dense(size)(x)
      if i < len(self.sizes) - 1 or self.activate_final:
        x = nn.relu(x)
    return x


class ResidualBlock(nn.Module):
  """Two 3x3 convolutions with a skip connection (pre-activation). [N, H, W, C]."""

  @nn.compact
  def __call__(self, x):
    channels = x.shape[-1]
    y = nn.relu(x)
    y = nn.Conv(channels, (3, 3))(y)
    y = nn.relu(y)
    y = nn.Conv(channels, (3, 3))(y)
    return x + y


class ConvResNet(nn.Module):
  """Strided convolutions then residual blocks, flattened to a vector.

  [N, H, W, C] -> [N, output_size]. Each stage halves H and W (stride 2) when the
  map is still larger than 4x4, as in AlphaStar's spatial encoder.

  Attributes:
    channels: output channels of each downsampling stage.
    blocks_per_stage: residual blocks after each stage.
    output_size: width of the final dense projection.
  """
  channels: Sequence[int] = (32, 32)
  blocks_per_stage: int = 1
  output_size: int = 256

  @nn.compact
  def __call__(self, x):
    for channels in self.channels:
      stride = 2 if min(x.shape[-3], x.shape[-2]) > 4 else 1
      x = nn.Conv(channels, (3, 3), strides=(stride, stride))(x)
      for _ in range(self.blocks_per_stage):
        x = ResidualBlock()(x)
    x = nn.relu(x).reshape(x.shape[:-3] + (-1,))
    return nn.relu(dense.Dense(self.output_size)(x))


class EntityTransformer(nn.Module):
  """A transformer over a padded unit list, pooled into one vector (AlphaStar).

  Rows whose features are all zero are padding: they are neither attended to nor
  pooled. [N, U, F] -> ([N, output_size], unit embeddings [N, U, D]).

  Attributes:
    width: D, the per-unit embedding width.
    num_layers: transformer layers.
    num_heads: attention heads (must divide `width`).
    output_size: width of the pooled vector.
  """
  width: int = 64
  num_layers: int = 1
  num_heads: int = 2
  output_size: int = 256

  @nn.compact
  def __call__(self, units):
    present = jnp.any(units != 0, axis=-1)  # [N, U]
    x = dense.Dense(self.width)(units)
    attention_mask = present[:, None, None, :]  # [N, 1, 1(query), U(key)]
    for _ in range(self.num_layers):
      y = nn.LayerNorm()(x)
      y = nn.MultiHeadDotProductAttention(num_heads=self.num_heads)(
          y, y, mask=attention_mask)
      x = x + y
      y = nn.LayerNorm()(x)
      y = dense.Dense(self.width)(nn.relu(dense.Dense(2 * self.width)(y)))
      x = x + y
    x = jnp.where(present[..., None], x, 0.0)
    count = jnp.maximum(present.sum(-1, keepdims=True), 1).astype(x.dtype)
    pooled = x.sum(-2) / count  # [N, D]
    return nn.relu(dense.Dense(self.output_size)(pooled)), x
