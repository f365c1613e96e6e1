"""One screen per module. A screen's `HELP` (markdown) is what `?` shows above its keys."""
