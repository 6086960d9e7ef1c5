"""Orchestration and Compose (notebooks 13-15): Compose projects, swarm mode, their checks and plots."""
