"""2-D convolutions as one GEMM over image patches (im2col), for XLA:CPU.

XLA:CPU runs a convolution's kernel gradient, and the input gradient of a 3x3
convolution, in a slow generic loop: in the structured Skirmish network's update
(batch 128, 8x8 map) the kernel gradient of one 3x3 convolution of 16 channels took
75-100 ms, against 4 ms for the forward and backward of the rest of the network
(docs/learner.md). Written as `patches [N*H'*W', kh*kw*C] @ kernel [kh*kw*C, F]`
through `dense.matmul`, every gradient is a plain GEMM, and the patches' own gradient
is a sum of padded slices that XLA fuses. The maths and the parameters are
`nn.Conv`'s (tests/test_networks.py checks values and gradients); only the order of
the floating-point sums differs.
"""
from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from offline_rl.networks import dense


def patches(x, kernel_size, strides, padding):
  """The receptive field of every output cell, flattened.

  Args:
    x: [N, H, W, C].
    kernel_size: (kh, kw).
    strides: (sh, sw).
    padding: ((top, bottom), (left, right)) zeros added around the map.

  Returns:
    [N, H', W', kh * kw * C], ordered (row offset, column offset, channel) like a
    kernel [kh, kw, C, F] reshaped to [kh * kw * C, F].
  """
  (kh, kw), (sh, sw) = kernel_size, strides
  x = jnp.pad(x, ((0, 0),) + tuple(padding) + ((0, 0),))
  height = (x.shape[1] - kh) // sh + 1
  width = (x.shape[2] - kw) // sw + 1
  if (kh, kw, sh, sw) == (1, 1, 1, 1):
    return x
  return jnp.concatenate(
      [x[:, i:i + sh * (height - 1) + 1:sh, j:j + sw * (width - 1) + 1:sw]
       for i in range(kh) for j in range(kw)], axis=-1)


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None,
                         feature_group_count=1, precision=None,
                         preferred_element_type=None):
  """`nn.Conv`'s 2-D convolution (lhs [N, H, W, C], rhs [kh, kw, C, F]) via `patches`.

  Only on XLA:CPU, where it was measured, and only for what the project's torsos use
  (no dilation, one feature group, default precision); otherwise it is
  `jax.lax.conv_general_dilated`, as in `nn.Conv`.
  """
  plain = all(d in (None, 1) or set(d) == {1} for d in (lhs_dilation, rhs_dilation))
  if (jax.default_backend() != 'cpu' or not plain or feature_group_count != 1 or
      precision is not None or preferred_element_type is not None):
    return jax.lax.conv_general_dilated(
        lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
        dimension_numbers, feature_group_count, precision=precision,
        preferred_element_type=preferred_element_type)
  if lhs.ndim != 4 or tuple(dimension_numbers) != ((0, 3, 1, 2), (3, 2, 0, 1),
                                                   (0, 3, 1, 2)):
    raise ValueError(f'conv.conv_general_dilated takes 2-D maps [N, H, W, C] and '
                     f'kernels [kh, kw, C, F]; got {dimension_numbers} for shapes '
                     f'{lhs.shape}, {rhs.shape}.')
  if isinstance(padding, str):
    padding = jax.lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], window_strides,
                                      padding)
  x = patches(lhs, rhs.shape[:2], window_strides, padding)
  y = dense.matmul(x.reshape(-1, x.shape[-1]), rhs.reshape(-1, rhs.shape[-1]))
  return y.reshape(x.shape[:-1] + rhs.shape[-1:])


# Parameter names stay those of nn.Conv ('Conv_0', ...).
Conv = functools.partial(nn.Conv, conv_general_dilated=conv_general_dilated)
