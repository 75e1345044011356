"""Networks built from an EnvSpec: torsos, autoregressive heads, memory, value.

See `network.py` for the library-neutral `Network` interface every agent uses.
"""
from offline_rl.networks import continuous
from offline_rl.networks import heads
from offline_rl.networks.heads import AutoregressiveHeads
from offline_rl.networks.network import LSTMCore
from offline_rl.networks.network import Network
from offline_rl.networks.network import NetworkConfig
from offline_rl.networks.network import NetworkInputs
from offline_rl.networks.network import NetworkOutputs
from offline_rl.networks.network import PolicyValueNet
from offline_rl.networks.network import dummy_inputs
from offline_rl.networks.network import from_haiku
from offline_rl.networks.network import make_network
from offline_rl.networks.network import num_parameters
from offline_rl.networks.torsos import MLP
from offline_rl.networks.torsos import ConvResNet
from offline_rl.networks.torsos import EntityTransformer

__all__ = [
    'AutoregressiveHeads',
    'ConvResNet',
    'EntityTransformer',
    'LSTMCore',
    'MLP',
    'Network',
    'NetworkConfig',
    'NetworkInputs',
    'NetworkOutputs',
    'PolicyValueNet',
    'continuous',
    'dummy_inputs',
    'from_haiku',
    'heads',
    'make_network',
    'num_parameters',
]
