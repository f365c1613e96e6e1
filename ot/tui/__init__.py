"""`ot tui`: the customer's terminal (Textual). It talks to the server only through the HTTP API,
with the `ot.client.OtClient` handed to `OtApp`, so it works the same locally, against a remote
server and over SSH. `app.py` is the application, `screens/` one screen per file, `widgets/` one
widget per file, `calls.py` how every API call runs (a worker; refusals told in words)."""
