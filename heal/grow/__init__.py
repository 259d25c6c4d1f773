"""Growing a campaign from a smaller one (HEA4 -> HEA5 -> HEA7 -> HEA10): ``grow_from:`` in a campaign file.

- :mod:`heal.grow.spec`: the ``grow:`` settings;
- :mod:`heal.grow.lineage`: find the parent, check that the child can grow from it (elements, models, oracle),
  record the ancestors;
- :mod:`heal.grow.start`: import the parent's labeled frames, the first training as a finetune, the share of
  old data per batch;
- :mod:`heal.grow.guard`: the forgetting guard (every child model on every ancestor's held-out set).
"""
