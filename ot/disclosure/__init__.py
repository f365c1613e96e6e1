"""Lawful disclosure requests: an authority's demand for a customer's data, scoped, decided by
two `legal` operators (four eyes), and nothing exported before approval (`requests`)."""
