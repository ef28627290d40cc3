"""`loopml demo`: the whole loop, end to end, on generated data."""
