"""Configs and recipes that reproduce the benchmark tables (installed as
offline_rl.experiments; commands name them by path: experiments/bc.py:bc)."""
