"""Entities, ids, errors, names and configuration: the leaf layer, importing nothing of loopml."""
