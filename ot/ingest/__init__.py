"""The write path: parse tracker requests, enrich them into hits, and commit them in batches."""
