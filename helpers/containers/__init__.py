"""Containers and Docker (notebooks 09-12): the engine, base images, lifecycle and internals, networks, storage, images, the registry."""
