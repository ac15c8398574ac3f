"""Forge Remote building blocks (shared/FORGE.md): invocation tokens, their keys, event bodies.

Plain functions and classes with no HTTP framework in them, so a Starlette handler, a test or
the simulator can call them alike:

* :mod:`rulequeue.forge.jwks`: an async cache of Atlassian's JWKS, by (URL, ``kid``);
* :mod:`rulequeue.forge.fit`: Forge Invocation Token verification into a :class:`ForgeContext`;
* :mod:`rulequeue.forge.replay`: the optional replay guard (``jti`` remembered in Redis);
* :mod:`rulequeue.forge.events`: event envelopes, the event model and the idempotency key.
"""
