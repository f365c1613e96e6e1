"""One widget per module: the pieces screens share."""
