"""The customer's terminal dashboard (Textual), talking to the server's HTTP API. Arrives with a
later issue; the package exists so the import-layer contracts cover it from the start."""
