"""Configs: the YAML document, the registry of what a config can name, and the schemas.

Import from the module that holds a name (this package imports nothing, so a stage
importing the registry does not load the schemas):

- :mod:`pipeline.config.document`: reading a YAML file with the line of every key,
  limits, :class:`~pipeline.config.document.ConfigError`;
- :mod:`pipeline.config.overrides`: ``--set KEY=VALUE`` applied to a document;
- :mod:`pipeline.config.registry`: ``@register``, declared ``Param`` settings, ``build``;
- :mod:`pipeline.config.checks`: the checks every schema shares (top level and
  ``version``, a section's settings, a ``[lo, hi]`` box, ``kind:``);
- :mod:`pipeline.config.run`: the run config (``edgepipe run``);
- :mod:`pipeline.config.batch`: the batch config (``edgepipe batch``);
- :mod:`pipeline.config.experiment` and :mod:`pipeline.config.quality`: the
  experiment configs (``edgepipe experiment``);
- :mod:`pipeline.config.dispatch`: which kind a file is, for ``edgepipe validate``.
"""
