"""BC networks: the shared policy-value network built from the spec."""
from __future__ import annotations

from offline_rl import networks
from offline_rl import specs


def make_networks(spec: specs.EnvSpec, config) -> networks.Network:
  """The Flax policy-value network for `spec` from `config.network`."""
  return networks.make_network(spec, networks.NetworkConfig.from_mapping(
      config.network.to_dict() if hasattr(config.network, 'to_dict') else
      config.network))
