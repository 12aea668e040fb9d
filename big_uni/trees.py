"""Nested dicts of arrays (param trees) <-> flat {'a/b/c': leaf} dicts, by '/'-joined key."""


def flatten(tree, prefix: str = '') -> dict:
  if not isinstance(tree, dict):
    return {prefix: tree}
  flat = {}
  for key, value in tree.items():
    flat.update(flatten(value, f'{prefix}/{key}' if prefix else key))
  return flat


def unflatten(flat: dict) -> dict:
  tree = {}
  for name, value in flat.items():
    *parents, leaf = name.split('/')
    node = tree
    for key in parents:
      node = node.setdefault(key, {})
    node[leaf] = value
  return tree
