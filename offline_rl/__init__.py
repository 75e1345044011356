"""offline_rl: offline reinforcement learning research platform in JAX."""
__version__ = '0.1.0'
